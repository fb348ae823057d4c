"""What every learning rule looks like to the trainer.

A rule turns one :class:`Batch` into a scalar ``loss`` whose gradient is the rule's
parameter update (for local rules, a surrogate whose gradient equals the local update),
plus metrics and the trajectory it settled. Rules are chosen by name from a registry.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Protocol

import torch

from ..config import ConfigError, NonFiniteError
from ..model import Glom, Trajectory

__all__ = ["Batch", "RuleOutput", "LearningRule", "NonFiniteError", "RULES", "register_rule", "build_rule"]



class Batch(NamedTuple):
    """One training batch: ``clean`` images (the target), the ``corrupted`` input the
    model sees, and the ``keep`` mask (1 where the input was kept). Static ``[B, C, H, W]``
    or video ``[B, T, C, H, W]``. ``labels`` ``[B, L, N]`` (ground-truth island of every
    column at every level) is ``None`` except for the supervised control; no label-free
    rule reads it. ``groups`` ``[B, L, N]`` says which columns should agree, computed from
    the input alone (motion segments, :func:`~bioglom.data.motion.motion_segments`; 0:
    no group): a label-free grouping signal (paper 7), or ``None``."""

    clean: torch.Tensor
    corrupted: torch.Tensor
    keep: torch.Tensor
    labels: torch.Tensor | None = None
    groups: torch.Tensor | None = None

    def to(self, device) -> "Batch":
        return Batch(*(None if t is None else t.to(device) for t in self))


class RuleOutput(NamedTuple):
    loss: torch.Tensor
    metrics: dict
    trajectory: Trajectory


class LearningRule(Protocol):
    """What the trainer calls. ``accumulate`` adds the rule's parameter update, as a
    gradient to descend, to every parameter's ``.grad`` (a local rule one settling step at
    a time; ``backprop`` by one backward pass) and returns the rule's loss and metrics.
    ``phase`` is ``"positive"`` (pull toward the own context), ``"negative"`` (push away
    from an unrelated one) or ``"both"``: the wake/sleep scheduler chooses it per update.
    A rule modifies neither the batch nor the weights."""

    name: str

    def accumulate(self, model: Glom, batch: Batch, generator: torch.Generator | None = None,
                   phase: str = "both") -> RuleOutput: ...

    def options(self) -> dict: ...


RULES: dict[str, Callable[..., LearningRule]] = {}


def register_rule(name: str):
    """Class decorator: make a rule available to :func:`build_rule` under ``name``."""
    def deco(cls):
        RULES[name] = cls
        cls.name = name
        return cls
    return deco


def build_rule(name: str, **options) -> LearningRule:
    """The rule called ``name``, built with ``options`` (each checked by the rule)."""
    if name not in RULES:
        raise ConfigError(f"rule={name!r} is not allowed; choose one of {sorted(RULES)}")
    return RULES[name](**options)
