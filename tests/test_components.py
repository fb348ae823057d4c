"""Connected components, spatially connected islands and the model-free baselines, on grids
whose answer is known."""

import numpy as np
import torch

from bioglom.analysis import (adjusted_rand_index, colour_components, connected_islands, extract_islands,
                              foreground_ari, foreground_components, objects_touch)
from bioglom.components import grid_components, mask_components, renumber


def _loop_components(mask: np.ndarray) -> np.ndarray:
    """Reference: flood fill, one component at a time."""
    h, w = mask.shape
    out = np.zeros((h, w), int)
    k = 0
    for y in range(h):
        for x in range(w):
            if mask[y, x] and not out[y, x]:
                k += 1
                stack = [(y, x)]
                while stack:
                    a, b = stack.pop()
                    if 0 <= a < h and 0 <= b < w and mask[a, b] and not out[a, b]:
                        out[a, b] = k
                        stack += [(a + 1, b), (a - 1, b), (a, b + 1), (a, b - 1)]
    return out


def test_mask_components_match_a_flood_fill():
    rng = np.random.default_rng(0)
    masks = rng.random((20, 9, 11)) < 0.5
    got = mask_components(torch.from_numpy(masks))
    for m, g in zip(masks, got):
        ref = _loop_components(m)
        assert ((g.numpy() > 0) == m).all()
        # the same partition of the included cells
        assert adjusted_rand_index(torch.from_numpy(ref).flatten()[None], g.flatten()[None]) == 1.0


def test_a_snake_is_one_component():
    snake = torch.zeros(7, 7, dtype=torch.bool)
    snake[0::2] = True
    for r in range(1, 7, 2):
        snake[r, 6 if r % 4 == 1 else 0] = True
    comp = mask_components(snake)
    assert len(comp[snake].unique()) == 1


def test_grid_components_follow_links_only():
    include = torch.ones(1, 2, 3, dtype=torch.bool)
    right = torch.tensor([[[True, False], [False, False]]])
    down = torch.tensor([[[False, False, True]]])
    comp = renumber(grid_components(include, right, down).reshape(1, 6))
    assert comp.tolist() == [[0, 0, 1, 2, 3, 1]]


def test_renumber_keeps_zero():
    assert renumber(torch.tensor([[5, 0, 5, 2]]), keep_zero=True).tolist() == [[1, 0, 1, 2]]
    assert renumber(torch.tensor([[5, 0, 5, 2]])).tolist() == [[0, 1, 0, 2]]


def test_connected_islands_split_apart_islands():
    # one threshold island made of two pieces that do not touch, and a second island
    labels = torch.tensor([[0, 0, 1, 0],
                           [1, 1, 1, 0]]).reshape(1, 8)
    split = connected_islands(labels, (2, 4))
    assert split.tolist() == [[0, 0, 1, 2, 1, 1, 1, 2]]
    # through extract_islands: identical vectors on both sides of a different column
    state = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])[None]  # 1 x 3 grid
    assert extract_islands(state, 0.9).tolist() == [[0, 1, 0]]
    assert extract_islands(state, 0.9, grid=(1, 3)).tolist() == [[0, 1, 2]]


def test_foreground_components_perfect_where_apart_and_merge_where_touching():
    objects = torch.tensor([[1, 1, 0, 2],
                            [1, 1, 0, 2],
                            [0, 0, 0, 0]]).reshape(1, 12)
    fg = objects > 0
    assert foreground_ari(objects, foreground_components(fg, (3, 4)), fg) == 1.0
    assert not objects_touch(objects, (3, 4)).item()
    touching = torch.tensor([[1, 1, 2, 2],
                             [1, 1, 2, 2],
                             [0, 0, 0, 0]]).reshape(1, 12)
    assert objects_touch(touching, (3, 4)).item()
    fg = touching > 0
    assert foreground_ari(touching, foreground_components(fg, (3, 4)), fg) == 0.0  # one component, two objects


def test_colour_components_split_by_colour_and_space():
    img = torch.zeros(1, 3, 4, 6)
    img[0, 0, :, :2] = 1.0  # red block, left
    img[0, 1, :, 2:4] = 1.0  # green block, middle
    img[0, 0, :, 4:] = 1.0  # red block, right: same colour, not connected to the left one
    comp = colour_components(img, 2, 0.05).reshape(2, 3)
    assert comp[0, 0] != comp[0, 1] != comp[0, 2] and comp[0, 0] != comp[0, 2]
    assert (comp[0] == comp[1]).all()
    # a tolerance wider than the difference joins them
    assert len(colour_components(img, 2, 1.5).unique()) == 1
