"""Drawn pairs (bioglom.learning.pairs): the same-image losses at O(N K), against the dense
ones they estimate (equal when every pair is drawn) and against autograd in float64."""

import pytest
import torch

from bioglom import ConfigError, Glom, GlomConfig
from bioglom.data import make_whole_scenes
from bioglom.learning import Batch, build_rule
from bioglom.learning import pairs as pairs_module
from bioglom.learning.contrastive import island_supervision, repulsion_weights, same_image_hinge
from bioglom.learning.pairs import draw_pairs, drawn, drawn_dot


def _every_pair(n, seed=0):
    """Every other column, each row in its own shuffled order: the dense sums, reordered."""
    return draw_pairs(n, n - 1, torch.Generator().manual_seed(seed))


def test_draw_pairs_are_distinct_others_drawn_uniformly():
    n, k, draws = 7, 3, 3000
    g = torch.Generator().manual_seed(0)
    counts = torch.zeros(n, n)
    for _ in range(draws):
        index = draw_pairs(n, k, g)
        assert index.shape == (n, k)
        for i in range(n):
            row = index[i].tolist()
            assert len(set(row)) == k and i not in row
        counts.scatter_add_(1, index, torch.ones(n, k))
    assert counts.diagonal().sum() == 0
    off = counts[~torch.eye(n, dtype=torch.bool)] / draws  # each other column drawn with probability k / (n - 1)
    assert (off - k / (n - 1)).abs().max() < 0.04


def test_draw_pairs_is_the_same_for_the_same_generator_state():
    a = draw_pairs(20, 5, torch.Generator().manual_seed(4))
    b = draw_pairs(20, 5, torch.Generator().manual_seed(4))
    c = draw_pairs(20, 5, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("k", [0, 6, 2.5, True])
def test_draw_pairs_refuses_a_count_outside_the_other_columns(k):
    with pytest.raises(ConfigError, match=f"pair_sample={k!r} is not allowed with 6 columns; give an integer from 1 to 5"):
        draw_pairs(6, k)


@pytest.mark.parametrize("chunk", [None, 1])
def test_drawn_dot_and_its_gradient_match_a_gather_in_float64(monkeypatch, chunk):
    if chunk is not None:  # one row of the leading axes a chunk: the chunk boundaries are exercised
        monkeypatch.setattr(pairs_module, "_CHUNK_ELEMENTS", chunk)
    g = torch.Generator().manual_seed(1)
    a = torch.randn(2, 3, 9, 4, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(1, 3, 9, 4, generator=g, dtype=torch.float64, requires_grad=True)  # broadcast over the first axis
    index = draw_pairs(9, 4, g)
    out = drawn_dot(a, b, index)
    ref = torch.einsum("...nd,...nkd->...nk", a, b.expand_as(a)[..., index, :])
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    w = torch.randn(out.shape, generator=g, dtype=torch.float64)
    da, db = torch.autograd.grad((out * w).sum(), (a, b))
    ra, rb = torch.autograd.grad((ref * w).sum(), (a, b))
    torch.testing.assert_close(da, ra, rtol=0, atol=1e-12)
    torch.testing.assert_close(db, rb, rtol=0, atol=1e-12)
    assert torch.autograd.gradcheck(lambda x, y: drawn_dot(x, y, index), (a.detach()[:1].requires_grad_(),
                                                                          b.detach().requires_grad_()))


def test_drawn_dot_of_a_tensor_with_itself_has_both_sides_gradient():
    g = torch.Generator().manual_seed(2)
    u = torch.randn(2, 8, 3, generator=g, dtype=torch.float64, requires_grad=True)
    index = draw_pairs(8, 5, g)
    (grad,) = torch.autograd.grad(drawn_dot(u, u, index).square().sum(), u)
    (ref,) = torch.autograd.grad(torch.einsum("bnd,bnkd->bnk", u, u[:, index]).square().sum(), u)
    torch.testing.assert_close(grad, ref, rtol=0, atol=1e-12)


def test_every_pair_drawn_gives_the_dense_losses_and_gradients_in_float64():
    g = torch.Generator().manual_seed(3)
    n = 10
    pred = torch.randn(2, 2, n, 5, generator=g, dtype=torch.float64, requires_grad=True)
    target = torch.randn(2, 2, n, 5, generator=g, dtype=torch.float64)
    allowed = torch.rand(2, n, n, generator=g) < 0.7
    labels = torch.randint(0, 4, (2, 2, n), generator=g)
    index = _every_pair(n)
    for mask in (None, allowed):
        dense = same_image_hinge(pred, target, 1.5, 4.0, mask)
        ours = same_image_hinge(pred, target, 1.5, 4.0, mask, pairs=index)
        torch.testing.assert_close(ours, dense, rtol=1e-10, atol=1e-12)
        (gd,) = torch.autograd.grad(dense.sum(), pred)
        (go,) = torch.autograd.grad(ours.sum(), pred)
        torch.testing.assert_close(go, gd, rtol=1e-10, atol=1e-12)
    dense_v = repulsion_weights(target, 4.0)
    torch.testing.assert_close(repulsion_weights(target, 4.0, index), dense_v[..., torch.arange(n)[:, None], index],
                               rtol=1e-10, atol=1e-12)
    dense = island_supervision(pred, labels, 3.0)
    ours = island_supervision(pred, labels, 3.0, index)
    torch.testing.assert_close(ours, dense, rtol=1e-10, atol=1e-12)
    (gd,) = torch.autograd.grad(dense.sum(), pred)
    (go,) = torch.autograd.grad(ours.sum(), pred)
    torch.testing.assert_close(go, gd, rtol=1e-10, atol=1e-12)


def test_drawn_island_loss_is_a_naive_loop_over_the_drawn_pairs_in_float64():
    g = torch.Generator().manual_seed(5)
    n, k = 9, 4
    states = torch.randn(1, 2, n, 3, generator=g, dtype=torch.float64)
    labels = torch.tensor([[[0, 1, 1, 1, 2, 2, 2, 2, 1], [3, 3, 3, 3, 3, 0, 0, 1, 1]]])
    index = draw_pairs(n, k, g)
    ours = island_supervision(states, labels, 2.0, index)
    ref, count = torch.zeros(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    for lvl in range(2):
        unit = torch.nn.functional.normalize(states[0, lvl], dim=-1)
        for i in range(n):
            drawn_ = index[i].tolist()
            partners = [m for m in drawn_ if labels[0, lvl, m] == labels[0, lvl, i]]
            if labels[0, lvl, i] == 0 or not partners:
                continue
            e = {m: torch.exp(2.0 * unit[i] @ unit[m]) for m in drawn_}
            ref[lvl] -= torch.log(sum(e[m] for m in partners) / sum(e.values()))
            count[lvl] += 1
    torch.testing.assert_close(ours, ref / count, rtol=1e-10, atol=1e-12)


def test_drawn_hinge_is_a_naive_loop_over_the_drawn_pairs_in_float64():
    g = torch.Generator().manual_seed(6)
    n, k, d = 8, 3, 4
    pred = torch.randn(n, d, generator=g, dtype=torch.float64)
    target = torch.randn(n, d, generator=g, dtype=torch.float64)
    index = draw_pairs(n, k, g)
    ours = same_image_hinge(pred, target, 1.5, 4.0, pairs=index)
    unit = torch.nn.functional.normalize(target, dim=-1)
    for i in range(n):
        cos = {m: float(unit[i] @ unit[m]) for m in index[i].tolist()}
        best = max(cos.values())
        v = {m: 1 - torch.exp(torch.tensor(4.0 * (c - best), dtype=torch.float64)) for m, c in cos.items()}
        h = {m: torch.relu(1.5 - ((pred[i] - target[m]) ** 2).mean()) for m in cos}
        ref = sum(v[m] * h[m] for m in cos) / max(float(sum(v.values())), 1e-8)
        torch.testing.assert_close(ours[i], ref, rtol=1e-10, atol=1e-12)


def test_drawn_pairs_keep_the_pair_tensors_at_n_k():
    """The backward pass keeps [..., N, K] tensors, not [..., N, N]: what the rule saved for a
    large grid is measured by the autograd graph's saved tensors."""
    n, k = 256, 8
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(4, n, 8, generator=g, requires_grad=True)
    target = torch.randn(4, n, 8, generator=g)
    sizes = []

    def pack(t):
        sizes.append(t.numel())
        return t

    for pairs in (None, draw_pairs(n, k, g)):
        sizes.clear()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            same_image_hinge(pred, target, 1.0, 4.0, pairs=pairs).sum()
        largest = max(sizes)
        if pairs is None:
            assert largest >= 4 * n * n
        else:
            assert largest <= 4 * n * max(k, 8)


def test_backprop_with_drawn_pairs_settles_as_with_every_pair_and_estimates_its_losses():
    scenes = make_whole_scenes(4, seed=0)
    groups = torch.randint(0, 3, (4, 3, 64), generator=torch.Generator().manual_seed(0))
    batch = Batch(scenes.images, scenes.images, torch.ones_like(scenes.images), groups=groups)
    cfg = GlomConfig(levels=3, dim=16, hidden=16, image_size=16, patch_size=2, channels=3)
    common = dict(steps=2, negatives="both", negative_weight=1.0, grouping=1.0)
    losses = {}
    for k in (0, 63, 8):
        model = Glom(cfg)
        out = build_rule("backprop", pair_sample=k, **common).accumulate(model, batch, torch.Generator().manual_seed(1))
        losses[k] = out
        assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())
    assert torch.equal(losses[0].trajectory.states, losses[8].trajectory.states)  # the draw comes after settling
    # every pair drawn: the same loss up to summation order; a few pairs: an estimate of it
    assert losses[63].metrics["grouped"] == pytest.approx(losses[0].metrics["grouped"], rel=1e-5)
    assert losses[63].metrics["separate"] == pytest.approx(losses[0].metrics["separate"], rel=1e-5)
    assert losses[8].metrics["grouped"] != losses[0].metrics["grouped"]


def test_a_pair_sample_beyond_the_columns_is_refused_before_settling():
    scenes = make_whole_scenes(2, seed=0)
    model = Glom(GlomConfig(levels=3, dim=16, hidden=16, image_size=16, patch_size=2, channels=3))
    with pytest.raises(ConfigError, match="pair_sample=-1"):
        build_rule("backprop", pair_sample=-1)
    rule = build_rule("backprop", steps=1, negatives="same_image", pair_sample=64)
    with pytest.raises(ConfigError, match="pair_sample=64 is not allowed with 64 columns"):
        rule.loss(model, Batch(scenes.images, scenes.images, torch.ones_like(scenes.images)))


def test_drawn_returns_each_columns_drawn_values():
    x = torch.arange(12.0).view(2, 6)
    index = draw_pairs(6, 2, torch.Generator().manual_seed(0))
    out = drawn(x, index)
    for b in range(2):
        for i in range(6):
            assert out[b, i].tolist() == [x[b, j].item() for j in index[i].tolist()]


def test_draw_pairs_in_blocks_of_rows_is_the_draw_of_one_block(monkeypatch):
    whole = draw_pairs(50, 7, torch.Generator().manual_seed(9))
    monkeypatch.setattr(pairs_module, "_CHUNK_ELEMENTS", 3 * 50)  # three rows' keys at a time
    blocks = draw_pairs(50, 7, torch.Generator().manual_seed(9))
    assert torch.equal(whole.sort(-1).values, blocks.sort(-1).values)  # the same keys, drawn row-block by row-block
