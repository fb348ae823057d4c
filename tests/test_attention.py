import torch

from bioglom.attention import beta_schedule, gaussian_mask, lateral_attention, window_mask
from bioglom import GlomConfig


def test_rows_sum_to_one_and_zero_outside_window():
    grid = (5, 6)
    mask = window_mask(grid, (0, 1, 2))
    state = torch.randn(2, 3, 30, 7, dtype=torch.float64)
    for sim in ("cosine", "dot"):
        _, w = lateral_attention(state, mask, beta=3.0, similarity=sim)
        torch.testing.assert_close(w.sum(-1), torch.ones(2, 3, 30, dtype=torch.float64), rtol=0, atol=1e-12)
        assert (w[:, ~mask] == 0).all()  # exactly zero, not small
        assert (w[:, mask] > 0).all()
    # radius 0: a column attends only to itself
    lat, _ = lateral_attention(state, mask, beta=1.0)
    torch.testing.assert_close(lat[:, 0], state[:, 0])


def test_window_mask_is_chebyshev_ball():
    mask = window_mask((4, 4), (1,))[0]
    # column (1, 1) = index 5 sees the 3x3 block around it
    expected = {0, 1, 2, 4, 5, 6, 8, 9, 10}
    assert set(mask[5].nonzero().flatten().tolist()) == expected


def test_large_beta_copies_most_similar_neighbour():
    torch.manual_seed(0)
    state = torch.randn(1, 1, 12, 5, dtype=torch.float64)
    mask = window_mask((3, 4), (1,))
    lat, _ = lateral_attention(state, mask, beta=1e4, similarity="dot")
    scores = (state[0, 0] @ state[0, 0].T).masked_fill(~mask[0], float("-inf"))
    best = scores.argmax(-1)
    torch.testing.assert_close(lat[0, 0], state[0, 0, best])


def test_gaussian_mask_has_k_plus_self_and_prefers_near_columns():
    gen = torch.Generator().manual_seed(0)
    mask = gaussian_mask((8, 8), (4, 10), (1.0, 4.0), gen)
    assert (mask.sum(-1) == torch.tensor([5, 11])[:, None]).all()
    assert mask.diagonal(dim1=-2, dim2=-1).all()
    # narrow Gaussian: sampled columns are mostly within distance 2
    ys, xs = torch.div(torch.arange(64), 8, rounding_mode="floor"), torch.arange(64) % 8
    dist = torch.maximum((ys[:, None] - ys).abs(), (xs[:, None] - xs).abs())
    near = (dist[mask[0]] <= 2).float().mean()
    far = (dist[mask[1]] <= 2).float().mean()
    assert near > 0.9 and far < near
    # same generator seed, same mask; another seed, another mask
    again = gaussian_mask((8, 8), (4, 10), (1.0, 4.0), torch.Generator().manual_seed(0))
    other = gaussian_mask((8, 8), (4, 10), (1.0, 4.0), torch.Generator().manual_seed(1))
    assert torch.equal(mask, again) and not torch.equal(mask, other)


def test_k_equal_to_all_other_columns_is_full():
    mask = gaussian_mask((3, 3), (8,), (0.5,), torch.Generator().manual_seed(0))
    assert mask.all()


def test_beta_schedule_is_linear():
    cfg = GlomConfig(beta_start=2.0, beta_end=12.0)
    assert [beta_schedule(cfg, t, 6) for t in range(6)] == [2.0, 4.0, 6.0, 8.0, 10.0, 12.0]
