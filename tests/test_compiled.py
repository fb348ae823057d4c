"""Compiled settling (bioglom.model.compile_settling) against the eager step, its reference:
the same trajectory and the same gradients within float32 rounding."""

import shutil

import pytest
import torch

from bioglom import Glom, GlomConfig
from bioglom.config import ConfigError
from bioglom.model import compile_settling, settling_is_compiled


def _toolchain_compiles() -> bool:
    """Whether torch.compile works here at all: inductor writes and builds C++ for the CPU,
    so a machine without a compiler (or its headers) cannot run any compiled function."""
    if shutil.which("g++") is None and shutil.which("c++") is None:
        return False
    try:
        torch.compile(lambda x: x * 2 + 1)(torch.ones(3))
    except Exception:  # the toolchain's failure, not bioglom's: the settling step is not involved
        return False
    finally:
        torch._dynamo.reset()
    return True


@pytest.fixture(scope="module")
def toolchain():
    if not _toolchain_compiles():
        pytest.skip("torch.compile cannot build C++ on this machine")


@pytest.fixture
def eager_after():
    yield
    compile_settling(False)
    torch._dynamo.reset()


def settle_and_grad(cfg: GlomConfig, compiled: bool, steps: int = 3):
    """Final state, every state and the parameters' gradients of a loss on the settled state."""
    compile_settling(compiled)
    torch.manual_seed(0)
    model = Glom(cfg)
    images = torch.rand(4, cfg.channels, cfg.image_size, cfg.image_size, generator=torch.Generator().manual_seed(1))
    traj = model.settle(images, steps)
    loss = traj.final.square().mean() + (traj.final[:, :, :1] * traj.final[:, :, 1:2]).sum(-1).mean()
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return traj.states.detach(), grads


def assert_same(cfg: GlomConfig):
    eager_states, eager_grads = settle_and_grad(cfg, False)
    torch._dynamo.utils.counters.clear()
    states, grads = settle_and_grad(cfg, True)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1  # compiled, not fallen back to eager
    # measured over the five configs: states differ by <= 4.8e-7 (values ~1), gradients by
    # <= 2.7e-7 (largest entries 4e-3 to 9e-2); the bounds leave about 10x of that
    torch.testing.assert_close(states, eager_states, rtol=1e-5, atol=5e-6)
    assert grads.keys() == eager_grads.keys() and grads
    for name in grads:
        torch.testing.assert_close(grads[name], eager_grads[name], rtol=1e-4, atol=2e-6, msg=name)


BASE = dict(levels=3, dim=8, hidden=16, image_size=8, patch_size=2, channels=1, radius=(1, 2, 3))


@pytest.mark.parametrize("extra", [dict(), dict(columns="unshared", neighbourhood="window", image_size=16,
                                                radius=(1, 1, 1))])
def test_compiled_settling_equals_eager(toolchain, eager_after, extra):
    assert_same(GlomConfig(**{**BASE, **extra}))
    assert settling_is_compiled()


@pytest.mark.parametrize("extra", [dict(consensus="precision"), dict(consensus="oscillator", norm="groups"),
                                   dict(neighbourhood="gaussian", image_size=16)])
def test_compiled_settling_equals_eager_variants(toolchain, eager_after, extra):
    assert_same(GlomConfig(**{**BASE, **extra}))


def test_eager_is_the_default_and_a_bad_switch_is_refused(eager_after):
    assert not settling_is_compiled()
    with pytest.raises(ConfigError, match="enabled='yes'"):
        compile_settling("yes")
    assert not settling_is_compiled()


def test_side_by_side_takes_one_flag_per_rule_and_leaves_the_switch_as_it_found_it(eager_after):
    from bioglom.learning.profile import measure_side_by_side

    cfg = GlomConfig(**BASE).to_dict()
    rules = [("delta", {"steps": 1}), ("backprop", {"steps": 1})]
    with pytest.raises(ValueError, match="compiled has 1 flags for 2 rules"):
        measure_side_by_side(cfg, rules, batch=2, rounds=1, compiled=[True])
    compile_settling(True)  # a caller's choice: eager during the eager runs, then as it was
    times = measure_side_by_side(cfg, rules, batch=2, rounds=1, compiled=[False, False])
    assert [len(t) for t in times] == [1, 1] and settling_is_compiled()
