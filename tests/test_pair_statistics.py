"""The same-signal baseline and k-means (bioglom.analysis.pair_statistics) on constructed
worlds whose answers are known: one where appearance pairs decide the objects, one where
they cannot."""

import itertools

import pytest
import torch

from bioglom.analysis.islands import foreground_ari
from bioglom.analysis.pair_statistics import (PAIR_THRESHOLDS, appearance_codes, colour_position_kmeans,
                                              count_pairs, pair_islands)
from bioglom.config import ConfigError

GRID = (4, 4)
PALETTE = torch.tensor([[0.9, 0.1, 0.1], [0.1, 0.9, 0.1], [0.1, 0.1, 0.9], [0.9, 0.9, 0.1]])


QUADRANTS = torch.tensor([[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])


def _quadrants(count: int, colour_of, seed: int):
    """Images of 4 x 4 one-pixel columns, four objects (the quadrants, ids 1-4: as many
    right as down edges cross objects, so direction alone tells nothing), each column
    coloured by ``colour_of(generator) -> [4, 4] palette indices``; returns images ``[B, 3,
    4, 4]`` and object ids ``[B, 16]``."""
    g = torch.Generator().manual_seed(seed)
    images, ids = [], []
    for _ in range(count):  # a few images of a constructed world
        images.append(PALETTE[colour_of(g)].permute(2, 0, 1))
        ids.append(QUADRANTS.reshape(16))
    return torch.stack(images), torch.stack(ids)


def _by_object(g):  # each object one colour, every object another
    return torch.randperm(len(PALETTE), generator=g)[QUADRANTS - 1]


def _random_colours(g):  # every column a colour drawn whatever its object
    return torch.randint(len(PALETTE), GRID, generator=g)


def _best_ari(images, objects, table):
    fg = torch.ones_like(objects, dtype=torch.bool)
    return max(float(foreground_ari(objects, pair_islands(images, fg, table, t, GRID), fg).mean())
               for t in PAIR_THRESHOLDS)


def test_where_appearance_pairs_decide_the_objects_the_baseline_finds_them_exactly():
    train, segments = _quadrants(64, _by_object, seed=0)
    table = count_pairs(train, segments, GRID, patch_size=1, bins=2)
    test, objects = _quadrants(32, _by_object, seed=1)
    assert _best_ari(test, objects, table) == pytest.approx(1.0)


def test_where_appearance_says_nothing_the_baseline_scores_near_chance():
    train, segments = _quadrants(256, _random_colours, seed=0)
    table = count_pairs(train, segments, GRID, patch_size=1, bins=2)
    test, objects = _quadrants(64, _random_colours, seed=1)
    assert _best_ari(test, objects, table) < 0.25


def test_pair_counts_equal_a_naive_loop():
    g = torch.Generator().manual_seed(3)
    images = torch.rand(5, 3, 8, 8, generator=g)
    segments = torch.randint(0, 3, (5, 16), generator=g)  # 0: static
    table = count_pairs(images, segments, GRID, patch_size=2, bins=3)
    codes = appearance_codes(images, 2, 3).reshape(5, 4, 4)
    seg = segments.reshape(5, 4, 4)
    pairs = torch.zeros_like(table.pairs)
    same = torch.zeros_like(table.same)
    for b, y, x in itertools.product(range(5), range(4), range(4)):
        for d, (dy, dx) in enumerate(((0, 1), (1, 0))):
            if y + dy < 4 and x + dx < 4 and seg[b, y, x] > 0 and seg[b, y + dy, x + dx] > 0:
                a, c = codes[b, y, x], codes[b, y + dy, x + dx]
                pairs[d, a, c] += 1
                same[d, a, c] += int(seg[b, y, x] == seg[b, y + dy, x + dx])
    assert torch.equal(table.pairs, pairs) and torch.equal(table.same, same)
    assert table.pairs.sum() > 0
    p = table.probability()
    assert float(p[pairs == 0].unique()) == 0.5  # Laplace: an unseen pair reads 1/2


def test_appearance_codes_cut_every_channel_into_equal_levels():
    images = torch.tensor([0.0, 0.49, 0.51, 1.0]).reshape(1, 1, 2, 2).repeat(1, 3, 1, 1)
    codes = appearance_codes(images, 1, 2)
    assert codes.tolist() == [[0, 0, 7, 7]]  # 0 + 2 * 0 + 4 * 0, and 1 + 2 + 4


def test_background_columns_stay_out_of_every_island():
    test, objects = _quadrants(4, _by_object, seed=1)
    table = count_pairs(test, objects, GRID, patch_size=1, bins=2)
    fg = torch.ones_like(objects, dtype=torch.bool)
    fg[:, :4] = False
    ids = pair_islands(test, fg, table, 0.5, GRID)
    assert (ids[:, :4] == 0).all() and (ids[:, 4:] > 0).all()
    assert float(foreground_ari(objects, ids, fg).min()) == pytest.approx(1.0)


def test_kmeans_on_position_finds_two_separate_blobs_whatever_their_colours():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(3, 3, 8, 8, generator=g)  # colours say nothing
    truth = torch.zeros(3, 8, 8, dtype=torch.long)
    truth[:, :3, :3] = 1
    truth[:, 5:, 5:] = 2
    truth = truth.reshape(3, 64)
    fg = truth > 0
    ids = colour_position_kmeans(images, fg, 1, (8, 8), clusters=2, colour_weight=0.0)
    assert float(foreground_ari(truth, ids, fg).min()) == pytest.approx(1.0)
    assert (ids[~fg] == 0).all()
    # weighted heavily, random colours scatter the same blobs
    mixed = colour_position_kmeans(images, fg, 1, (8, 8), clusters=2, colour_weight=10.0)
    assert float(foreground_ari(truth, mixed, fg).mean()) < 0.2  # measured -0.03


def test_bad_input_is_refused_in_one_line():
    images = torch.rand(2, 3, 4, 4)
    with pytest.raises(ConfigError, match="segments of shape"):
        count_pairs(images, torch.zeros(2, 15, dtype=torch.long), GRID, patch_size=1)
    with pytest.raises(ConfigError, match="bins=0"):
        appearance_codes(images, 1, 0)
    with pytest.raises(ConfigError, match="clusters=0"):
        colour_position_kmeans(images, torch.ones(2, 16, dtype=torch.bool), 1, GRID, clusters=0)
