import pytest
import torch

from bioglom import GlomConfig
from bioglom.consensus import combine, consensus_weights, normalise


@pytest.mark.parametrize("which", range(4))
def test_one_nonzero_weight_returns_that_contribution(which):
    c = torch.randn(4, 2, 3, 5, 6, dtype=torch.float64)
    w = torch.zeros(4, 3, dtype=torch.float64)
    w[which] = 0.7
    torch.testing.assert_close(combine(c, w), c[which], rtol=0, atol=1e-15)


def test_absent_contribution_with_nan_does_not_leak():
    c = torch.randn(4, 1, 2, 3, 4)
    c[1, :, -1] = float("nan")  # the top level's top-down term is absent
    w = torch.ones(4, 2)
    w[1, -1] = 0
    assert torch.isfinite(combine(c, w)).all()


def test_precision_weighted_mean_is_product_of_gaussians():
    """Closed form vs. a numerical product of Gaussian densities on a fine grid (float64)."""
    gen = torch.Generator().manual_seed(0)
    mu = torch.randn(4, generator=gen, dtype=torch.float64)
    prec = torch.rand(4, generator=gen, dtype=torch.float64) * 3 + 0.2
    a = torch.tensor([1.0, 0.5, 2.0, 0.3], dtype=torch.float64)
    got = combine(mu.view(4, 1, 1, 1, 1), a.view(4, 1), prec.view(4, 1, 1, 1, 1)).item()
    x = torch.linspace(-10, 10, 200001, dtype=torch.float64)
    # weighted geometric mean of N(mu_i, 1/prec_i) with exponents a_i, renormalised
    log_p = (a[:, None] * (-0.5 * prec[:, None] * (x - mu[:, None]) ** 2)).sum(0)
    p = torch.exp(log_p - log_p.max())
    mean = (x * p).sum() / p.sum()
    assert got == pytest.approx(mean.item(), abs=1e-9)


def test_schedule_interpolates_and_drops_top_down_at_top():
    cfg = GlomConfig(levels=3, weights_start=(1.0, 0.0, 1.0, 0.0), weights_end=(0.0, 1.0, 1.0, 1.0))
    first, mid, last = (consensus_weights(cfg, t, 5) for t in (0, 2, 4))
    torch.testing.assert_close(first[:, 0], torch.tensor([1.0, 0.0, 1.0, 0.0]))
    torch.testing.assert_close(mid[:, 0], torch.tensor([0.5, 0.5, 1.0, 0.5]))
    torch.testing.assert_close(last[:, 1], torch.tensor([0.0, 1.0, 1.0, 1.0]))
    assert (torch.stack([first, mid, last])[:, 1, -1] == 0).all()


def test_normalisations():
    x = torch.randn(3, 16, dtype=torch.float64) * 5 + 2
    ln = normalise(x, "layer")
    torch.testing.assert_close(ln.mean(-1), torch.zeros(3, dtype=torch.float64), atol=1e-12, rtol=0)
    l2 = normalise(x, "l2")
    torch.testing.assert_close(l2.norm(dim=-1), torch.full((3,), 4.0, dtype=torch.float64))
    assert normalise(x, "none") is x


# ---- oscillators (consensus="oscillator", AKOrN) -------------------------------------------

def test_oscillator_step_keeps_every_group_on_its_sphere():
    from bioglom.consensus import oscillator_step

    torch.manual_seed(0)
    x = normalise(torch.randn(3, 2, 5, 12), "groups", group=4)
    for omega in (0.0, 0.7):
        new = oscillator_step(x, 5 * torch.randn(3, 2, 5, 12), rate=0.8, omega=omega, group=4)
        torch.testing.assert_close(new.reshape(3, 2, 5, 3, 4).norm(dim=-1), torch.full((3, 2, 5, 3), 2.0))


def test_oscillator_step_two_phases_closed_form():
    """Two 2-D oscillators of radius r = sqrt(2) coupled to each other only, by a unit drive
    toward the other: each turns by atan(rate sin(dtheta) / r) toward the other (the radial
    part of the drive is projected away), so the mean phase stays and the difference
    shrinks by the closed form every step until they agree."""
    import math

    from bioglom.consensus import oscillator_step

    rate = 0.5
    theta = torch.tensor([0.3, 2.2], dtype=torch.float64)
    for _ in range(30):
        x = math.sqrt(2) * torch.stack([theta.cos(), theta.sin()], -1)  # 2 oscillators, radius sqrt(2)
        drive = x.flip(0) / math.sqrt(2)  # each is driven by the other (unit strength)
        new = oscillator_step(x, drive, rate=rate, group=2)
        got = torch.atan2(new[:, 1], new[:, 0])
        d = theta[1] - theta[0]
        turn = math.atan(rate * math.sin(d) / math.sqrt(2))
        torch.testing.assert_close(got, torch.stack([theta[0] + turn, theta[1] - turn]), rtol=0, atol=1e-12)
        theta = got
    assert abs(float(theta[1] - theta[0])) < 1e-6
    torch.testing.assert_close(theta.mean(), torch.tensor(1.25, dtype=torch.float64))


def test_oscillators_with_coupling_only_synchronise_a_connected_group():
    """Settling with lateral attention as the only drive (no stimulus): every column of the
    grid, a connected group under the window neighbourhood, ends in one state."""
    from bioglom import Glom, GlomConfig

    cfg = GlomConfig(levels=2, dim=8, image_size=8, patch_size=2, channels=1, consensus="oscillator", norm="groups",
                     oscillator_group=2, oscillator_rate=0.5, radius=1, beta_start=1.0, beta_end=1.0,
                     weights_start=(0.0, 0.0, 1.0, 1.0), weights_end=(0.0, 0.0, 1.0, 1.0))
    model = Glom(cfg)
    with torch.no_grad():
        traj = model.settle(torch.rand(2, 1, 8, 8), steps=200, record=False)
    unit = torch.nn.functional.normalize(traj.final.reshape(2, 2, 16, 4, 2), dim=-1)
    spread = 1 - (unit * unit.mean(2, keepdim=True)).sum(-1).mean()
    start = torch.nn.functional.normalize(traj.states[0].reshape(2, 2, 16, 4, 2), dim=-1)
    assert spread < 1e-3 < 1 - (start * start.mean(2, keepdim=True)).sum(-1).mean()


def test_oscillator_config_bad_input():
    from bioglom import ConfigError, GlomConfig

    with pytest.raises(ConfigError, match="oscillator_group=3 is not allowed"):
        GlomConfig(dim=12, consensus="oscillator", norm="groups", oscillator_group=3)
    with pytest.raises(ConfigError, match="oscillator_group=8 is not allowed with dim=12"):
        GlomConfig(dim=12, consensus="oscillator", norm="groups", oscillator_group=8)
    with pytest.raises(ConfigError, match="norm='layer' is not allowed with consensus='oscillator'"):
        GlomConfig(consensus="oscillator")
