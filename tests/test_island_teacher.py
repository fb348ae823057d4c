"""The island teacher (bioglom.learning.island_target) and the anti-collapse terms
(bioglom.learning.anticollapse): references in float64, locality, no label, bad input."""

import math

import pytest
import torch

from bioglom import ConfigError, Glom, GlomConfig
from bioglom.attention import neighbours_from_mask, window_mask
from bioglom.learning import Batch, Trainer, build_rule
from bioglom.learning.anticollapse import UnitStatistics, anticollapse_error
from bioglom.learning.island_target import (_Window, island_attention, island_direction, island_loss, island_targets,
                                            segment_mean)


def _states(b=3, L=2, grid=(4, 4), d=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    n = grid[0] * grid[1]
    u = torch.nn.functional.normalize(torch.randn(b, L, n, d, generator=gen, dtype=torch.float64), dim=-1)
    groups = torch.randint(0, 3, (b, L, n), generator=gen)
    return u, groups


@pytest.mark.parametrize("sparse", [False, True])
def test_direction_is_minus_the_island_loss_gradient_on_the_tangent(sparse):
    """``r_n = -(I - u_n u_n^T) dL_n/du_n / beta`` for the column's own loss, the other
    columns' states held fixed, against autograd in float64 (dense and gathered windows)."""
    beta, grid = 5.0, (4, 4)
    u, groups = _states(grid=grid)
    mask = window_mask(grid, (1, 2))
    window_form = neighbours_from_mask(mask) if sparse else mask
    window = _Window(window_form, u.shape[2], u.device)
    p, same, _ = island_attention(u, groups, window, beta)
    r, _ = island_direction(u, p, same, window)

    b, L, n, d = u.shape
    grads = torch.zeros_like(u)
    for col in range(n):  # the reference: each column's own loss, differentiated in its own state only
        var = u[:, :, col].clone().requires_grad_(True)
        others = u.detach().clone()
        mixed = torch.cat([others[:, :, :col], var[:, :, None], others[:, :, col + 1:]], 2)
        loss = island_loss(mixed, groups, window_form, beta)[:, :, col].sum()
        (g,) = torch.autograd.grad(loss, var, allow_unused=True)
        grads[:, :, col] = g if g is not None else 0.0
    tangent = grads - u * (u * grads).sum(-1, keepdim=True)
    torch.testing.assert_close(r, -tangent / beta, rtol=1e-9, atol=1e-12)
    assert r.abs().max() > 1e-3  # not a trivially zero comparison
    has = same.any(-1)
    assert not has.all() and (r[~has] == 0).all()  # no segment neighbour: no direction


def test_island_loss_against_a_loop():
    beta, grid = 3.0, (3, 3)
    u, groups = _states(b=2, L=1, grid=grid, d=4, seed=1)
    mask = window_mask(grid, (1,))
    got = island_loss(u, groups, mask, beta)
    for b in range(2):
        for n in range(9):
            others = [m for m in range(9) if m != n and mask[0, n, m]]
            logits = torch.stack([beta * u[b, 0, n] @ u[b, 0, m] for m in others])
            p = torch.softmax(logits, 0)
            inside = [i for i, m in enumerate(others) if groups[b, 0, m] == groups[b, 0, n] and groups[b, 0, n] > 0]
            want = -torch.log(p[inside].sum()) if inside else torch.tensor(0.0, dtype=torch.float64)
            torch.testing.assert_close(got[b, 0, n], want)


def _loop_pull_push(u, groups, mask, beta, mu, n):
    """For column ``n`` of one image and level (``u [N, d]``, ``groups [N]``, ``mask [N, N]``),
    by a loop: the mean of its segment's states and the attention-weighted mean of the
    window neighbours of other segments with cosine above ``mu`` (0 when there is none)."""
    g = int(groups[n])
    others = [m for m in range(len(u)) if m != n and mask[n, m]]
    p = torch.softmax(torch.stack([beta * u[n] @ u[m] for m in others]), 0)
    close = [(p[i], u[m]) for i, m in enumerate(others) if groups[m] != g and u[n] @ u[m] > mu]
    push = sum(w * v for w, v in close) / sum(w for w, _ in close) if close else torch.zeros_like(u[n])
    return u[groups == g].mean(0), push


def _segmented(t, u, groups, mask, beta, mu):
    """Checks that columns without a segment keep their state as target, and yields ``(b, n,
    _loop_pull_push(...))`` for the others (one level)."""
    for b in range(u.shape[0]):
        for n in range(u.shape[2]):
            if int(groups[b, 0, n]) == 0:
                torch.testing.assert_close(t[b, 0, n], u[b, 0, n])
                continue
            yield b, n, _loop_pull_push(u[b, 0], groups[b, 0], mask[0], beta, mu, n)


def test_hinged_target_against_its_formula():
    """``t_n = norm(segment mean - lambda * attention-weighted mean of too-similar neighbours of
    other segments)``, by a loop."""
    beta, grid, lam, mu = 4.0, (3, 3), 0.7, 0.1
    u, groups = _states(b=2, L=1, grid=grid, d=5, seed=2)
    mask = window_mask(grid, (1,))
    t, applies = island_targets(u, groups, mask, beta, form="hinged", push=lam, margin=mu)
    assert torch.equal(applies, groups > 0)
    for b, n, (pull, push) in _segmented(t, u, groups, mask, beta, mu):
        want = torch.nn.functional.normalize(pull - lam * push, dim=0)
        torch.testing.assert_close(t[b, 0, n], want)


def test_hinged_push_stops_once_separated():
    """Two segments whose states are already apart (cosine below the margin) get their
    segment means as targets: no push is left."""
    a, c = torch.tensor([1.0, 0, 0, 0]), torch.tensor([0, 1.0, 0, 0])
    u = torch.stack([a, a, c, c])[None, None].double()  # 1 1 4 d, a 1x4 grid
    groups = torch.tensor([1, 1, 2, 2])[None, None]
    mask = window_mask((1, 4), (1,))
    t, _ = island_targets(u, groups, mask, 5.0, form="hinged", margin=0.3)
    torch.testing.assert_close(t, u)
    close = torch.stack([a, a, a + 0.1 * c, a + 0.1 * c])[None, None].double()  # too similar: pushed apart
    t, _ = island_targets(close, groups, mask, 5.0, form="hinged", margin=0.3)
    n = torch.nn.functional.normalize(close, dim=-1)
    assert (t[0, 0, 1] @ t[0, 0, 2]) < (n[0, 0, 1] @ n[0, 0, 2]) - 0.1


@pytest.mark.parametrize("mu", [0.3, 0.0, -0.2])
def test_projected_target_stops_exactly_at_the_margin(mu):
    """``form="projected"``: where the segment's mean direction ``a`` has a cosine above
    ``mu`` with the push direction ``b`` (the hinged form's push, by a loop), the target lies
    in the plane of ``a`` and ``b``, on ``a``'s side of ``b``, with cosine ``mu`` to ``b``;
    elsewhere it is ``a``. From a collapsed image (every state nearly one vector) it still
    asks for the margin."""
    beta, grid = 4.0, (3, 3)
    u, groups = _states(b=2, L=1, grid=grid, d=5, seed=2)
    mask = window_mask(grid, (1,))
    t, applies = island_targets(u, groups, mask, beta, form="projected", margin=mu)
    assert torch.equal(applies, groups > 0)
    turned = 0
    for b, n, (pull, push) in _segmented(t, u, groups, mask, beta, mu):
        a, c = torch.nn.functional.normalize(pull, dim=0), torch.nn.functional.normalize(push, dim=0)
        if float(push.norm()) == 0 or a @ c <= mu:
            torch.testing.assert_close(t[b, 0, n], a)
            continue
        turned += 1
        assert abs(float(t[b, 0, n] @ c) - mu) < 1e-9
        assert abs(float(t[b, 0, n].norm()) - 1) < 1e-9
        side = a - (a @ c) * c
        residual = t[b, 0, n] - (t[b, 0, n] @ c) * c - (t[b, 0, n] @ side) / (side @ side) * side
        assert float(residual.norm()) < 1e-9 and float(t[b, 0, n] @ side) > 0
    assert turned >= 3
    v = torch.randn(5, dtype=torch.float64)
    collapsed = (v + 1e-4 * torch.randn(1, 1, 9, 5, dtype=torch.float64))
    t, _ = island_targets(collapsed, groups[:1], mask, beta, form="projected", margin=mu)
    b0 = torch.nn.functional.normalize(collapsed, dim=-1)
    seg = groups[0, 0] > 0
    cos = (t[0, 0] * b0[0, 0]).sum(-1)[seg]
    assert float(cos.max()) < mu + 0.05  # every taught column asked to leave the collapsed vector
    assert float((cos - mu).abs().max()) < 1e-3  # at the margin, up to the 1e-4 spread of the collapsed states
    exact = v.expand(1, 1, 9, 5).clone()  # one vector, bit for bit: rounding or no plane at all; a unit target either way
    t, _ = island_targets(exact, groups[:1], mask, beta, form="projected", margin=mu)
    torch.testing.assert_close(t.norm(dim=-1), torch.ones(1, 1, 9, dtype=t.dtype))
    assert torch.isfinite(t).all()


def test_push_alone_against_its_formula_and_it_stops_once_separated():
    """``pull=False``: ``t_n = norm(u_n - lambda * push_n)`` where ``push_n`` is not 0 (a loop),
    and nothing applies where every other segment's neighbour is below the margin."""
    beta, grid, lam, mu = 4.0, (3, 3), 0.7, 0.1
    u, groups = _states(b=2, L=1, grid=grid, d=5, seed=2)
    mask = window_mask(grid, (1,))
    t, applies = island_targets(u, groups, mask, beta, form="hinged", push=lam, margin=mu, pull=False)
    pushed = 0
    for b in range(2):
        for n in range(9):
            g = int(groups[b, 0, n])
            others = [m for m in range(9) if m != n and mask[0, n, m]]
            p = torch.softmax(torch.stack([beta * u[b, 0, n] @ u[b, 0, m] for m in others]), 0)
            close = [(p[i], u[b, 0, m]) for i, m in enumerate(others)
                     if groups[b, 0, m] != g and u[b, 0, n] @ u[b, 0, m] > mu]
            if g == 0 or not close:
                assert not applies[b, 0, n]
                torch.testing.assert_close(t[b, 0, n], u[b, 0, n])
                continue
            assert applies[b, 0, n]
            pushed += 1
            push = sum(w * v for w, v in close) / sum(w for w, _ in close)
            torch.testing.assert_close(t[b, 0, n], torch.nn.functional.normalize(u[b, 0, n] - lam * push, dim=0))
    assert 0 < pushed < int((groups > 0).sum())  # some columns pushed, some already apart
    a, c = torch.tensor([1.0, 0, 0, 0]), torch.tensor([0, 1.0, 0, 0])
    apart = torch.stack([a, a, c, c])[None, None].double()
    t, applies = island_targets(apart, torch.tensor([1, 1, 2, 2])[None, None], window_mask((1, 4), (1,)), 5.0,
                                margin=0.3, pull=False)
    assert not applies.any() and torch.equal(t, apart)


def test_gradient_target_is_a_step_of_length_kappa_on_the_sphere():
    u, groups = _states(seed=3)
    mask = window_mask((4, 4), (1, 2))
    for kappa in (0.2, 1.0):
        t, applies = island_targets(u, groups, mask, 5.0, form="gradient", kappa=kappa)
        angle = torch.acos((t * u).sum(-1).clamp(-1, 1))
        torch.testing.assert_close(angle[applies], torch.full_like(angle[applies], math.atan(kappa)))
        torch.testing.assert_close(t[~applies], u[~applies])
    t, applies = island_targets(u, groups, mask, 5.0, form="gradient", step="outside_mass")
    window = _Window(mask, 16, u.device)
    p, same, _ = island_attention(u, groups, window, 5.0)
    inside = (p * same).sum(-1)
    angle = torch.acos((t * u).sum(-1).clamp(-1, 1))
    torch.testing.assert_close(angle[applies], torch.atan(1 - inside[applies]))


def test_segment_mean_of_the_teacher_module_is_the_local_rules():
    from bioglom.learning.local import segment_mean as local_segment_mean

    assert local_segment_mean is segment_mean


# ---- in a rule ------------------------------------------------------------------------

def _model(columns="unshared", **kw):
    return Glom(GlomConfig(levels=3, dim=8, hidden=16, image_size=8, patch_size=2, channels=3, columns=columns,
                           radius=(1, 2, 3), **kw))


def _batch(seed=0):
    gen = torch.Generator().manual_seed(seed)
    images = torch.rand(4, 3, 8, 8, generator=gen)
    groups = torch.randint(0, 3, (4, 1, 16), generator=gen).expand(4, 3, 16).clone()
    groups[:, 0] = 0  # level 0 has no segments, as in motion batches
    labels = torch.randint(1, 4, (4, 3, 16), generator=gen)
    return Batch(images, images, torch.ones_like(images[:, :1]), labels, groups)


@pytest.mark.parametrize("rule", ["delta", "temporal_derivative"])
@pytest.mark.parametrize("at", ["every", "last", "settled"])
def test_island_teacher_trains_and_differs_from_the_consensus(rule, at):
    model = _model()
    batch = _batch()
    out = build_rule(rule, steps=3, teacher="island", island_at=at).accumulate(model, batch)
    island = {n: p.grad.clone() for n, p in model.nets.named_parameters()}
    model.zero_grad(set_to_none=True)
    build_rule(rule, steps=3, teacher="full").accumulate(model, batch)
    assert all(torch.isfinite(g).all() for g in island.values()) and torch.isfinite(out.loss)
    assert any(not torch.allclose(island[n], p.grad) for n, p in model.nets.named_parameters())


def test_island_teacher_reads_no_label():
    """Scrambled labels give bit-identical weights: the teacher reads groups, never labels."""
    weights = []
    for labels_seed in (0, 1):
        model = _model()
        batch = _batch()
        scrambled = torch.randint(1, 9, batch.labels.shape, generator=torch.Generator().manual_seed(labels_seed))
        rule = build_rule("temporal_derivative", steps=3, teacher="island", variance_weight=0.1,
                          decorrelation_weight=0.1)
        Trainer(model, rule, lambda u: batch._replace(labels=scrambled), updates=3, progress=False).run()
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(weights[0], weights[1])


def test_nothing_crosses_a_column():
    """With unshared nets, the update of one column's nets is unchanged when another column's
    nets change, as long as the states it reads are the same: each column's update reads its
    own nets, its own input and state, and the states of its window (here held fixed by
    settling zero steps' worth of difference: the other column's nets are changed only in
    a way that leaves every state as it was, by perturbing a weight of a hidden unit whose
    output weight is zero)."""
    from bioglom.learning.local import DIRECTIONS  # noqa: F401  (the two kinds of student nets)

    model = _model()
    batch = _batch()
    rule = build_rule("delta", steps=2, teacher="island", hidden_credit="local_backprop")
    with torch.no_grad():
        model.nets.bu.w2[:, 5, 0] = 0.0  # hidden unit 0 of column 5's bottom-up nets has no say in their output
    rule.accumulate(model, batch)
    before = model.nets.bu.w2.grad.clone()
    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        model.nets.bu.w1[:, 5, :, 0] += 1.0  # changes column 5's nets, not any state
    rule.accumulate(model, batch)
    after = model.nets.bu.w2.grad
    others = [n for n in range(16) if n != 5]
    torch.testing.assert_close(after[:, others], before[:, others], rtol=0, atol=0)
    assert not torch.equal(after[:, 5], before[:, 5])  # column 5's own update does see its own change


@pytest.mark.parametrize("rule", ["delta", "temporal_derivative"])
def test_negative_island_pushes_in_a_negative_phase_only_until_separated(rule):
    """``negative_island``: a negative phase with no hinge learns the island push alone,
    and nothing once no neighbour of another segment is within the margin; a phase of
    ``both`` is what it was without the option."""
    batch = _batch()

    def grads(phase, **kw):
        model = _model()
        build_rule(rule, steps=3, teacher="island", negative_weight=0.0, variance_weight=1.0, **kw).accumulate(
            model, batch, phase=phase)
        return torch.cat([torch.zeros(1) if p.grad is None else p.grad.flatten() for p in model.nets.parameters()])

    assert (grads("negative") == 0).all()  # without the option a negative phase with no hinge learns nothing
    pushed = grads("negative", negative_island=1.0)
    assert pushed.abs().max() > 0 and torch.isfinite(pushed).all()
    assert (grads("negative", negative_island=1.0, island_margin=1.0) == 0).all()  # every segment apart: no push
    torch.testing.assert_close(grads("both", negative_island=1.0), grads("both"), rtol=0, atol=0)
    with pytest.raises(ConfigError, match="negative_island=1.0 is not allowed with teacher='full'"):
        build_rule(rule, teacher="full", negative_island=1.0)
    with pytest.raises(ConfigError, match="negative_island=-1.0 is not allowed"):
        build_rule(rule, teacher="island", negative_island=-1.0)


# ---- the anti-collapse terms ---------------------------------------------------------

def test_anticollapse_error_against_its_formula():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(3, 2, 5, 4, generator=gen, dtype=torch.float64)
    stats = UnitStatistics(1)
    mean, var, cov = stats.update("bottom_up", z)
    rows = z.transpose(0, 1).reshape(2, 15, 4)
    torch.testing.assert_close(mean, rows.mean(1))
    torch.testing.assert_close(var, rows.var(1, unbiased=False))
    err = anticollapse_error(z, mean, var, cov, 0.5, 0.25, eps=1e-4)
    for g in range(2):
        c = torch.cov(rows[g].T, correction=0)
        for i in range(4):
            zc = z[:, g, :, :] - mean[g]
            want = -0.5 * zc[..., i] / (var[g, i] + 1e-4) + 0.25 * sum(c[i, k] * zc[..., k] for k in range(4) if k != i)
            torch.testing.assert_close(err[:, g, :, i], want)


def test_running_statistics_are_those_of_the_pooled_batches():
    """With rate 1/2, two batches of equal size give the mean and covariance of both pooled."""
    gen = torch.Generator().manual_seed(1)
    a, b = (torch.randn(2, 1, 8, 3, generator=gen, dtype=torch.float64) + k for k in (0.0, 2.0))
    stats = UnitStatistics(2)
    stats.update("x", a)
    mean, var, cov = stats.update("x", b)
    rows = torch.cat([a, b]).reshape(-1, 3)
    torch.testing.assert_close(mean[0], rows.mean(0))
    torch.testing.assert_close(cov[0], torch.cov(rows.T, correction=0))


def test_per_column_statistics_are_each_columns_own_over_the_images():
    """``per="column"``: each column's units get the statistics of its own images (a naive
    loop over columns with per-level statistics of one column), running over batches as the
    per-level ones do, and the error of each column is the per-level formula with its own."""
    gen = torch.Generator().manual_seed(3)
    a, b = (torch.randn(6, 2, 5, 4, generator=gen, dtype=torch.float64) + k for k in (0.0, 1.5))
    stats = UnitStatistics(2, per="column")
    stats.update("x", a)
    mean, var, cov = stats.update("x", b)
    assert mean.shape == (2, 5, 4) and cov.shape == (2, 5, 4, 4)
    err = anticollapse_error(b, mean, var, cov, 0.5, 0.25, eps=1e-4)
    for n in range(5):
        one = UnitStatistics(2)
        one.update("x", a[:, :, n:n + 1])
        m1, v1, c1 = one.update("x", b[:, :, n:n + 1])
        torch.testing.assert_close(mean[:, n], m1)
        torch.testing.assert_close(var[:, n], v1)
        torch.testing.assert_close(cov[:, n], c1)
        torch.testing.assert_close(err[:, :, n:n + 1], anticollapse_error(b[:, :, n:n + 1], m1, v1, c1, 0.5, 0.25,
                                                                           eps=1e-4))


def test_per_column_variance_term_sees_columns_that_ignore_their_input():
    """Columns that each vote a constant of their own, plus a little that varies with the
    image. Over the level the units vary a lot (the columns differ), so the per-level
    Hebbian term is small and points between columns, not along what the image changes;
    over each column's images the units hardly vary, so the per-column term points along
    the image-driven variation (the error is descended: it spreads the images apart) and
    is over 100 times stronger there."""
    gen = torch.Generator().manual_seed(4)
    const = torch.randn(1, 1, 6, 3, generator=gen, dtype=torch.float64)
    z = const + 1e-3 * torch.randn(8, 1, 6, 3, generator=gen, dtype=torch.float64)
    level = anticollapse_error(z, *UnitStatistics(1).update("z", z), 1.0, 0.0, eps=1e-4)
    column = anticollapse_error(z, *UnitStatistics(1, per="column").update("z", z), 1.0, 0.0, eps=1e-4)
    within = z - z.mean(0, keepdim=True)  # what varies with the image
    along = lambda e: float((e * within).sum() / (within.norm() * e.norm()))  # noqa: E731
    assert along(column) < -0.99
    assert abs(along(level)) < 0.1
    assert float((column * within).sum()) < 100 * float((level * within).sum())
    assert abs(float((column * within).sum())) > 100 * abs(float((level * within).sum()))


def test_variance_term_keeps_a_pulled_population_apart():
    """A constructed task where the pull alone collapses: linear units ``z = W x`` regress
    toward their own batch mean (a teacher that only pulls). Alone the spread of ``z`` falls
    to nothing; with the Hebbian variance term it stays above 0.3 of its start."""
    def train(variance_weight):
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(256, 6, generator=gen, dtype=torch.float64)
        w = torch.randn(6, 4, generator=gen, dtype=torch.float64) / 6**0.5
        stats = UnitStatistics(1)
        start = None
        for _ in range(400):
            z = (x @ w)[:, None, None, :]  # b g n d
            spread = float((z - z.mean(0)).norm(dim=-1).mean())
            start = spread if start is None else start
            err = z - z.mean(0, keepdim=True)  # delta toward the population mean: the pull
            if variance_weight:
                err = err + anticollapse_error(z, *stats.update("z", z), variance_weight, 0.0, eps=1e-4)
            w = w - 0.05 * x.T @ err[:, 0, 0] / len(x)
        return spread / start

    assert train(0.0) < 0.01
    assert train(0.5) > 0.3


def test_decorrelation_term_lowers_the_correlation_of_units():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(512, 4, generator=gen, dtype=torch.float64)
    w = torch.ones(4, 3, dtype=torch.float64) + 0.1 * torch.randn(4, 3, generator=gen, dtype=torch.float64)

    def off_diagonal(w):
        c = torch.corrcoef((x @ w).T)
        return float((c - torch.diag(torch.diag(c))).abs().mean())

    start = off_diagonal(w)
    stats = UnitStatistics(1)
    for _ in range(300):
        z = (x @ w)[:, None, None, :]
        err = anticollapse_error(z, *stats.update("z", z), 0.0, 1.0)
        w = w - 0.05 * x.T @ err[:, 0, 0] / len(x)
    assert off_diagonal(w) < 0.5 * start


@pytest.mark.parametrize("rule", ["delta", "temporal_derivative"])
def test_decorrelate_all_adds_decorrelation_at_the_grouped_levels_only(rule):
    """``anticollapse_levels="decorrelate_all"``: the variance term where no segment pushes (level
    0 of ``_batch``) and the decorrelation term at every level. The update is linear in the
    output error, so it must equal ungrouped(v, w) + all(0, w) - ungrouped(0, w), in float64; and
    it must differ from ungrouped(v, w) (the decorrelation at the grouped levels is not zero)."""
    batch = _batch()

    def grads(levels, v, w):
        torch.manual_seed(0)
        model = _model(columns="shared").double()
        b = batch._replace(clean=batch.clean.double(), corrupted=batch.corrupted.double(), keep=batch.keep.double())
        build_rule(rule, steps=3, teacher="island", variance_weight=v, decorrelation_weight=w,
                   anticollapse_levels=levels).accumulate(model, b)
        return {n: p.grad.clone() for n, p in model.nets.named_parameters()}

    got = grads("decorrelate_all", 1.0, 2.0)
    parts = grads("ungrouped", 1.0, 2.0), grads("all", 0.0, 2.0), grads("ungrouped", 0.0, 2.0)
    for name, g in got.items():
        torch.testing.assert_close(g, parts[0][name] + parts[1][name] - parts[2][name], rtol=1e-9, atol=1e-12)
    assert any((g - parts[0][n]).abs().max() > 1e-6 * parts[0][n].abs().max() for n, g in got.items())


def test_running_statistics_resume_from_a_checkpoint(tmp_path):
    def run(stop):
        model = _model(consensus="mean")
        rule = build_rule("temporal_derivative", steps=2, teacher="island", variance_weight=0.1, stats_window=4)
        trainer = Trainer(model, rule, lambda u: _batch(u), updates=4, checkpoint=tmp_path / f"{stop}.pt",
                          checkpoint_every=1, progress=False)
        trainer.run(stop_after=stop)
        if stop < 4:
            rule2 = build_rule("temporal_derivative", steps=2, teacher="island", variance_weight=0.1, stats_window=4)
            model2 = _model(consensus="mean")
            trainer = Trainer(model2, rule2, lambda u: _batch(u), updates=4, checkpoint=tmp_path / f"{stop}.pt",
                              checkpoint_every=1, progress=False)
            trainer.run(resume=True)
            model = model2
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    assert torch.equal(run(4), run(2))


# ---- bad input -------------------------------------------------------------------------

@pytest.mark.parametrize("field,value,message", [
    ("island_kappa", 0.0, "island_kappa=0.0 is not allowed; it must be > 0"),
    ("island_kappa", float("nan"), "island_kappa=nan is not allowed; it must be a finite number"),
    ("island_kappa", float("inf"), "island_kappa=inf is not allowed; it must be a finite number"),
    ("variance_weight", -0.1, "variance_weight=-0.1 is not allowed; it must be >= 0"),
    ("decorrelation_weight", -1.0, "decorrelation_weight=-1.0 is not allowed; it must be >= 0"),
    ("island_push", -1.0, "island_push=-1.0 is not allowed; it must be >= 0"),
    ("stats_window", 0, "stats_window=0 is not allowed; it must be > 0"),
    ("island_margin", 1.5, "island_margin=1.5 is not allowed; it must be a finite number from -1.0 to 1.0"),
    ("island_form", "push", "island_form='push' is not allowed"),
    ("island_at", "first", "island_at='first' is not allowed"),
])
def test_bad_island_options_are_refused_in_one_line(field, value, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_rule("delta", teacher="island", **{field: value})


def test_island_teacher_needs_groups_of_the_right_shape():
    model = _model()
    batch = _batch()
    rule = build_rule("delta", steps=2, teacher="island")
    with pytest.raises(ConfigError, match="teacher='island' needs batch.groups"):
        rule.accumulate(model, batch._replace(groups=None))
    with pytest.raises(ConfigError, match=r"batch.groups has shape \(4, 16\)"):
        rule.accumulate(model, batch._replace(groups=batch.groups[:, 0]))
    with pytest.raises(ConfigError, match="give integer segment ids >= 0"):
        rule.accumulate(model, batch._replace(groups=batch.groups - 1))
    with pytest.raises(ConfigError, match="give integer segment ids >= 0"):
        rule.accumulate(model, batch._replace(groups=batch.groups.float() + 0.5))


# ---- precision consensus ----------------------------------------------------------------

def test_precision_error_is_the_gradient_of_the_gaussian_nll():
    from bioglom.learning.local import LocalRule

    gen = torch.Generator().manual_seed(4)
    pred, teacher = (torch.randn(2, 3, 4, 5, generator=gen, dtype=torch.float64) for _ in range(2))
    lam = (torch.randn(2, 3, 4, 5, generator=gen, dtype=torch.float64) * 2).requires_grad_(True)
    nll = (0.5 * (lam.exp() * (teacher - pred) ** 2 - lam)).sum()
    (want,) = torch.autograd.grad(nll, lam)
    got = LocalRule.precision_error(pred, teacher, lam.detach(), positive=True)
    torch.testing.assert_close(got, want)
    assert (LocalRule.precision_error(pred, teacher, lam.detach(), positive=False) == 0).all()
    at_clamp = torch.full_like(pred, 10.0)  # pi huge: the error says "less sure", allowed; "surer" is not
    e = LocalRule.precision_error(pred, pred, at_clamp, positive=True)  # perfect prediction wants more precision
    assert (e == 0).all()


@pytest.mark.parametrize("rule", ["delta", "temporal_derivative"])
def test_local_rules_learn_the_precisions(rule):
    model = Glom(GlomConfig(levels=3, dim=8, hidden=16, image_size=8, patch_size=2, channels=3, consensus="precision"))
    out = build_rule(rule, steps=2, teacher="island").accumulate(model, _batch())
    assert torch.isfinite(out.loss)
    for mlp in (model.nets.bu, model.nets.td):
        assert mlp.w2.grad.shape == mlp.w2.shape and mlp.w2.grad[..., 8:].abs().sum() > 0  # the log-precision half
