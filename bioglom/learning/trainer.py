"""A small trainer for every learning rule: progress bar, checkpoints, exact resume.

Resume is exact on the CPU because nothing depends on the history of random draws: the
batch of update ``u`` comes from ``batches(u)``, and the model's own randomness (a
resampled Gaussian neighbourhood) from a generator seeded with ``(seed, u)``. A
checkpoint holds the model, the optimizer, the update count and the metrics so far, and
is written atomically.
"""

from __future__ import annotations

import io
import json
import math
import os
import sys
from pathlib import Path
from typing import Callable

import torch

from ..atomic import atomic_write_bytes
from ..config import ConfigError, changed_fields, check_bool, check_choice, check_positive, check_seed
from ..model import Glom, Trajectory, first_non_finite_state
from .. import phases
from ..seeding import generator
from .base import Batch, LearningRule, NonFiniteError
from .contrastive import check_phase

__all__ = ["Trainer", "NonFiniteError", "first_non_finite", "first_non_finite_grad", "update_generator", "OPTIMIZERS",
           "LR_SCHEDULES", "lr_factor"]

OPTIMIZERS = ("adam", "sgd")
LR_SCHEDULES = ("constant", "cosine")


def lr_factor(schedule: str, u: int, updates: int) -> float:
    """The learning rate of update ``u`` over the base rate: 1 (``constant``), or
    ``(1 + cos(pi u / updates)) / 2`` (``cosine``: from 1 at the first update toward 0 at the
    last). A function of the update index alone, so a resumed run takes the same steps."""
    if schedule == "constant" or updates <= 0:
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * u / updates))


def first_non_finite(traj: Trajectory) -> tuple[int, int] | None:
    """``(step, level)`` of the first non-finite embedding in a trajectory, or None."""
    if torch.isfinite(traj.states.sum()):  # one reduction; a sum that overflows falls through to the search
        return None
    return first_non_finite_state(traj.states)


def first_non_finite_grad(model: torch.nn.Module) -> str | None:
    """Where the first non-finite gradient is, as ``"net nets.bu.w2, level 1"``, or None.

    Column-net parameters carry the level as their first axis. The common case, every
    gradient finite, costs one fused norm over all of them (a norm that overflows only
    sends the check on to the search)."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads or torch.isfinite(torch.nn.utils.get_total_norm(grads)):
        return None
    for name, p in model.named_parameters():
        if p.grad is None or torch.isfinite(p.grad).all():
            continue
        if name.startswith("nets."):
            level = int((~torch.isfinite(p.grad)).flatten(1).any(1).nonzero()[0])
            direction = "bottom-up" if ".bu." in name else "top-down"
            return f"{direction} net ({name}), level {level}"
        return f"parameter {name}"
    return None


def update_generator(seed: int, update: int) -> torch.Generator:
    """The generator of update ``update``: the same whenever that update is run."""
    return generator(seed, "update", update)


class _Pair:
    """Two optimizers stepped as one: plain SGD for the column nets, Adam for the rest."""

    def __init__(self, first, second):
        self.parts = [o for o in (first, second) if o is not None]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for o in self.parts:
            o.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for o in self.parts:
            o.step()

    def state_dict(self) -> dict:
        return {"parts": [o.state_dict() for o in self.parts]}

    def load_state_dict(self, state: dict) -> None:
        for o, s in zip(self.parts, state["parts"]):
            o.load_state_dict(s)


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
    phase : callable from update index to the phase passed to the rule ("both",
        "positive" or "negative"); None: "both" every update.
    lr_schedule : ``constant``, or ``cosine``: every learning rate (the front end's too)
        follows :func:`lr_factor` over ``updates``.
    optimizer : ``adam``, or ``sgd``: the column nets change by plain ``w -= lr * update``,
        the rule's update as it is, while the parameters outside them (front end,
        decoder), which learn by their own gradient and not by the rule, keep Adam at
        ``frontend_lr``.
    frontend_lr : see ``optimizer``.
    data : the options of the data stream (JSON-able), kept in the checkpoint.
    label : names the run in its progress output (default: the rule's name). On a
        terminal progress is a bar; otherwise (a log, a pipe) at most about 10 lines.
    keep_best : a function of an evaluation's metrics (``run(evaluate=...)``) to the score
        the run keeps the weights of: after each evaluation whose score is above every
        earlier one (and finite), the model's weights are copied, with the checkpoint, and
        :meth:`restore_best` puts them back (a training length chosen on validation); None:
        nothing is kept.

    A resumed run (``run(resume=True)``) refuses, with one :class:`ConfigError` naming the
    differing fields and before anything is loaded or trained, a checkpoint written with
    another model config, rule, rule options, seed, optimizer, learning rate or data.
    """

    def __init__(self, model: Glom, rule: LearningRule, batches: Callable[[int], Batch], *, updates: int,
                 lr: float = 1e-3, seed: int = 0, checkpoint: str | os.PathLike | None = None,
                 checkpoint_every: int = 100, progress: bool = True,
                 phase: Callable[[int], str] | None = None, optimizer: str = "adam", data: dict | None = None,
                 label: str | None = None, frontend_lr: float = 2e-3, lr_schedule: str = "constant",
                 keep_best: Callable[[dict], float] | None = None):
        check_positive("updates", updates, strict=False, integer=True)
        check_positive("lr", lr)
        check_positive("checkpoint_every", checkpoint_every, integer=True)
        check_seed("seed", seed)
        check_bool("progress", progress)
        check_choice("optimizer", optimizer, OPTIMIZERS)
        check_choice("lr_schedule", lr_schedule, LR_SCHEDULES)
        if not callable(batches):
            raise ConfigError(f"batches={batches!r} is not allowed; give a function from the update index to a Batch")
        if keep_best is not None and not callable(keep_best):
            raise ConfigError(f"keep_best={keep_best!r} is not allowed; give a function of an evaluation's metrics "
                              "to its score, or None")
        if checkpoint is not None and Path(checkpoint).is_dir():
            raise ConfigError(f"checkpoint={str(checkpoint)!r} is not allowed; it is a folder, give a file path")
        self.model, self.rule, self.batches = model, rule, batches
        self.updates, self.seed, self.progress = updates, seed, progress
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.checkpoint_every = checkpoint_every
        self.phase = phase or (lambda u: "both")
        self.label = label or rule.name
        if optimizer == "adam":
            self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)
            self.settings = {"optimizer": optimizer, "lr": float(lr)}
        else:
            check_positive("frontend_lr", frontend_lr)
            nets = {id(p) for p in model.nets.parameters()}
            others = [p for p in model.parameters() if id(p) not in nets]
            self.optimizer = _Pair(torch.optim.SGD(model.nets.parameters(), lr=lr),
                                   torch.optim.Adam(others, lr=frontend_lr) if others else None)
            self.settings = {"optimizer": optimizer, "lr": float(lr), "frontend_lr": float(frontend_lr)}
        self.lr_schedule = lr_schedule
        if lr_schedule != "constant":  # kept out when constant: checkpoints written before the option still resume
            self.settings["lr_schedule"] = lr_schedule
        self._base_lrs = [g["lr"] for o in self._optimizers() for g in o.param_groups]
        self.data = json.loads(json.dumps(data or {}, default=str))
        self.update = 0
        self.history: list[dict] = []
        self.evaluations: list[dict] = []
        self.keep_best = keep_best
        self.best: dict | None = None  # {"update", "score", "model"}: the best-scored evaluation's weights

    def _optimizers(self) -> list:
        return self.optimizer.parts if isinstance(self.optimizer, _Pair) else [self.optimizer]

    def _set_lr(self, u: int) -> None:
        factor = lr_factor(self.lr_schedule, u, self.updates)
        groups = [g for o in self._optimizers() for g in o.param_groups]
        for g, base in zip(groups, self._base_lrs):
            g["lr"] = base * factor

    # ---- checkpoints ---------------------------------------------------------------
    def state_dict(self) -> dict:
        rule = self.rule.state_dict() if hasattr(self.rule, "state_dict") else {}
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "update": self.update,
                "history": self.history, "evaluations": self.evaluations, "rule_state": rule, "best": self.best,
                **self.identity()}

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
        try:
            state = torch.load(self.checkpoint, map_location=self.model.device, weights_only=False)
            state["model"], state["optimizer"], state["update"]
        except Exception as e:  # a truncated or foreign file: name it instead of a traceback
            raise ConfigError(f"checkpoint={str(self.checkpoint)!r} cannot be read as a bioglom checkpoint "
                              f"({type(e).__name__}); delete it or use another --out") from None
        differ = self.differences(state)
        if differ:
            raise ConfigError(f"resume=True: checkpoint={str(self.checkpoint)!r} was written with other "
                              f"{', '.join(differ)}; rerun with those values or use another --out")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.update, self.history = state["update"], state["history"]
        self.evaluations = state.get("evaluations", [])
        self.best = state.get("best")
        if hasattr(self.rule, "load_state_dict"):
            self.rule.load_state_dict(state.get("rule_state", {}))
        return True

    def identity(self) -> dict:
        """What a checkpoint must match to be resumed: model config, rule and its options,
        seed, optimizer settings and data options."""
        return {"config": self.model.cfg.to_dict(), "rule": self.rule.name, "rule_options": self.rule.options(),
                "seed": self.seed, "settings": dict(self.settings), "data": self.data}

    def differences(self, state: dict) -> list[str]:
        """The fields of :meth:`identity` a checkpoint records differently (``config.dim``
        style); what a checkpoint does not record is not compared."""
        ours = self.identity()
        return changed_fields({k: state[k] for k in ours if k in state}, {k: ours[k] for k in ours if k in state})

    def _evaluated(self, metrics: dict) -> None:
        """Keep an evaluation's metrics and, where it scores above every earlier one by
        ``keep_best``, a copy of the weights it was made with."""
        self.evaluations.append(metrics)
        if self.keep_best is None:
            return
        score = float(self.keep_best(metrics))
        if math.isfinite(score) and (self.best is None or score > self.best["score"]):
            self.best = {"update": metrics["update"], "score": score,
                         "model": {k: v.detach().clone() for k, v in self.model.state_dict().items()}}

    def restore_best(self) -> int:
        """Load the weights kept by ``keep_best`` into the model and return the update they
        were made at; without a kept copy (no ``keep_best``, or no finite score), the model
        stays as it is and the update count is returned."""
        if self.best is None:
            return self.update
        self.model.load_state_dict(self.best["model"])
        return int(self.best["update"])

    # ---- the loop ------------------------------------------------------------------
    def step(self, u: int, source: int | None = None, batch: Batch | None = None) -> dict:
        """One update: settle, let the rule accumulate its update, check it is finite, apply it.

        ``source``: train update ``u`` on the batch of update ``source`` (replay); default ``u``.
        ``batch``: train on this batch instead (a sleep phase's own input).

        Nothing is applied when a value is non-finite: :class:`NonFiniteError` names the
        update and where (settling step and level, or net and level)."""
        with phases.phase("data"):
            if batch is None:
                batch = self.batches(u if source is None else source)
            if not isinstance(batch, Batch):
                raise ConfigError(f"the batches of update {u} are a {type(batch).__name__}; the batch source must "
                                  "return a bioglom.learning.Batch (images, corrupted, keep[, labels, groups])")
            batch = batch.to(self.model.device)
        kind = check_phase(self.phase(u))
        self.optimizer.zero_grad(set_to_none=True)
        last_good = (self.checkpoint if self.checkpoint and self.checkpoint.exists() else
                     "(none written yet)" if self.checkpoint else "(none: no checkpoint path given)")
        try:
            with phases.phase("rule"):
                out = self.rule.accumulate(self.model, batch, update_generator(self.seed, u), kind)
        except NonFiniteError as e:
            raise NonFiniteError(f"non-finite value at update {u}, {e}; the last good checkpoint is {last_good}") from e
        with phases.phase("checks"):
            where = first_non_finite(out.trajectory)
            place = f"settling step {where[0]}, level {where[1]}" if where else None
            if place is None and not torch.isfinite(out.loss):
                place = "the loss"
            if place is None:
                place = first_non_finite_grad(self.model)
        if place is not None:
            raise NonFiniteError(f"non-finite value at update {u}, {place}; the last good checkpoint is {last_good}")
        with phases.phase("optimiser"):
            self._set_lr(u)
            self.optimizer.step()
        self.last_output = out
        return {"update": u, "phase": kind, **out.metrics}

    def run(self, resume: bool = False, stop_after: int | None = None, evaluate=None,
            evaluate_every: int = 0) -> list[dict]:
        """Train up to ``updates`` (or ``stop_after`` more updates); return the metrics history.

        ``evaluate(u)``, if given, runs before update 0 (when starting fresh) and after every
        ``evaluate_every`` updates (and after the last); its metrics are kept in
        ``self.evaluations`` with ``update`` = the number of updates done, and checkpointed."""
        from tqdm.auto import tqdm

        check_bool("resume", resume)
        check_positive("evaluate_every", evaluate_every, strict=False, integer=True)
        if stop_after is not None:
            check_positive("stop_after", stop_after, strict=False, integer=True)
        if evaluate is not None and not callable(evaluate):
            raise ConfigError(f"evaluate={evaluate!r} is not allowed; give a function of the update index, or None")
        with phases.phase(self.label):  # a profile (benchmarks/profile_runs.py) keeps each run apart
            if resume:
                self.load()
                if self.update > self.updates:  # the checkpoint holds more training than this run asks for
                    raise ConfigError(f"updates={self.updates} is not allowed with resume=True: the checkpoint "
                                      f"{self.checkpoint} has {self.update} updates done; give updates >= "
                                      f"{self.update}, or start a new run")
            if evaluate is not None and self.update == 0 and not self.evaluations:
                with phases.phase("evaluation"):
                    self._evaluated({"update": 0, **evaluate(0)})
            end = self.updates if stop_after is None else min(self.updates, self.update + stop_after)
            self.model.train()
            terminal = sys.stderr.isatty()
            every = max(1, self.updates // 10)  # lines in a log: about 10 per run
            with tqdm(total=self.updates, initial=self.update, disable=not (self.progress and terminal),
                      desc=self.label, dynamic_ncols=True) as bar:
                while self.update < end:
                    with phases.phase("update"):
                        metrics = self.step(self.update)
                    self.history.append(metrics)
                    self.update += 1
                    due = self.update % max(evaluate_every, 1) == 0 or self.update == self.updates
                    if evaluate is not None and due:
                        with phases.phase("evaluation"):
                            self._evaluated({"update": self.update, **evaluate(self.update)})
                    bar.update(1)
                    bar.set_postfix(loss=f"{metrics['loss']:.4f}", refresh=False)
                    if self.progress and not terminal and (self.update % every == 0 or self.update == end):
                        print(f"{self.label}: update {self.update}/{self.updates}, loss {metrics['loss']:.4f}",
                              file=sys.stderr, flush=True)
                    if self.update % self.checkpoint_every == 0 or self.update == end:
                        with phases.phase("checkpoint"):
                            self.save()
        return self.history
