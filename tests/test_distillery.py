"""The giant distillery: foveated retina geometry, dispersion, ensemble gain, and the
column independence of the unshared control."""

import numpy as np
import pytest
import torch

from bioglom import Glom, GlomConfig
from bioglom.experiments.distillery import column_outputs, dispersion, ensemble_gain
from bioglom.config import ConfigError
from bioglom.learning import Batch, build_rule
from bioglom.learning.conditions import condition_config, condition_teacher
from bioglom.retina import receptive_fields


def config(**kw):
    base = dict(levels=3, dim=16, hidden=24, image_size=12, patch_size=2, channels=1, radius=(1, 2, 5))
    return GlomConfig(**{**base, **kw})


# ---- foveated retina ---------------------------------------------------------------

@pytest.mark.parametrize("fixation", [(1, 4), (3, 3), (0, 5)])
def test_fields_grow_with_eccentricity_and_fixation_is_finest(fixation):
    rf = receptive_fields(config(retina="foveated", fixation=fixation, foveation=2.0))
    area = (rf["height"] * rf["width"]).reshape(6, 6)
    fy, fx = fixation
    others = np.delete(area.ravel(), fy * 6 + fx)
    assert area[fy, fx] < others.min()
    for line in (area[fy, fx:], area[fy, fx::-1], area[fy:, fx], area[fy::-1, fx]):  # rays from the fixation
        assert np.all(np.diff(line) > 0)
    # any column: a larger offset along one axis, the other fixed, never shrinks the field
    rows = np.abs(np.arange(6) - fy)
    for c in range(6):
        order = np.argsort(rows, kind="stable")
        assert np.all(np.diff(area[order, c][np.r_[True, np.diff(rows[order]) > 0]]) > 0)


def test_centred_foveated_fields_tile_the_image_and_uniform_is_identity():
    rf = receptive_fields(config(retina="foveated"))
    assert rf["top"].min() == 0 and np.isclose((rf["top"] + rf["height"]).max(), 12)
    assert np.isclose((rf["height"] * rf["width"]).sum(), 144)  # a tiling: areas add up to the image
    x = torch.rand(3, 1, 12, 12)
    assert torch.equal(Glom(config()).retinal(x), x)
    flat = Glom(config(retina="foveated", foveation=1.0)).retinal(x)  # gamma 1: the uniform geometry, resampled
    torch.testing.assert_close(flat, x, atol=1e-5, rtol=0)


def test_foveated_retina_samples_each_field_at_its_cell_centres():
    """A linear ramp image: bilinear sampling returns the ramp's value at each sample point exactly."""
    cfg = config(retina="foveated", fixation=(2, 1), foveation=1.7)
    ys, xs = np.meshgrid(np.arange(12) + 0.5, np.arange(12) + 0.5, indexing="ij")  # pixel centres
    ramp = torch.tensor(0.3 * ys + 0.05 * xs, dtype=torch.float32)[None, None]
    out = Glom(cfg).retinal(ramp)[0, 0]
    pts = receptive_fields(cfg)["points"][0]  # n p p 2
    # inside [0.5, 11.5] bilinear interpolation of a linear function is exact
    want = 0.3 * pts[..., 0] + 0.05 * pts[..., 1]
    got = out.reshape(6, 2, 6, 2).permute(0, 2, 1, 3).reshape(36, 2, 2).numpy()
    inside = ((pts >= 0.5) & (pts <= 11.5)).all(-1)
    assert inside.sum() > 100
    np.testing.assert_allclose(got[inside], want[inside], atol=1e-5)


def test_each_channel_is_sampled_at_its_own_aberrated_points():
    cfg = config(retina="foveated", channels=3, foveation=1.7, aberration=0.4)
    ys, xs = np.meshgrid(np.arange(12) + 0.5, np.arange(12) + 0.5, indexing="ij")
    ramps = np.stack([0.3 * ys + 0.05 * xs, -0.1 * ys + 0.2 * xs, 0.07 * ys - 0.3 * xs])  # one ramp per channel
    out = Glom(cfg).retinal(torch.tensor(ramps, dtype=torch.float32)[None])[0]  # c h w
    pts = receptive_fields(cfg)["points"]  # c n p p 2
    for c, (a, b) in enumerate([(0.3, 0.05), (-0.1, 0.2), (0.07, -0.3)]):
        got = out[c].reshape(6, 2, 6, 2).permute(0, 2, 1, 3).reshape(36, 2, 2).numpy()
        inside = ((pts[c] >= 0.5) & (pts[c] <= 11.5)).all(-1)
        np.testing.assert_allclose(got[inside], (a * pts[c][..., 0] + b * pts[c][..., 1])[inside], atol=1e-5)
    assert not np.allclose(pts[0], pts[2])  # the channels do look at different points


def test_bad_retina_values_name_the_field():
    for kw, field in ((dict(retina="fish"), "retina='fish'"), (dict(retina="foveated", fixation=(6, 0)), "fixation="),
                      (dict(retina="foveated", fixation=(-1, 2)), "fixation="),
                      (dict(retina="foveated", foveation=0.5), "foveation=0.5"),
                      (dict(retina="foveated", aberration=3.0), "aberration=3.0"),
                      (dict(aberration=0.5), "aberration=0.5")):
        with pytest.raises(ConfigError, match=field.replace("(", r"\(")):
            config(**kw)
    config(retina="foveated", aberration=0.2)  # a small shift stays inside the image


def test_model_learns_on_a_foveated_retina_with_its_retinal_target():
    cfg = config(retina="foveated", columns="unshared", column_init="independent")
    model = Glom(cfg)
    x = torch.rand(4, 1, 12, 12)
    build_rule("delta", steps=2).accumulate(model, Batch(x, x, torch.ones_like(x)))
    assert model.decoder.parameters().__next__().grad is not None


# ---- dispersion ----------------------------------------------------------------------

def test_dispersion_is_zero_for_shared_and_for_copies_and_positive_for_independent_nets():
    x = torch.randn(10, 16)
    shared = Glom(config(columns="shared", td_location=False))
    copies = Glom(config(columns="unshared", column_init="identical"))
    independent = Glom(config(columns="unshared", column_init="independent"))
    for model in (shared, copies):
        for d in ("bottom_up", "top_down"):
            assert torch.equal(dispersion(column_outputs(model, x, d)), torch.zeros(3 if d == "bottom_up" else 2))
    assert (dispersion(column_outputs(independent, x)) > 0.3).all()


def test_dispersion_matches_a_naive_loop():
    y = torch.randn(5, 2, 7, 3, dtype=torch.float64)
    for g in range(2):
        spread = sum(float((y[p, g, n] - y[p, g].mean(0)).pow(2).sum()) for p in range(5) for n in range(7)) / 35
        norm = sum(float(y[p, g, n].norm()) for p in range(5) for n in range(7)) / 35
        assert np.isclose(float(dispersion(y)[g]), np.sqrt(spread) / norm, rtol=1e-12)


def test_column_outputs_equal_the_nets_applied_per_column():
    model = Glom(config(columns="unshared", column_init="independent"))
    x = torch.randn(3, 16)
    out = column_outputs(model, x, "bottom_up")  # p g n d
    bu = model.nets.bu
    n, l = 7, 1
    h = torch.nn.functional.gelu(x @ bu.w1[l, n] + bu.b1[l, n])
    torch.testing.assert_close(out[:, l, n], h @ bu.w2[l, n] + bu.b2[l, n])


# ---- ensemble gain -------------------------------------------------------------------

def test_ensemble_gain_closed_form():
    """Targets equal within an island: gain = ||mean e||^2 / mean ||e_n||^2 pooled over islands."""
    t = torch.tensor([1.0, -2.0, 0.5])
    e = torch.tensor([[1.0, 0, 0], [-1.0, 0, 0], [0, 2.0, 0], [0, 0, 0]])  # island 0: rows 0-2; island 1: row 3
    e[3] = torch.tensor([0.5, 0.5, 0.5])
    pred = (t + e)[None]
    islands = torch.tensor([[0, 0, 0, 1]])
    mean0 = e[:3].mean(0)
    want = (3 * mean0.pow(2).sum() + e[3].pow(2).sum()) / e.pow(2).sum()  # a singleton gains nothing
    assert torch.isclose(ensemble_gain(pred, t.expand(1, 4, 3), islands), want.double())
    # predictions that cancel within one island: perfect ensemble
    assert ensemble_gain((t + torch.tensor([[1.0, 0, 0], [-1.0, 0, 0]]))[None], t.expand(1, 2, 3),
                         torch.tensor([[0, 0]])) == 0


def test_ensemble_gain_per_level_equals_one_call_per_level():
    g = torch.Generator().manual_seed(0)
    p, t = torch.randn(4, 3, 10, 5, generator=g), torch.randn(4, 3, 10, 5, generator=g)
    islands = torch.randint(0, 3, (4, 3, 10), generator=g)
    per_level = torch.stack([ensemble_gain(p[:, l], t[:, l], islands[:, l]) for l in range(3)])
    torch.testing.assert_close(ensemble_gain(p, t, islands), per_level, rtol=1e-12, atol=0)


def test_ensemble_gain_above_one_when_predictions_track_varied_targets():
    t = torch.randn(1, 6, 4)
    pred = t + 0.01 * torch.randn(1, 6, 4)
    assert ensemble_gain(pred, t, torch.zeros(1, 6, dtype=torch.long)) > 1


# ---- the unshared control differs from co-distillation in the teacher only -----------------

def test_unshared_and_distilled_settle_alike_and_differ_in_the_teacher_only():
    """Same config (lateral attention on in both), same settling; the update of column 0
    differs, and only the teacher differs."""
    assert condition_config(config(), "unshared") == condition_config(config(), "distilled")
    assert condition_config(config(), "unshared").weights_end[3] > 0  # lateral attention kept
    assert condition_teacher("unshared") == "no_lateral" and condition_teacher("distilled") == "full"
    x = torch.rand(4, 1, 12, 12)
    models = {c: Glom(condition_config(config(), c)) for c in ("unshared", "distilled")}
    with torch.no_grad():
        a, b = (models[c].settle(x, 3).states for c in ("unshared", "distilled"))
    assert torch.equal(a, b)

    def column0_grads(cond):
        model = Glom(condition_config(config(), cond))
        rule = build_rule("temporal_derivative", frontend="fixed", steps=3, teacher=condition_teacher(cond))
        rule.accumulate(model, Batch(x, x, torch.ones_like(x)), torch.Generator().manual_seed(0))
        return [p.grad[:, 0].clone() for p in (model.nets.bu.w1, model.nets.bu.w2, model.nets.td.w1, model.nets.td.w2)]

    assert any(not torch.equal(u, d) for u, d in zip(column0_grads("unshared"), column0_grads("distilled")))
