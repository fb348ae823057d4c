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
