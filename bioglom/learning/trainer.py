"""A small trainer for every learning rule: progress bar, checkpoints, exact resume.

Resume is exact on the CPU because nothing depends on the history of random draws: the
batch of update ``u`` comes from ``batches(u)``, and the model's own randomness (a
resampled Gaussian neighbourhood) from a generator seeded with ``(seed, u)``. A
checkpoint holds the model, the optimizer, the update count and the metrics so far, and
is written atomically.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Callable

import torch

from ..atomic import atomic_write_bytes
from ..config import check_positive
from ..model import Glom, Trajectory
from .base import Batch, LearningRule

__all__ = ["Trainer", "NonFiniteError", "first_non_finite", "update_generator"]


class NonFiniteError(FloatingPointError):
    """Training produced a non-finite value; the message names the update, step and level."""


def first_non_finite(traj: Trajectory) -> tuple[int, int] | None:
    """``(step, level)`` of the first non-finite embedding in a trajectory, or None."""
    bad = ~torch.isfinite(traj.states).flatten(3).all(-1).all(1)  # s l
    if not bad.any():
        return None
    step, level = bad.nonzero()[0].tolist()
    return step, level


def update_generator(seed: int, update: int) -> torch.Generator:
    """The generator of update ``update``: the same whenever that update is run."""
    return torch.Generator().manual_seed(int(seed) * 1_000_003 + int(update))


class Trainer:
    """Train ``model`` with ``rule`` on ``batches(u)`` for ``updates`` updates (Adam).

    Parameters
    ----------
    model, rule : what to train and how.
    batches : callable from update index to :class:`Batch` (deterministic in the index).
    updates : total number of updates.
    lr : Adam learning rate.
    seed : seeds the per-update generators.
    checkpoint : path of the checkpoint file, or None for none.
    checkpoint_every : updates between checkpoints.
    progress : show a tqdm progress bar.
    """

    def __init__(self, model: Glom, rule: LearningRule, batches: Callable[[int], Batch], *, updates: int,
                 lr: float = 1e-3, seed: int = 0, checkpoint: str | os.PathLike | None = None,
                 checkpoint_every: int = 100, progress: bool = True):
        check_positive("updates", updates, strict=False, integer=True)
        check_positive("lr", lr)
        check_positive("checkpoint_every", checkpoint_every, integer=True)
        self.model, self.rule, self.batches = model, rule, batches
        self.updates, self.seed, self.progress = updates, seed, progress
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.checkpoint_every = checkpoint_every
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        self.update = 0
        self.history: list[dict] = []

    # ---- checkpoints ---------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "update": self.update,
                "history": self.history, "config": self.model.cfg.to_dict(), "rule": self.rule.name,
                "rule_options": self.rule.options(), "seed": self.seed}

    def save(self) -> None:
        if self.checkpoint is None:
            return
        buf = io.BytesIO()
        torch.save(self.state_dict(), buf)
        atomic_write_bytes(self.checkpoint, buf.getvalue())

    def load(self) -> bool:
        """Restore from the checkpoint if there is one; True when it did."""
        if self.checkpoint is None or not self.checkpoint.exists():
            return False
        state = torch.load(self.checkpoint, map_location=self.model.device, weights_only=False)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.update, self.history = state["update"], state["history"]
        return True

    # ---- the loop ------------------------------------------------------------------
    def step(self, u: int) -> dict:
        """One update: settle, compute the rule's loss, check it is finite, apply it."""
        batch = self.batches(u).to(self.model.device)
        self.optimizer.zero_grad(set_to_none=True)
        out = self.rule.loss(self.model, batch, update_generator(self.seed, u))
        where = first_non_finite(out.trajectory)
        if where is not None or not torch.isfinite(out.loss):
            place = f"settling step {where[0]}, level {where[1]}" if where else "the loss"
            raise NonFiniteError(
                f"non-finite value at update {u}, {place}; the last good checkpoint is "
                f"{self.checkpoint if self.checkpoint else '(none: no checkpoint path given)'}"
            )
        out.loss.backward()
        self.optimizer.step()
        return {"update": u, **out.metrics}

    def run(self, resume: bool = False, stop_after: int | None = None) -> list[dict]:
        """Train up to ``updates`` (or ``stop_after`` more updates); return the metrics history."""
        from tqdm.auto import tqdm

        if resume:
            self.load()
        end = self.updates if stop_after is None else min(self.updates, self.update + stop_after)
        self.model.train()
        with tqdm(total=self.updates, initial=self.update, disable=not self.progress, desc=self.rule.name,
                  dynamic_ncols=True) as bar:
            while self.update < end:
                metrics = self.step(self.update)
                self.history.append(metrics)
                self.update += 1
                bar.update(1)
                bar.set_postfix(loss=f"{metrics['loss']:.4f}", refresh=False)
                if self.update % self.checkpoint_every == 0 or self.update == end:
                    self.save()
        return self.history
