"""Where a run's time goes: wall time by phase (settle, rule update, optimiser, ...).

Code marks a phase with ``with phase("settle"): ...``. Nothing is measured unless a
:class:`PhaseClock` is active (``with clocking(PhaseClock()) as clock``); then every
phase is charged its *exclusive* time -- the time inside it and not inside a phase nested
in it -- under its path (``("update", "rule", "settle")``), so the exclusive times of a
path and of everything below it add up to its inclusive time, and nothing is counted
twice. benchmarks/profile_runs.py prints the table; off, a phase costs one global read.

On CUDA the clock synchronises the device at every mark (``PhaseClock(sync=...)``), so
a phase is charged the kernels it launched, not merely their launch. With
``count_ops=True`` it also counts the ATen operators each phase runs (forward and
backward alike, through a ``TorchDispatchMode``); that slows every operator, so count in
one run and time in another.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from contextlib import contextmanager, nullcontext
from typing import Callable

__all__ = ["PhaseClock", "phase", "clocking"]

_active: "PhaseClock | None" = None


class PhaseClock:
    """Exclusive wall time and call counts per phase path.

    ``exclusive[path]``: seconds spent in ``path`` outside its nested phases;
    ``calls[path]``: how many times ``path`` was entered. :meth:`inclusive` sums a path
    and everything below it."""

    def __init__(self, sync: Callable[[], None] | None = None, *, count_ops: bool = False,
                 now: Callable[[], float] = time.perf_counter):
        self.sync, self.count_ops, self.now = sync, count_ops, now
        self.exclusive: dict[tuple[str, ...], float] = defaultdict(float)
        self.calls: Counter = Counter()
        self.ops: Counter = Counter()  # path -> ATen operators run there (count_ops=True)
        self._stack: list[str] = []
        self._mark = 0.0

    def _now(self) -> float:
        if self.sync is not None:
            self.sync()
        return self.now()

    def enter(self, name: str) -> None:
        now = self._now()
        if self._stack:
            self.exclusive[tuple(self._stack)] += now - self._mark
        self._stack.append(name)
        self.calls[tuple(self._stack)] += 1
        self._mark = now

    def exit(self, name: str) -> None:
        now = self._now()
        if not self._stack or self._stack[-1] != name:
            raise RuntimeError(f"phase {name!r} ended while {self._stack!r} was open")
        self.exclusive[tuple(self._stack)] += now - self._mark
        self._stack.pop()
        self._mark = now

    def inclusive(self, path: tuple[str, ...]) -> float:
        """Seconds inside ``path``, its nested phases included."""
        return sum(self.below(path).values())

    def below(self, path: tuple[str, ...]) -> dict[tuple[str, ...], float]:
        """Exclusive seconds of ``path`` and of every phase nested in it."""
        return {p: t for p, t in self.exclusive.items() if p[:len(path)] == path}

    def table(self, per: tuple[str, ...]) -> list[dict]:
        """One row per phase nested in ``per`` (``per`` itself first: its own time outside
        any named phase): ``phase`` (the path below ``per``, ``/``-joined), ``ms`` (exclusive
        milliseconds per call of ``per``), ``share`` (of ``per``'s inclusive time),
        ``calls`` (per call of ``per``) and, when counted, ``ops`` (per call of ``per``)."""
        n = self.calls[per]
        if n == 0:
            return []
        total = self.inclusive(per)
        rows = []
        for path, t in sorted(self.below(per).items()):
            rows.append({"phase": "/".join(path[len(per):]) or "(other)", "ms": 1e3 * t / n,
                         "share": t / total if total else float("nan"), "calls": self.calls[path] / n,
                         **({"ops": self.ops[path] / n} if self.count_ops else {})})
        return rows


@contextmanager
def phase(name: str):
    """Charge the enclosed code to phase ``name`` (nested in the phase open around it)."""
    clock = _active
    if clock is None:
        yield
        return
    clock.enter(name)
    try:
        yield
    finally:
        clock.exit(name)


def _op_counter(clock: PhaseClock):
    from torch.utils._python_dispatch import TorchDispatchMode

    class OpCounter(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            clock.ops[tuple(clock._stack)] += 1
            return func(*args, **(kwargs or {}))

    return OpCounter()


@contextmanager
def clocking(clock: PhaseClock):
    """Make ``clock`` the one :func:`phase` charges while the block runs."""
    global _active
    previous, _active = _active, clock
    try:
        with _op_counter(clock) if clock.count_ops else nullcontext():
            yield clock
    finally:
        _active = previous
