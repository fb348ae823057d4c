"""A trainer that follows a :class:`~.schedule.WakeSleepSchedule` (docs/design.md §6; paper 12.2).

At update ``u`` the schedule's kind decides what happens:

- ``wake``: positive learning on real input (``rule.accumulate(..., phase="positive")``);
  the settled top level is stored in a :class:`~.dreams.TopLevelMemory`;
- ``both``: positive and negative learning on real input in one update (interleaved);
- ``sleep``: negative learning offline, on ``dream`` input (top-level vectors from the
  memory, with noise, turned into every level by the top-down nets alone; random
  top-level vectors while the memory is still empty), on ``replay`` of the stored wake
  batches, or on ``splice``: a stored wake batch whose scenes are spliced with each other
  along their grouping (:func:`~bioglom.data.splice.splice_segments`; the batch of the
  update itself while none is stored), so that a rule with ``negative_island`` learns the
  island term's negatives offline (``rule.accumulate(..., phase="negative")``).

The memory and the replay store are part of the checkpoint, so a resumed run repeats an
uninterrupted one exactly (CPU).
"""

from __future__ import annotations

import torch

from ..config import ConfigError, check_choice, check_positive
from ..consensus import normalise
from .. import phases
from .dreams import TopLevelMemory, dream
from .schedule import WakeSleepSchedule, rule_phase
from .trainer import Trainer, update_generator

__all__ = ["WakeSleepTrainer", "SLEEP_INPUTS"]

SLEEP_INPUTS = ("dream", "replay", "splice")


class WakeSleepTrainer(Trainer):
    """:class:`Trainer` whose update ``u`` follows ``schedule.period_at(u)``.

    Extra parameters: ``schedule``; ``sleep_input`` (``dream`` or ``replay``);
    ``memory_capacity`` and ``dream_noise`` of the top-level memory; ``replay_capacity``
    (wake batches kept for replay). The rule must be a local rule (it needs
    ``accumulate_dream``) when ``sleep_input="dream"``; with ``splice`` the batches must
    be still images with groups (``Batch.groups``).
    """

    def __init__(self, model, rule, batches, *, schedule: WakeSleepSchedule, sleep_input: str = "dream",
                 memory_capacity: int = 512, dream_noise: float = 0.1, replay_capacity: int = 8, **kw):
        check_choice("sleep_input", sleep_input, SLEEP_INPUTS)
        check_positive("replay_capacity", replay_capacity, integer=True)
        schedule.check()
        super().__init__(model, rule, batches, phase=lambda u: rule_phase(schedule.period_at(u)), **kw)
        self.schedule, self.sleep_input, self.replay_capacity = schedule, sleep_input, replay_capacity
        self.memory = TopLevelMemory(memory_capacity, dream_noise, model.cfg.norm)
        # the schedule and the sleep input belong to what a resumed run must match
        self.settings.update(schedule=repr(schedule), sleep_input=sleep_input, dream_noise=float(dream_noise))
        self.replay: list[int] = []  # update indices of stored wake batches (batches(u) is deterministic)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "memory": self.memory.state_dict(), "replay": list(self.replay)}

    def load(self) -> bool:
        if not super().load():
            return False
        state = torch.load(self.checkpoint, map_location="cpu", weights_only=False)
        self.memory.load_state_dict(state["memory"])
        self.replay = state["replay"]
        return True

    def step(self, u: int, source: int | None = None) -> dict:
        kind = self.schedule.period_at(u)
        if kind != "sleep":
            metrics = super().step(u, source)
            self.replay = (self.replay + [u])[-self.replay_capacity:]
            self.memory.add(self.last_output.trajectory.final[:, -1])  # what the wake period saw, to dream from
            return {**metrics, "kind": kind}
        if self.sleep_input == "replay" and self.replay:
            return {**super().step(u, source=self._replayed(u)), "kind": kind}
        if self.sleep_input == "splice":  # the update's own batch while no wake batch is stored
            past = self._replayed(u) if self.replay else u
            return {**super().step(u, batch=self._spliced(self.batches(past))), "kind": kind}
        return {**self._sleep_on_dreams(u), "kind": kind}

    def _replayed(self, u: int) -> int:
        """The update index of the stored wake batch that sleep update ``u`` draws."""
        gen = update_generator(self.seed, u)
        return self.replay[int(torch.randint(len(self.replay), (1,), generator=gen))]

    def _spliced(self, batch):
        from ..data.splice import splice_segments
        from .base import Batch

        if batch.groups is None or batch.corrupted.dim() != 4:
            raise ConfigError("sleep_input='splice' is not allowed with these batches: splicing needs still images "
                              "[B, C, H, W] with groups (which columns should agree, e.g. motion segments)")
        cfg = self.model.cfg
        corrupted, groups, clean, keep = splice_segments(batch.corrupted, batch.groups, cfg.patch_size, cfg.grid,
                                                         batch.clean, batch.keep)
        return Batch(clean, corrupted, keep, None, groups)

    def _sleep_on_dreams(self, u: int) -> dict:
        cfg = self.model.cfg
        gen = update_generator(self.seed, u)
        with phases.phase("data"):
            k = self.batches(u).clean.shape[0]
            if len(self.memory):
                top = self.memory.sample(k, gen)
            else:  # nothing seen yet (sleep-first): dream from random top-level vectors
                top = normalise(torch.randn(k, cfg.n_columns, cfg.dim, generator=gen), cfg.norm)
        self.optimizer.zero_grad(set_to_none=True)
        with phases.phase("dream"), torch.no_grad():
            dreams = dream(self.model, top.to(self.model.device))
        with phases.phase("rule"):
            metrics = self.rule.accumulate_dream(self.model, dreams)
        with phases.phase("optimiser"):
            self.optimizer.step()
        return {"update": u, "phase": "negative", "loss": self.rule.negative_weight * metrics["hinge"],
                "hinge": metrics["hinge"]}
