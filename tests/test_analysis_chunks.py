"""The analyses that compare every pair of columns of an image ([..., N, N]) take the scenes
a chunk at a time on large grids (bioglom.analysis.islands.PAIR_ELEMENTS): chunked, they
give what one tensor gives."""

import pytest
import torch

from bioglom.analysis import islands as islands_module
from bioglom.analysis.collapse import collapse_measures
from bioglom.analysis.islands import extract_islands
from bioglom.analysis.parse import foreground_island_size, pair_similarity


@pytest.fixture
def scenes():
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 8, generator=g)
    ids = torch.randint(0, 4, (3, 5, 2, 16), generator=g)  # s b l n
    states = centres[ids] + 0.3 * torch.randn(3, 5, 2, 16, 8, generator=g)
    objects = torch.randint(0, 3, (5, 16), generator=g)
    parts = objects * 2 + torch.randint(0, 2, (5, 16), generator=g) * (objects > 0)
    return states, objects, parts


def _both(monkeypatch, f):
    whole = f()
    monkeypatch.setattr(islands_module, "PAIR_ELEMENTS", 1)  # one row of the leading axes a chunk
    return whole, f()


@pytest.mark.parametrize("grid", [None, (4, 4)])
def test_extract_islands_in_chunks_is_the_one_tensor_result(monkeypatch, scenes, grid):
    states = scenes[0]
    thresholds = torch.tensor([[0.5, 0.9], [0.7, 0.8], [0.95, 0.6]], dtype=torch.float64)[:, None, :]  # s 1 l
    for th in (0.8, thresholds):
        whole, chunked = _both(monkeypatch, lambda: extract_islands(states, th, grid))
        monkeypatch.setattr(islands_module, "PAIR_ELEMENTS", 2**25)
        assert torch.equal(whole, chunked)
        assert whole.shape == states.shape[:-1] and whole.unique().numel() > 2


def test_pair_similarity_and_collapse_in_chunks_are_the_one_tensor_results(monkeypatch, scenes):
    states, objects, parts = scenes
    whole, chunked = _both(monkeypatch, lambda: (pair_similarity(states[-1], parts, objects),
                                                  collapse_measures(states[-1], objects)))
    assert torch.equal(whole[0], chunked[0])
    torch.testing.assert_close(chunked[1], whole[1], rtol=1e-14, atol=1e-14)  # float64 sums added chunk by chunk
    assert torch.isfinite(whole[1][:, 3:]).all()


def test_foreground_island_size_is_a_count_per_column():
    islands = torch.tensor([[5, 5, 7, 2, 7, 7], [0, 1, 2, 3, 4, 4]])
    fg = torch.tensor([[True, False, True, True, True, False], [True] * 6])
    naive = []
    for row, f in zip(islands.tolist(), fg.tolist()):
        sizes = [sum(1 for m in row if m == row[i]) for i in range(len(row)) if f[i]]
        naive.append(sum(sizes) / len(sizes))
    assert foreground_island_size(islands, fg).tolist() == pytest.approx(naive, abs=0)
    assert torch.isnan(foreground_island_size(islands, torch.zeros(2, 6, dtype=torch.bool))).all()
