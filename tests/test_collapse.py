"""Collapse in sight (bioglom.analysis.collapse) and the position baseline: constructed
inputs whose answers are known."""

import numpy as np
import pytest
import torch

from bioglom.analysis.baselines import position_blocks
from bioglom.analysis.collapse import COLLAPSE_MEASURES, collapse_measures, participation_ratio


def _measure(states, objects=None):
    return dict(zip(COLLAPSE_MEASURES, collapse_measures(states, objects)[0].tolist()))


def test_one_vector_everywhere_has_no_spread_and_no_rank():
    states = torch.randn(1, 1, 1, 8).expand(5, 1, 6, 8)
    m = _measure(states)
    assert m["spread_within"] == pytest.approx(0, abs=1e-12) and m["spread_across"] == pytest.approx(0, abs=1e-12)
    assert m["participation_ratio"] == 0.0


def test_the_same_vectors_whatever_the_image_keep_their_spread_within_but_not_across():
    """A net that outputs a fixed vector per column, whatever the input: islands that follow
    position. Within an image the columns differ; across images nothing does."""
    per_column = torch.randn(1, 1, 6, 8, generator=torch.Generator().manual_seed(0))
    m = _measure(per_column.expand(5, 1, 6, 8))
    assert m["spread_within"] > 0.5 and m["spread_across"] == pytest.approx(0, abs=1e-12)


def test_spreads_against_a_loop():
    gen = torch.Generator().manual_seed(1)
    states = torch.randn(3, 2, 4, 5, generator=gen, dtype=torch.float64) * 3.0  # the scale does not count
    got = collapse_measures(states)
    u = states / states.norm(dim=-1, keepdim=True)
    for l in range(2):
        within = np.mean([float((u[b, l, n] - u[b, l].mean(0)).norm()) for b in range(3) for n in range(4)])
        across = np.mean([float((u[b, l, n] - u[:, l, n].mean(0)).norm()) for b in range(3) for n in range(4)])
        assert got[l, 0] == pytest.approx(within) and got[l, 1] == pytest.approx(across)


def test_participation_ratio_counts_equal_orthogonal_directions():
    gen = torch.Generator().manual_seed(2)
    for k in (1, 3, 6):
        coefficients = torch.randn(20000, k, generator=gen, dtype=torch.float64)
        x = torch.cat([coefficients, torch.zeros(20000, 8 - k, dtype=torch.float64)], 1)
        assert participation_ratio(x) == pytest.approx(k, rel=0.05)
    # one dominant direction: close to 1 whatever the others
    x = torch.randn(20000, 8, generator=gen, dtype=torch.float64) * torch.tensor([10.0] + [0.1] * 7)
    assert participation_ratio(x) < 1.1


def test_cosine_within_and_between_objects():
    a, b = torch.tensor([1.0, 0, 0]), torch.tensor([0.0, 1, 0])
    states = torch.stack([a, a, b, b, a])[None, None]  # 1 image, 1 level, 5 columns
    objects = torch.tensor([[1, 1, 2, 2, 0]])  # the last column is background and does not count
    m = _measure(states, objects)
    assert m["cosine_same"] == pytest.approx(1.0) and m["cosine_other"] == pytest.approx(0.0)
    assert np.isnan(_measure(states)["cosine_same"])  # without objects: not measured


def test_position_blocks_are_the_same_whatever_the_image():
    ids = position_blocks((4, 6), 2, count=3)
    assert ids.shape == (3, 24) and torch.equal(ids[0], ids[2])
    want = [(y // 2) * 3 + x // 2 for y in range(4) for x in range(6)]
    assert ids[0].tolist() == want
    ragged = position_blocks((5, 5), 4)  # the last row and column of blocks are smaller
    assert ragged.reshape(5, 5)[4, 4] == 3 and ragged.reshape(5, 5)[0, 3] == 0 and len(ragged.unique()) == 4


def test_position_blocks_score_what_the_layout_gives_away():
    """Objects that always sit in their own quadrant: the 4x4 blocks of an 8x8 grid are the
    objects exactly; objects that straddle the blocks are not."""
    from bioglom.analysis.islands import foreground_ari

    quadrant = position_blocks((8, 8), 4)
    objects = (quadrant + 1).clone()
    objects[:, 8:10] = 0  # some background
    fg = objects > 0
    assert foreground_ari(objects, quadrant, fg).item() == pytest.approx(1.0)
    straddle = torch.zeros(1, 64, dtype=torch.long)
    straddle.reshape(1, 8, 8)[:, :, 2:6] = 1  # one object across the middle: split by the blocks
    straddle.reshape(1, 8, 8)[:, :, 6:] = 2
    assert foreground_ari(straddle, quadrant, straddle > 0).item() < 0.5


def test_participation_ratio_per_level_equals_each_level_alone():
    """collapse_measures takes every level at once; each equals the level's own rows."""
    g = torch.Generator().manual_seed(4)
    states = torch.randn(3, 4, 6, 8, generator=g) * torch.tensor([1.0, 0.1, 3.0, 0.0])[None, :, None, None]
    u = torch.nn.functional.normalize(states.double(), dim=-1, eps=1e-12)
    got = collapse_measures(states)[:, COLLAPSE_MEASURES.index("participation_ratio")]
    for level in range(4):  # the reference, one level at a time
        assert float(got[level]) == pytest.approx(participation_ratio(u[:, level].reshape(-1, 8)), rel=1e-12)
    assert float(got[3]) == 0.0  # a level of zeros: nothing varies
