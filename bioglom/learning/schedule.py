"""Wake and sleep as data (docs/design.md §6; paper 12.2).

A :class:`WakeSleepSchedule` is a tuple of periods ``(kind, updates)``, ``kind`` in
``wake`` (positive learning on real input), ``sleep`` (negative learning offline) and
``both`` (positive and negative in the same update: the ordinary contrastive baseline),
optionally repeated. ``period_at(u)`` is a pure function from the update index to the
period's kind; ``rule_phase(kind)`` is the ``phase`` a learning rule takes (positive,
negative or both). "Period" is always the schedule's, "phase" always the rule's.

Presets (:func:`preset`):

- ``interleaved``: ``both`` at every update;
- ``day-night``: ``block`` wake updates, then ``block`` sleep updates, repeated;
- ``deprivation``: ``pre`` interleaved updates, then ``deprived`` wake-only updates, then
  ``recovery`` sleep updates;
- ``sleep-first``: ``block`` sleep updates first, then wake and sleep alternate (end of 12.2);
- ``positive-only`` and ``sleep-only``: wake (positive learning) or sleep (negative
  learning on dreams) at every update, the controls that show a gain needs both.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..config import ConfigError, check_choice, check_positive

__all__ = ["KINDS", "PRESETS", "Period", "WakeSleepSchedule", "preset", "rule_phase"]

KINDS = ("wake", "sleep", "both")
PRESETS = ("interleaved", "day-night", "deprivation", "sleep-first", "positive-only", "sleep-only")
_RULE_PHASE = {"wake": "positive", "sleep": "negative", "both": "both"}


class Period(NamedTuple):
    kind: str
    updates: int


def rule_phase(kind: str) -> str:
    """The learning rule's ``phase`` for a schedule kind: wake -> positive, sleep -> negative, both -> both."""
    check_choice("kind", kind, KINDS)
    return _RULE_PHASE[kind]


class WakeSleepSchedule(NamedTuple):
    """Periods in order; with ``repeat`` they cycle for ever, else the schedule ends after them."""

    periods: tuple
    repeat: bool = False

    def check(self) -> "WakeSleepSchedule":
        if not self.periods:
            raise ConfigError("periods=() is not allowed; a schedule needs at least one period")
        for kind, updates in self.periods:
            check_choice("kind", kind, KINDS)
            check_positive("block", updates, integer=True)
        return self

    @property
    def length(self) -> int:
        """Updates in one pass through the periods."""
        return sum(p.updates for p in self.periods)

    def period_at(self, update: int) -> str:
        """The kind of update ``update`` (0-based)."""
        if isinstance(update, bool) or not isinstance(update, (int, np.integer)) or update < 0:
            raise ConfigError(f"update={update!r} is not allowed; it must be an integer >= 0")
        u = int(update)
        if self.repeat:
            u %= self.length
        elif u >= self.length:
            raise ConfigError(f"update={update} is not allowed; this schedule ends after {self.length} updates")
        for kind, updates in self.periods:
            if u < updates:
                return kind
            u -= updates
        raise AssertionError("unreachable")

    def kinds(self, updates: int) -> np.ndarray:
        """``period_at(u)`` for ``u = 0 .. updates-1``: the ``schedule_period`` of a result along ``train_update``."""
        return np.array([self.period_at(u) for u in range(updates)], dtype=str)


def preset(name: str, *, block: int = 100, pre: int = 100, deprived: int = 1000, recovery: int = 100) -> WakeSleepSchedule:
    """The schedule called ``name`` (module docstring); block lengths in updates."""
    check_choice("schedule", name, PRESETS)
    if name == "interleaved":
        return WakeSleepSchedule((Period("both", 1),), repeat=True).check()
    if name == "positive-only":
        return WakeSleepSchedule((Period("wake", 1),), repeat=True).check()
    if name == "sleep-only":
        return WakeSleepSchedule((Period("sleep", 1),), repeat=True).check()
    if name == "day-night":
        return WakeSleepSchedule((Period("wake", block), Period("sleep", block)), repeat=True).check()
    if name == "sleep-first":
        return WakeSleepSchedule((Period("sleep", block), Period("wake", block)), repeat=True).check()
    return WakeSleepSchedule((Period("both", pre), Period("wake", deprived), Period("sleep", recovery))).check()
