"""Measures of the parse (bioglom.analysis.islands, parse): constructed cases and references."""

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from bioglom.analysis import (choose_thresholds, extract_islands, foreground_ari, foreground_island_size,
                              masked_error, pair_similarity, raw_pixel_islands)


def test_foreground_ari_equals_scikit_learn_on_the_foreground_subset():
    g = torch.Generator().manual_seed(0)
    truth = torch.randint(0, 4, (30, 40), generator=g)
    pred = torch.randint(0, 5, (30, 40), generator=g)
    fg = torch.rand(30, 40, generator=g) > 0.4
    ours = foreground_ari(truth, pred, fg)
    ref = [adjusted_rand_score(truth[i][fg[i]].numpy(), pred[i][fg[i]].numpy()) for i in range(30)]
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-6, atol=1e-7)


def test_foreground_ari_ignores_background_columns():
    # two objects (1, 2) on background 0: a prediction that gets the objects right scores 1
    truth = torch.tensor([[0, 0, 0, 1, 1, 2, 2, 0, 0, 0]])
    fg = truth > 0
    pred = torch.tensor([[5, 6, 7, 1, 1, 2, 2, 8, 9, 3]])  # background shattered into singletons
    assert foreground_ari(truth, pred, fg).item() == pytest.approx(1.0)
    assert foreground_ari(truth, pred, torch.ones_like(fg)).item() < 0.5  # the full-image ARI sees it
    # a foreground/background split, which scores high on the full image, scores 0 on the foreground
    split = (truth > 0).long()
    assert foreground_ari(truth, split, fg).item() == pytest.approx(0.0)
    # fewer than two foreground columns: undefined
    assert torch.isnan(foreground_ari(truth, pred, torch.zeros_like(fg)))


def test_raw_pixel_baseline_groups_identical_patches_exactly():
    img = torch.zeros(1, 3, 4, 6)  # patch 2: a 2x3 grid of columns
    img[0, 0, 0:2, 0:2] = 0.5
    img[0, 0, 2:4, 4:6] = 0.5  # same patch as column 0
    img[0, 1, 0:2, 2:4] = 0.5
    img[0, 1, 1, 3] = 0.50001  # nearly, but not exactly, the same
    labels = raw_pixel_islands(img, 2)
    assert labels.tolist() == [[0, 1, 2, 2, 2, 0]]


def test_thresholds_are_chosen_where_islands_match():
    # two groups whose members have cosine 0.9 with each other and ~0 across groups
    a = torch.tensor([1.0, 0.0, 0.0, 0.0])
    b = torch.tensor([0.0, 1.0, 0.0, 0.0])
    tilt = torch.tensor([0.0, 0.0, 0.484, 0.0])
    states = torch.stack([a, a + tilt, b, b + tilt])[None, None]  # b l n d
    truth = torch.tensor([[[1, 1, 2, 2]]])
    fg = torch.ones(1, 4, dtype=torch.bool)
    th = choose_thresholds(states, truth, fg, thresholds=(0.5, 0.95, 0.99))
    assert th.tolist() == [0.5]  # 0.95 would split each pair
    islands = extract_islands(states, th)
    assert islands[0, 0].tolist() == [0, 0, 1, 1]


def test_island_size_pair_similarity_and_masked_error():
    islands = torch.tensor([[0, 0, 0, 1, 2]])
    fg = torch.tensor([[True, False, False, True, True]])
    assert foreground_island_size(islands, fg).item() == pytest.approx((3 + 1 + 1) / 3)
    # pair similarity: same part identical (1), same object orthogonal (0), other object opposite (-1)
    e0, e1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    state = torch.stack([e0, e0, e1, -e0, torch.zeros(2) + 0.3])[None, None]  # b l n d
    parts = torch.tensor([[1, 1, 2, 5, 0]])
    objects = torch.tensor([[1, 1, 1, 2, 0]])
    sim = pair_similarity(state, parts, objects)[0, 0]
    assert sim.tolist() == pytest.approx([1.0, 0.0, -(2 * 1 + 0) / 3], abs=1e-6)  # other-object pairs: e0.-e0 twice, e1.-e0 once
    clean = torch.zeros(2, 1, 2, 2)
    recon = torch.ones(2, 1, 2, 2)
    keep = torch.ones(2, 1, 2, 2)
    keep[0, 0, 0, 0] = 0
    recon[0, 0, 0, 0] = 3.0
    err = masked_error(recon, clean, keep)
    assert err[0].item() == pytest.approx(9.0) and torch.isnan(err[1])
