"""Local rules: delta, temporal_derivative (each hidden credit), contrastive phases."""

import pytest
import torch

from bioglom import ConfigError, Glom, GlomConfig
from bioglom.consensus import normalise
from bioglom.data import make_scenes, moving_digits
from bioglom.learning import (RULES, Batch, NonFiniteError, Trainer, build_rule, first_non_finite_grad, hinge,
                              hinge_error)
from bioglom.learning.credit import add_update, feedback_matrix, group_cosine, local_surrogate, local_update, output_update
from bioglom.learning.local import through_norm, vote


def tiny_cfg(**kw):
    base = dict(levels=2, dim=8, image_size=8, patch_size=2, channels=3, hidden=16, radius=(1, 3))
    return GlomConfig(**{**base, **kw})


def scene_batch(n=4, seed=0):
    sc = make_scenes(n, image_size=8, objects=(1, 2), scale=(0.3, 0.5), seed=seed)
    return Batch(sc.images, sc.images.clone(), torch.ones_like(sc.images))


def grads(model):
    return {k: (p.grad.clone() if p.grad is not None else torch.zeros_like(p)) for k, p in model.named_parameters()}


def run_rule(model, rule, batch, phase="both"):
    model.zero_grad(set_to_none=True)
    out = rule.accumulate(model, batch, phase=phase)
    return out, grads(model)


# ---- the direct update against its autograd reference --------------------------------------

@pytest.mark.parametrize("kind", ["layer", "l2", "none"])
def test_through_norm_is_the_jacobian_transpose(kind):
    """The closed form equals autograd's vector-Jacobian product (float64), including a
    vector shorter than l2's eps."""
    torch.manual_seed(0)
    raw = torch.randn(4, 3, 5, 8, dtype=torch.float64) * 3
    raw[0, 0, 0] = 1e-7
    e = torch.randn_like(raw)
    r = raw.clone().requires_grad_(True)
    (want,) = torch.autograd.grad((normalise(r, kind) * e).sum(), r)
    torch.testing.assert_close(through_norm(raw, e, kind), want, rtol=1e-10, atol=1e-10)
    voted = vote(raw, kind)
    torch.testing.assert_close(voted[0], normalise(raw, kind), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(through_norm(raw, e, kind, voted=voted), want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("credit", ["local_backprop", "feedback_alignment", "frozen"])
@pytest.mark.parametrize("columns", ["shared", "unshared"])
@pytest.mark.parametrize("activation", ["gelu", "tanh", "relu", "sine"])
def test_direct_update_equals_autograd_surrogate(credit, columns, activation):
    """dW2 = h^T e, db2 = sum e and the hidden credit, computed directly, equal the
    gradient of the autograd surrogate in float64, with a location input as well."""
    torch.manual_seed(3)
    cfg = tiny_cfg(columns=columns, column_init="independent", activation=activation, td_location=True)
    model = Glom(cfg).double()
    mlp, loc = model.nets.td, model.nets.location.double()
    x = torch.randn(3, 1, cfg.n_columns, 8, dtype=torch.float64)
    e = torch.randn(3, 1, cfg.n_columns, 8, dtype=torch.float64)
    fb = feedback_matrix(mlp, 4)
    mlp.zero_grad(set_to_none=True)
    local_surrogate(mlp, x, e, loc=loc, credit=credit, feedback=fb)[0].backward()
    want = {k: p.grad.clone() for k, p in mlp.named_parameters() if p.grad is not None}
    with torch.no_grad():
        _, kept = mlp.forward_hidden(x, loc)  # the hidden layer as a settling step leaves it
    for hidden in (None, kept):
        mlp.zero_grad(set_to_none=True)
        update, _ = local_update(mlp, x, e, loc=loc, credit=credit, feedback=fb, hidden=hidden)
        add_update(mlp, update)
        got = {k: p.grad for k, p in mlp.named_parameters() if p.grad is not None}
        assert set(got) == set(want) == ({"w2", "b2"} if credit == "frozen" else {"w1", "b1", "w2", "b2", "u"})
        for k in want:
            torch.testing.assert_close(got[k], want[k], rtol=1e-10, atol=1e-12, msg=k)


@pytest.mark.parametrize("rule", ["delta", "temporal_derivative"])
@pytest.mark.parametrize("columns", ["shared", "unshared"])
def test_rule_reads_the_steps_hidden_layer_as_if_recomputed(rule, columns, monkeypatch):
    """A rule forms its update from the hidden layer the settling step kept
    (StepRecord.hidden); the update equals the one from the layer computed again, in
    float64, and the kept layer is the nets' own on the step's input."""
    torch.manual_seed(2)
    model = Glom(tiny_cfg(columns=columns, column_init="independent")).double()
    batch = Batch(*(t.double() if t.is_floating_point() else t for t in scene_batch()[:3]))
    r = build_rule(rule, steps=3, hidden_credit="local_backprop")
    seen = []
    settle = model.settle

    def spy(*a, on_step=None, **kw):
        def wrapped(rec):
            seen.append(rec)
            on_step(rec)
        return settle(*a, on_step=wrapped, **kw)

    monkeypatch.setattr(model, "settle", spy)
    model.zero_grad(set_to_none=True)
    r.accumulate(model, batch)
    kept = {k: p.grad.clone() for k, p in model.nets.named_parameters()}
    rec = seen[0]
    src = torch.cat([rec.inputs[:, None], rec.state[:, :-1]], 1)
    torch.testing.assert_close(rec.hidden[0][0], model.nets.bu.hidden_pre(src, None, slice(None)), rtol=0, atol=0)

    def forgetful(*a, on_step=None, **kw):
        return settle(*a, on_step=lambda rec: on_step(rec._replace(hidden=None)), **kw)

    monkeypatch.setattr(model, "settle", forgetful)
    model.zero_grad(set_to_none=True)
    r.accumulate(model, batch)
    for k, p in model.nets.named_parameters():
        torch.testing.assert_close(p.grad, kept[k], rtol=1e-10, atol=1e-13, msg=k)


# ---- the temporal-derivative update and its relation to delta ----------------------------

@pytest.mark.parametrize("columns", ["shared", "unshared"])
def test_td_update_equals_delta_update_where_state_is_own_prediction(columns):
    torch.manual_seed(0)
    cfg = tiny_cfg(columns=columns, column_init="independent")
    mlp = Glom(cfg).nets.bu
    x = torch.randn(3, 2, cfg.n_columns, 8)
    raw = mlp(x)
    pred = normalise(raw, "layer")
    state = pred.clone()  # the constructed case: s_t is the student's own prediction
    teacher = normalise(torch.randn_like(pred), "layer")
    td_rule, delta_rule = build_rule("temporal_derivative"), build_rule("delta")
    e_td = through_norm(raw, td_rule.positive_error(pred, state, teacher), "layer")
    e_delta = through_norm(raw, delta_rule.positive_error(pred, state, teacher), "layer")
    out = []
    for e in (e_td, e_delta):
        mlp.zero_grad(set_to_none=True)
        surrogate, h = local_surrogate(mlp, x, e)
        surrogate.backward()
        out.append([p.grad.clone() for p in mlp.parameters()])
    for a, b in zip(*out):
        assert torch.equal(a, b)
    cos = group_cosine(output_update(mlp, h, e_td), output_update(mlp, h, e_delta))
    assert torch.allclose(cos, torch.ones_like(cos), atol=1e-12)
    # and away from that case the two differ (the test above can fail)
    e_off = through_norm(raw, td_rule.positive_error(pred, normalise(torch.randn_like(pred), "layer"), teacher), "layer")
    assert (group_cosine(output_update(mlp, h, e_off), output_update(mlp, h, e_delta)) < 0.99).all()


@pytest.mark.parametrize("norm", ["none", "layer"])
@pytest.mark.parametrize("columns", ["shared", "unshared"])
def test_td_update_is_gradient_of_surrogate(norm, columns):
    """One step: the accumulated update equals the autograd gradient of
    -<sg(s_1 - s_0), f(x_0)> (f: the normalised vote), written out naively."""
    torch.manual_seed(1)
    cfg = tiny_cfg(norm=norm, columns=columns, column_init="independent")
    model = Glom(cfg).double()  # float64: the two computations may differ only by rounding
    batch = Batch(*(None if t is None else t.double() for t in scene_batch()))
    rule = build_rule("temporal_derivative", steps=1, negative_weight=0.0, frontend="fixed")
    _, got = run_rule(model, rule, batch)

    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        traj = model.settle(batch.corrupted, 1)
        inputs = model.encode(batch.corrupted)
    s0, s1 = traj.states[0], traj.states[1]
    bu = model.nets.bottom_up(torch.cat([inputs[:, None], s0[:, :-1]], 1)).mean
    td = model.nets.top_down(s0[:, 1:]).mean
    ds = s1 - s0
    b, L, n, d = s0.shape
    surrogate = -(ds * normalise(bu, norm)).sum() - (ds[:, :-1] * normalise(td, norm)).sum()
    (surrogate / (b * n * d)).backward()
    want = grads(model)
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=1e-10, atol=1e-13, msg=k)
    assert any(got[k].abs().sum() > 0 for k in got if k.startswith("nets."))


def test_feedback_alignment_routes_error_through_fixed_matrix():
    torch.manual_seed(2)
    cfg = tiny_cfg(activation="tanh")
    mlp = Glom(cfg).nets.bu
    x, e = torch.randn(3, 2, cfg.n_columns, 8), torch.randn(3, 2, cfg.n_columns, 8)
    B = feedback_matrix(mlp, seed=5)

    def w1_grad(credit):
        mlp.zero_grad(set_to_none=True)
        local_surrogate(mlp, x, e, credit=credit, feedback=B)[0].backward()
        return mlp.w1.grad.clone()

    pre = mlp.hidden_pre(x, None, slice(None))  # g b n h
    back = torch.einsum("gbnd,ghd->gbnh", e.transpose(0, 1), B) * (1 - torch.tanh(pre) ** 2)
    want = torch.einsum("gbni,gbnh->gih", x.transpose(0, 1), back)
    fa = w1_grad("feedback_alignment")
    assert torch.allclose(fa, want, atol=1e-5)
    assert not torch.allclose(fa, w1_grad("local_backprop"), atol=1e-3)
    with torch.no_grad():
        mlp.w2.mul_(-3.0)  # the forward weights change; the feedback path does not
    assert torch.allclose(w1_grad("feedback_alignment"), fa)
    mlp.zero_grad(set_to_none=True)
    local_surrogate(mlp, x, e, credit="frozen")[0].backward()
    assert mlp.w1.grad is None and mlp.w2.grad is not None  # frozen: only the output layer learns


def test_td_alignment_is_one_at_first_step_for_bottom_up():
    """With a bottom-up initial state, every bottom-up student's prediction *is* s_0, so
    T1's cosine is exactly 1 there."""
    model = Glom(tiny_cfg())
    out = build_rule("temporal_derivative", steps=3, measure_alignment=True).accumulate(model, scene_batch())
    a = out.metrics["alignment"]  # step direction level
    assert torch.allclose(a[0, 0], torch.ones(2, dtype=a.dtype), atol=1e-6)
    trivial = out.metrics["alignment_trivial"]
    assert trivial[0, 0].all() and not trivial[1:].any() and not trivial[:, 1].any()
    assert a[:, 1, -1].isnan().all()  # the top level has no top-down net
    assert (a[1:, 0] < 0.999).any()


# ---- locality ------------------------------------------------------------------------

def column_grads(g, col):
    return {k: v[:, col] for k, v in g.items() if k.startswith("nets.") and v.dim() >= 2}


@pytest.mark.parametrize("rule_name", ["delta", "temporal_derivative"])
def test_unshared_update_ignores_columns_outside_neighbourhood(rule_name):
    torch.manual_seed(3)
    cfg = tiny_cfg(columns="unshared", radius=(1, 1), column_init="independent")  # grid 4x4
    model = Glom(cfg)
    rule = build_rule(rule_name, steps=1, frontend="fixed")
    batch = scene_batch()
    _, base = run_rule(model, rule, batch)

    def perturbed(y, x):
        img = batch.corrupted.clone()
        img[:, :, 2 * y:2 * y + 2, 2 * x:2 * x + 2] += 0.5
        return run_rule(model, rule, Batch(batch.clean, img, batch.keep))[1]

    far = perturbed(3, 3)  # column 15, outside column 0's radius-1 window at every level
    for k, v in column_grads(base, 0).items():
        assert torch.allclose(v, column_grads(far, 0)[k], rtol=0, atol=1e-7), k
    assert not torch.allclose(column_grads(base, 15)["nets.bu.w2"], column_grads(far, 15)["nets.bu.w2"])
    near = perturbed(1, 1)  # column 5, inside column 0's window: its update does change
    assert not torch.allclose(column_grads(base, 0)["nets.bu.w2"], column_grads(near, 0)["nets.bu.w2"])


@pytest.mark.parametrize("rule_name", ["delta", "temporal_derivative"])
def test_no_state_keeps_a_graph_under_local_rules(rule_name, monkeypatch):
    model = Glom(tiny_cfg())
    seen = []
    settle = model.settle

    def spy(*args, on_step=None, **kw):
        def hook(rec):
            seen.append((rec.state.requires_grad, rec.state.grad_fn, rec.new.grad_fn, rec.inputs.grad_fn))
            on_step(rec)
        return settle(*args, on_step=hook, **kw)

    monkeypatch.setattr(model, "settle", spy)
    out = build_rule(rule_name, steps=4).accumulate(model, scene_batch())
    assert len(seen) == 4
    assert all(not rg and a is None and b is None and c is None for rg, a, b, c in seen)
    assert out.trajectory.states.grad_fn is None and out.trajectory.states.shape[0] == 2


# ---- contrastive phases ----------------------------------------------------------------

def test_hinge_is_zero_beyond_margin_and_positive_inside():
    d = 8
    pred = torch.zeros(4, d)
    other = torch.zeros(4, d)
    other[:, 0] = torch.tensor([0.5, 2.0, 2.9, 3.0]) ** 0.5 * d ** 0.5  # dist = 0.5, 2.0, 2.9, 3.0
    h = hinge(pred, other, margin=2.9)
    assert torch.allclose(h[:2], torch.tensor([2.4, 0.9]))
    assert (h[:2] > 0).all() and torch.equal(h[2:], torch.zeros(2))
    e = hinge_error(pred, other, margin=2.9)
    assert torch.equal(e[2:], torch.zeros(2, d)) and (e[:2].abs().sum(1) > 0).all()
    p = pred.clone().requires_grad_(True)
    hinge(p, other, 2.9).sum().backward()
    assert torch.allclose(p.grad, e)


def test_phases_split_the_update():
    model = Glom(tiny_cfg())
    rule = build_rule("delta", steps=2, frontend="fixed")
    batch = scene_batch()
    _, both = run_rule(model, rule, batch, "both")
    out_p, pos = run_rule(model, rule, batch, "positive")
    out_n, neg = run_rule(model, rule, batch, "negative")
    assert out_p.metrics["hinge"] == 0 and out_n.metrics["agreement"] == 0 and out_n.metrics["hinge"] > 0
    for k in both:
        assert torch.allclose(both[k], pos[k] + neg[k], atol=1e-6), k
    with pytest.raises(ConfigError, match="phase='awake'"):
        rule.accumulate(model, batch, phase="awake")


def test_near_frame_negatives_on_video():
    vid = moving_digits(3, frames=4, size=8, seed=0).images
    cfg = tiny_cfg(channels=1)
    model = Glom(cfg)
    batch = Batch(vid, vid, torch.ones_like(vid))
    out = build_rule("delta", steps=2, negative="near_frame", near_gap=2).accumulate(model, batch, phase="negative")
    assert out.metrics["hinge"] > 0  # frames 2 and 3 have negatives
    with pytest.raises(ConfigError, match="near_gap=4"):
        build_rule("delta", negative="near_frame", near_gap=4).accumulate(model, batch)
    with pytest.raises(ConfigError, match="near_gap=0"):
        build_rule("delta", negative="near_frame", near_gap=0)


# ---- every rule --------------------------------------------------------------------------

@pytest.mark.parametrize("rule_name", sorted(RULES))
def test_rules_leave_inputs_unmodified(rule_name):
    model = Glom(tiny_cfg())
    batch = scene_batch()
    copies = [t.clone() for t in batch[:3]]
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    build_rule(rule_name, steps=2).accumulate(model, batch)
    assert all(torch.equal(a, b) for a, b in zip(batch[:3], copies))
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())


def test_delta_rule_lowers_its_own_loss():
    """A few hundred positive updates on one fixed batch: the delta objective (agreement
    with the consensus) must fall below a fifth of its untrained value."""
    torch.manual_seed(0)
    model = Glom(tiny_cfg())
    rule = build_rule("delta", steps=3, frontend="fixed", negative_weight=0.0)
    fixed = scene_batch(8)
    start = rule.accumulate(model, fixed).metrics["loss"]
    model.zero_grad(set_to_none=True)
    Trainer(model, rule, lambda u: fixed, updates=200, lr=3e-3, progress=False).run()
    assert rule.accumulate(model, fixed).metrics["loss"] < 0.2 * start


@pytest.mark.parametrize("credit", ["local_backprop", "feedback_alignment", "frozen"])
def test_temporal_derivative_rule_lowers_its_loss_where_states_improve(credit):
    """The regime the rule assumes (paper 12.3): the state starts at the student's own
    prediction and improves toward a consensus, ``s_{t+1} = norm((f(x) + c) / 2)``. Then
    pre x (s_{t+1} - s_t) must drive ``||f(x) - c||^2 / D`` below a tenth of its untrained
    value in 300 updates, for every hidden credit. (Inside full GLOM, where the state is
    not the student's prediction, it does not: see simulations/temporal_derivative.py.)"""
    torch.manual_seed(0)
    cfg = tiny_cfg(hidden=32)
    mlp = Glom(cfg).nets.bu
    x = torch.randn(16, 2, cfg.n_columns, 8)
    target = normalise(torch.einsum("bgni,gio->bgno", x, torch.randn(2, 8, 8)), "layer")  # a learnable consensus
    rule = build_rule("temporal_derivative", hidden_credit=credit)
    opt = torch.optim.Adam(mlp.parameters(), 3e-3)
    fb = feedback_matrix(mlp, 0)

    def loss():
        with torch.no_grad():
            return float(((normalise(mlp(x), "layer") - target) ** 2).sum(-1).mean() / 8)

    start = loss()
    for _ in range(300):
        raw = mlp(x).detach()
        pred = normalise(raw, "layer")
        improved = normalise((pred + target) / 2, "layer")
        e = through_norm(raw, rule.positive_error(pred, pred, improved), "layer")
        opt.zero_grad()
        local_surrogate(mlp, x, e / e[..., 0].numel(), credit=credit, feedback=fb)[0].backward()
        opt.step()
    assert loss() < 0.1 * start


def test_local_rule_bad_options():
    with pytest.raises(ConfigError, match="hidden_credit='backprop'"):
        build_rule("temporal_derivative", hidden_credit="backprop")
    with pytest.raises(ConfigError, match="margin=-0.5"):
        build_rule("delta", margin=-0.5)
    with pytest.raises(ConfigError, match="teacher='oracle'"):
        build_rule("delta", teacher="oracle")
    with pytest.raises(ConfigError, match="lr=-0.1"):
        Trainer(Glom(tiny_cfg()), build_rule("delta"), lambda u: scene_batch(), updates=1, lr=-0.1)
    with pytest.raises(ConfigError, match="consensus='oscillator' is not allowed with rule='delta'"):
        build_rule("delta").accumulate(Glom(tiny_cfg(consensus="oscillator", norm="groups")), scene_batch())
    with pytest.raises(ConfigError, match="measure_alignment=True is not allowed with consensus='precision'"):
        build_rule("temporal_derivative", measure_alignment=True).accumulate(Glom(tiny_cfg(consensus="precision")),
                                                                            scene_batch())


def test_non_finite_local_update_names_step_level_and_net(tmp_path):
    model = Glom(tiny_cfg())
    ckpt = tmp_path / "c.pt"
    trainer = Trainer(model, build_rule("temporal_derivative", steps=2), lambda u: scene_batch(), updates=4,
                      checkpoint=ckpt, checkpoint_every=1, progress=False)
    trainer.run(stop_after=1)
    with torch.no_grad():
        model.nets.bu.b2[1] = float("inf")
    with pytest.raises(NonFiniteError, match=r"update 1, settling step 0 \(frame 0\), level 1, bottom_up net"):
        trainer.run()
    assert torch.load(ckpt, weights_only=False)["update"] == 1


def test_first_non_finite_grad_names_net_and_level():
    model = Glom(tiny_cfg())
    assert first_non_finite_grad(model) is None
    model.nets.td.w1.grad = torch.zeros_like(model.nets.td.w1)
    model.nets.bu.w2.grad = torch.zeros_like(model.nets.bu.w2)
    model.nets.bu.w2.grad[1, 0, 0] = float("nan")
    assert first_non_finite_grad(model) == "bottom-up net (nets.bu.w2), level 1"
