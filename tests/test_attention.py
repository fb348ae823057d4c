import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bioglom import Glom, GlomConfig
from bioglom.attention import (beta_schedule, dense_mask, gaussian_mask, gaussian_neighbours, grid_distances,
                               lateral_attention, neighbours_from_mask, window_mask, window_neighbours)
from bioglom.consensus import consensus_weights
from bioglom.model import settle_step


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


# ---- sparse neighbourhoods ---------------------------------------------------------------


@pytest.mark.parametrize("similarity", ["cosine", "dot"])
def test_sparse_window_equals_dense_in_float64_at_the_edges(similarity):
    grid, radii = (5, 7), (0, 1, 3)  # not square; radius 3 reaches past every edge
    nb = window_neighbours(grid, radii)
    assert torch.equal(dense_mask(nb, 35), window_mask(grid, radii))
    state = torch.randn(2, 3, 35, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    dense, w_dense = lateral_attention(state, window_mask(grid, radii), 4.0, similarity)
    sparse, w_sparse = lateral_attention(state, nb, 4.0, similarity)
    torch.testing.assert_close(sparse, dense, rtol=1e-10, atol=1e-12)
    assert w_sparse.shape == (2, 3, 35, 49) and (w_sparse[..., :][~nb.valid.expand_as(w_sparse)] == 0).all()
    torch.testing.assert_close(w_sparse.sum(-1), torch.ones(2, 3, 35, dtype=torch.float64))


def test_sparse_form_of_a_gaussian_mask_gives_the_same_attention():
    mask = gaussian_mask((6, 6), (3, 8), (1.0, 2.0), torch.Generator().manual_seed(3))
    nb = neighbours_from_mask(mask)
    assert torch.equal(dense_mask(nb, 36), mask)
    state = torch.randn(3, 2, 36, 5, dtype=torch.float64)
    torch.testing.assert_close(lateral_attention(state, nb, 2.0)[0], lateral_attention(state, mask, 2.0)[0],
                               rtol=1e-10, atol=1e-12)


def test_gaussian_neighbours_draw_k_distinct_others_and_prefer_near_columns():
    grid, ks, sigmas = (12, 12), (4, 10), (1.0, 3.0)
    nb = gaussian_neighbours(grid, ks, sigmas, torch.Generator().manual_seed(0))
    mask = dense_mask(nb, 144)
    assert (mask.sum(-1) == torch.tensor([5, 11])[:, None]).all()  # self and k distinct others
    assert mask.diagonal(dim1=1, dim2=2).all()
    _, sq = grid_distances(grid)
    mean_sq = (sq * mask.float()).sum((-1, -2)) / (mask.sum((-1, -2)) - 144)  # self adds 0
    assert mean_sq[0] < 4.0 < sq.mean()  # far nearer than a uniform draw
    again = gaussian_neighbours(grid, ks, sigmas, torch.Generator().manual_seed(0))
    assert torch.equal(again.index, nb.index)


@pytest.mark.parametrize("columns", ["shared", "unshared"])
@pytest.mark.parametrize("neighbourhood", ["window", "gaussian"])
def test_a_model_on_a_large_grid_attends_sparsely_and_settles_as_the_dense_mask_would(columns, neighbourhood):
    cfg = GlomConfig(levels=3, dim=6, hidden=8, image_size=12, patch_size=1, channels=1, columns=columns,
                     neighbourhood=neighbourhood, radius=(1, 1, 1), gaussian_k=3)
    model = Glom(cfg).double()
    assert model.sparse and not hasattr(model, "mask")
    images = torch.rand(2, 1, 12, 12, dtype=torch.float64)
    inputs = model.encode(images)
    state = model.bottom_up_pass(inputs)
    w = consensus_weights(cfg, 1, 3).double()
    with torch.no_grad():
        sparse = settle_step(model.nets, state, inputs, model.neighbourhood, 3.0, w, cfg)[0]
        dense = settle_step(model.nets, state, inputs, model.attention_mask, 3.0, w, cfg)[0]
    torch.testing.assert_close(sparse, dense, rtol=1e-10, atol=1e-12)


def test_small_models_keep_the_dense_mask():
    model = Glom(GlomConfig(levels=3, dim=8, hidden=8, image_size=16, patch_size=2, channels=1, radius=(1, 2, 4)))
    assert not model.sparse and model.mask.shape == (3, 64, 64)


def test_no_n_by_n_tensor_on_the_sparse_path():
    """A 256x256 grid: one [L, N, N] boolean mask alone would take 8.6 GB; the sparse model
    builds, settles two steps and stays under 2 GB of peak memory (its own process)."""
    code = ("import resource, torch\nfrom bioglom import Glom, GlomConfig\n"
            "for nb in ('window', 'gaussian'):\n"
            "    m = Glom(GlomConfig(levels=2, dim=4, hidden=8, image_size=256, patch_size=1, channels=1, "
            "columns='shared', neighbourhood=nb, radius=(1, 2), gaussian_k=4, gaussian_resample=True))\n"
            "    with torch.no_grad():\n"
            "        m.settle(torch.rand(1, 1, 256, 256), 2, record=False, generator=torch.Generator().manual_seed(0))\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.split()[-1]) < 2 * 1024**2  # KiB


@pytest.mark.parametrize("similarity", ["cosine", "dot"])
def test_dense_attention_written_out_equals_the_fused_form_and_a_loop_in_float64(similarity):
    # the fused form the dense path used before it was written out: one baddbmm with the
    # scale beta (or beta / sqrt(D)) folded into its alpha; and a loop over every pair
    torch.manual_seed(0)
    b, L, n, d, beta = 2, 3, 9, 5, 2.5
    state = torch.randn(b, L, n, d, dtype=torch.float64)
    mask = window_mask((3, 3), (0, 1, 2))
    lat, w = lateral_attention(state, mask, beta, similarity)
    q = torch.nn.functional.normalize(state, dim=-1, eps=1e-8) if similarity == "cosine" else state
    scale = beta if similarity == "cosine" else beta / d**0.5
    flat = q.reshape(b * L, n, d)
    fused = torch.baddbmm(flat.new_empty(()).expand(b * L, n, n), flat, flat.transpose(1, 2), beta=0,
                          alpha=scale).view(b, L, n, n).masked_fill(~mask, float("-inf")).softmax(-1)
    torch.testing.assert_close(w, fused, rtol=1e-12, atol=1e-12)
    loop = torch.zeros(b, L, n, d, dtype=torch.float64)
    for i in range(b):
        for l in range(L):
            for k in range(n):
                near = [m for m in range(n) if mask[l, k, m]]
                sims = torch.stack([q[i, l, k] @ q[i, l, m] * scale for m in near])
                loop[i, l, k] = (sims.softmax(0)[:, None] * state[i, l, near]).sum(0)
    torch.testing.assert_close(lat, loop, rtol=1e-12, atol=1e-12)


def test_a_settling_step_names_its_contributions_and_returns_its_hidden_layers():
    from bioglom.consensus import Contributions, combine

    cfg = GlomConfig(levels=3, dim=8, hidden=16, image_size=6, patch_size=2, channels=1, radius=(1, 1, 2))
    model = Glom(cfg).double()
    images = torch.rand(2, 1, 6, 6, dtype=torch.float64)
    records = []
    traj = model.settle(images, 3, on_step=records.append)
    rec = records[1]
    assert isinstance(rec.contributions, Contributions)
    assert rec.contributions.previous is rec.state
    torch.testing.assert_close(rec.contributions.top_down[:, -1], torch.zeros_like(rec.state[:, -1]))
    (bu_pre, bu_h), (td_pre, _) = rec.hidden
    src = torch.cat([rec.inputs[:, None], rec.state[:, :-1]], 1)
    torch.testing.assert_close(bu_pre, model.nets.bu.hidden_pre(src, None, slice(None)), rtol=0, atol=0)
    assert td_pre.shape[0] == cfg.levels - 1  # the top level has no top-down net
    torch.testing.assert_close(traj.contributions.lateral[1], rec.contributions.lateral)
    from bioglom.consensus import normalise
    torch.testing.assert_close(rec.new, normalise(combine(rec.contributions, rec.weights), cfg.norm))
