"""Wake/sleep schedule and dreams (docs/design.md §6)."""

import pytest
import torch

from bioglom import ConfigError, Glom, GlomConfig
from bioglom.learning import build_rule
from bioglom.learning.dreams import TopLevelMemory, dream
from bioglom.learning.schedule import Period, WakeSleepSchedule, preset, rule_phase


@pytest.mark.parametrize("name,kw,cases", [
    ("interleaved", {}, {0: "both", 1: "both", 999: "both"}),
    ("day-night", {"block": 10}, {0: "wake", 9: "wake", 10: "sleep", 19: "sleep", 20: "wake", 35: "sleep"}),
    ("day-night", {"block": 1}, {0: "wake", 1: "sleep", 2: "wake", 7: "sleep"}),
    ("sleep-first", {"block": 3}, {0: "sleep", 2: "sleep", 3: "wake", 5: "wake", 6: "sleep"}),
    ("deprivation", {"pre": 2, "deprived": 5, "recovery": 3}, {0: "both", 1: "both", 2: "wake", 6: "wake", 7: "sleep", 9: "sleep"}),
])
def test_schedule_maps_updates_to_periods(name, kw, cases):
    s = preset(name, **kw)
    for u, kind in cases.items():
        assert s.period_at(u) == kind, (name, u)
    assert list(s.kinds(4)) == [s.period_at(u) for u in range(4)]


def test_schedule_bad_input():
    with pytest.raises(ConfigError, match="schedule='siesta'"):
        preset("siesta")
    with pytest.raises(ConfigError, match="block=0"):
        preset("day-night", block=0)
    with pytest.raises(ConfigError, match="kind='nap'"):
        WakeSleepSchedule((Period("nap", 3),)).check()
    with pytest.raises(ConfigError, match="update=10"):
        preset("deprivation", pre=2, deprived=5, recovery=3).period_at(10)
    assert [rule_phase(k) for k in ("wake", "sleep", "both")] == ["positive", "negative", "both"]


@pytest.mark.parametrize("columns", ["shared", "unshared"])
def test_dream_uses_no_lateral_attention(columns):
    cfg = GlomConfig(levels=3, dim=8, image_size=8, patch_size=2, channels=1, hidden=16, radius=(1, 2, 3),
                     columns=columns, column_init="independent")
    model = Glom(cfg)
    top = torch.randn(2, cfg.n_columns, 8)
    a = dream(model, top)
    assert a.shape == (2, 3, cfg.n_columns, 8)
    changed = top.clone()
    changed[:, 5] += 1.0  # another column's dream changes
    b = dream(model, changed)
    keep = [i for i in range(cfg.n_columns) if i != 5]
    assert torch.equal(a[:, :, keep], b[:, :, keep])
    assert not torch.allclose(a[:, :2, 5], b[:, :2, 5])  # and that column's own levels follow its top vector


@pytest.mark.parametrize("credit", ["local_backprop", "feedback_alignment", "frozen"])
def test_sleep_update_on_dreams_descends_the_hinge(credit):
    """A small step along the sleep update lowers the hinge between each student's
    prediction from a dream and another dream's embedding (the dreams held fixed)."""
    torch.manual_seed(0)
    cfg = GlomConfig(levels=3, dim=8, image_size=8, patch_size=2, channels=1, hidden=16, radius=(1, 2, 3))
    model = Glom(cfg)
    memory = TopLevelMemory(capacity=4, noise=0.3)
    memory.add(torch.randn(6, cfg.n_columns, 8))
    assert len(memory) == 4  # a ring buffer: the capacity holds
    with torch.no_grad():
        dreams = dream(model, memory.sample(8, torch.Generator().manual_seed(0)))
    rule = build_rule("delta", margin=2.5, hidden_credit=credit)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    opt.zero_grad()
    before = rule.accumulate_dream(model, dreams)["hinge"]
    opt.step()
    opt.zero_grad()
    after = rule.accumulate_dream(model, dreams)["hinge"]
    assert 0 < after < before


def test_top_level_memory_is_a_ring_buffer():
    memory = TopLevelMemory(capacity=4, noise=0.0, norm="none")
    rows = torch.arange(6.0)[:, None, None].expand(6, 2, 3)
    memory.add(rows[:3])
    memory.add(rows[3:])  # 6 rows into 4 slots: rows 2..5 remain, row 4 and 5 over rows 0 and 1
    assert len(memory) == 4
    assert memory.items[:, 0, 0].tolist() == [4.0, 5.0, 2.0, 3.0]
    memory.add(torch.arange(10.0, 19.0)[:, None, None].expand(9, 2, 3))  # more rows than slots: the newest 4 stay
    assert sorted(memory.items[:, 0, 0].tolist()) == [15.0, 16.0, 17.0, 18.0]
    drawn = memory.sample(20, torch.Generator().manual_seed(0))[:, 0, 0]
    assert set(drawn.tolist()) <= {15.0, 16.0, 17.0, 18.0}
