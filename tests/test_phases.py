"""The phase clock (bioglom.phases): exclusive times add up, and a training update's
named phases account for the update's wall time (issue 26)."""

import time

import pytest
import torch

from bioglom.phases import PhaseClock, clocking, phase


class FakeTime:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_exclusive_times_against_a_hand_counted_timeline():
    now = FakeTime()
    clock = PhaseClock(now=now)
    with clocking(clock):
        with phase("update"):
            now.t += 1.0          # update's own
            with phase("rule"):
                now.t += 2.0      # rule's own
                with phase("settle"):
                    now.t += 4.0
                now.t += 8.0      # rule's own again
            with phase("rule"):
                with phase("settle"):
                    now.t += 16.0
            now.t += 32.0         # update's own
        now.t += 64.0             # outside every phase: charged nowhere
    assert clock.exclusive == {("update",): 33.0, ("update", "rule"): 10.0, ("update", "rule", "settle"): 20.0}
    assert clock.calls[("update", "rule", "settle")] == 2 and clock.calls[("update",)] == 1
    assert clock.inclusive(("update",)) == 63.0 and clock.inclusive(("update", "rule")) == 30.0
    rows = {r["phase"]: r for r in clock.table(("update",))}
    assert rows["(other)"]["ms"] == 33e3 and rows["rule/settle"]["calls"] == 2
    assert sum(r["share"] for r in rows.values()) == pytest.approx(1.0)


def test_no_clock_no_charge_and_a_misnested_phase_is_named():
    with phase("settle"):  # no active clock: nothing happens, nothing fails
        pass
    clock = PhaseClock()
    clock.enter("a")
    with pytest.raises(RuntimeError, match="'b' ended"):
        clock.exit("b")


def test_operators_are_counted_per_phase():
    clock = PhaseClock(count_ops=True)
    a = torch.ones(3)
    with clocking(clock):
        with phase("two"):
            a + a
            a * a
        with phase("one"):
            a.sum()
    assert clock.ops[("two",)] == 2 and clock.ops[("one",)] == 1


def _trainer(rule, steps):
    from bioglom import Glom, GlomConfig
    from bioglom.learning.base import Batch, build_rule
    from bioglom.learning.trainer import Trainer

    cfg = GlomConfig(levels=3, dim=16, hidden=32, image_size=8, patch_size=2, channels=1, columns="unshared")
    images = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    batch = Batch(images, images, torch.ones_like(images))
    return Trainer(Glom(cfg), build_rule(rule, steps=steps), lambda u: batch, updates=100, progress=False)


@pytest.mark.parametrize("rule", ["backprop", "temporal_derivative"])
def test_the_phase_table_sums_to_the_measured_update_time(rule):
    """The named phases of an update (data, settle, rule, checks, optimiser) together
    take within 10 % of the wall time of ``Trainer.step`` measured around it, and the
    settling steps are counted once per step."""
    trainer = _trainer(rule, steps=4)
    trainer.step(0)  # warm-up
    clock = PhaseClock()
    walls = []
    with clocking(clock):
        for u in range(1, 6):
            start = time.perf_counter()
            trainer.step(u)
            walls.append(time.perf_counter() - start)
    named = sum(t for path, t in clock.exclusive.items())
    assert clock.calls[("rule", "settle")] == 5 * (4 + 1)  # 4 steps and the initial state per update
    assert set(p[0] for p in clock.exclusive) == {"data", "rule", "checks", "optimiser"}
    assert named == pytest.approx(sum(walls), rel=0.10)


def test_a_run_is_profiled_under_its_label_with_evaluations_apart():
    trainer = _trainer("delta", steps=2)
    trainer.updates = 3
    clock = PhaseClock()
    with clocking(clock):
        trainer.run(evaluate=lambda u: {"x": 0.0}, evaluate_every=3)
    label = trainer.label
    assert clock.calls[(label, "update")] == 3 and clock.calls[(label, "evaluation")] == 2
    rows = clock.table((label, "update"))
    assert {r["phase"] for r in rows} >= {"(other)", "rule", "rule/settle", "optimiser", "checks", "data"}
