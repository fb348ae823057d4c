import pytest
import torch
import torch.nn.functional as F

from bioglom import Glom, GlomConfig
from bioglom.columns import StackedMLP, activation_fn


def naive_loop(mlp: StackedMLP, x, loc=None):
    """Reference: every (level, column) net applied on its own with F.linear."""
    b, G, n, _ = x.shape
    out = torch.empty(b, G, n, mlp.w2.shape[-1], dtype=x.dtype)
    for g in range(G):
        for c in range(n):
            w1 = mlp.w1[g] if mlp.shared else mlp.w1[g, c]
            b1 = mlp.b1[g] if mlp.shared else mlp.b1[g, c]
            w2 = mlp.w2[g] if mlp.shared else mlp.w2[g, c]
            b2 = mlp.b2[g] if mlp.shared else mlp.b2[g, c]
            pre = F.linear(x[:, g, c], w1.T, b1)
            if loc is not None:
                u = mlp.u[g] if mlp.shared else mlp.u[g, c]
                pre = pre + loc[c] @ u
            out[:, g, c] = F.linear(mlp.act(pre), w2.T, b2)
    return out


@pytest.mark.parametrize("columns", [None, 6])
@pytest.mark.parametrize("location_dim", [0, 4])
def test_batched_equals_naive_loop(columns, location_dim):
    gen = torch.Generator().manual_seed(0)
    mlp = StackedMLP(3, columns, 5, 7, 4, location_dim=location_dim, identical=False, generator=gen).double()
    x = torch.randn(2, 3, 6, 5, dtype=torch.float64)
    loc = torch.randn(6, location_dim, dtype=torch.float64) if location_dim else None
    torch.testing.assert_close(mlp(x, loc), naive_loop(mlp, x, loc), rtol=0, atol=1e-13)


def test_independent_init_differs_identical_init_copies():
    gen = torch.Generator().manual_seed(0)
    ind = StackedMLP(2, 5, 4, 6, 4, identical=False, generator=gen)
    same = StackedMLP(2, 5, 4, 6, 4, identical=True, generator=gen)
    assert not torch.equal(ind.w1[:, 0], ind.w1[:, 1])
    assert torch.equal(same.w1[:, 0], same.w1[:, 4]) and torch.equal(same.b2[:, 2], same.b2[:, 3])


@pytest.mark.parametrize("consensus", ["mean", "precision"])
@pytest.mark.parametrize("activation", ["gelu", "sine"])
def test_unshared_copies_of_shared_give_shared_result(consensus, activation):
    common = dict(levels=3, dim=8, image_size=8, patch_size=2, channels=1, hidden=16, td_location=True,
                  consensus=consensus, activation=activation, radius=(1, 2, 3))
    shared = Glom(GlomConfig(columns="shared", **common)).double()
    unshared = Glom(GlomConfig(columns="unshared", column_init="independent", seed=5, **common)).double()
    unshared.load_state_dict({k: v for k, v in shared.state_dict().items() if not k.startswith("nets.")}, strict=False)
    unshared.nets.bu.load_shared(shared.nets.bu)
    unshared.nets.td.load_shared(shared.nets.td)
    images = torch.rand(3, 1, 8, 8, dtype=torch.float64)
    a, b = shared.settle(images, 4), unshared.settle(images, 4)
    torch.testing.assert_close(b.states, a.states, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(b.top_down, a.top_down, rtol=1e-12, atol=1e-12)


def test_unshared_column_output_depends_only_on_its_own_weights():
    cfg = GlomConfig(levels=2, dim=4, image_size=4, patch_size=2, channels=1, hidden=8, columns="unshared")
    model = Glom(cfg).double()
    x = torch.randn(1, 2, 4, 4, dtype=torch.float64)
    before = model.nets.bottom_up(x).mean
    with torch.no_grad():
        model.nets.bu.w2[:, 3] += 1.0  # change column 3's nets only
    after = model.nets.bottom_up(x).mean
    assert torch.equal(before[:, :, :3], after[:, :, :3])
    assert not torch.equal(before[:, :, 3], after[:, :, 3])


def test_sine_activation():
    x = torch.linspace(-1, 1, 5)
    torch.testing.assert_close(activation_fn("sine", 30.0)(x), torch.sin(30 * x))


def test_bottom_up_location_input_tells_columns_apart():
    import torch

    from bioglom import ConfigError, GlomConfig
    from bioglom.columns import ColumnNets

    src = torch.ones(2, 3, 16, 8)  # b l n d: every column sees the same input
    for bu_location, distinct in ((False, False), (True, True)):
        cfg = GlomConfig(levels=3, dim=8, image_size=8, patch_size=2, channels=1, hidden=16, bu_location=bu_location)
        out = ColumnNets(cfg, torch.Generator().manual_seed(0)).bottom_up(src).mean
        assert (out[:, :, 1:] - out[:, :, :1]).abs().amax().item() > 1e-3 if distinct else torch.allclose(
            out, out[:, :, :1].expand_as(out))
    with pytest.raises(ConfigError, match="bu_location='yes'"):
        GlomConfig(bu_location="yes")
