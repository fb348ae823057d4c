"""The negative (contrastive) term shared by every rule: a hinge on separation.

Paper footnote 24: negative learning should separate embeddings that ought to differ, not
push them ever further apart. With ``dist = ||f - o||^2 / D`` between a prediction ``f``
and the embedding ``o`` of an unrelated context,

    hinge(f, o) = max(0, margin - dist)

which is exactly zero (and has zero gradient) once ``dist >= margin``.
"""

from __future__ import annotations

import torch

__all__ = ["PHASES", "check_phase", "hinge", "hinge_error", "other_image"]

PHASES = ("both", "positive", "negative")


def check_phase(phase: str) -> str:
    from ..config import check_choice

    check_choice("phase", phase, PHASES)
    return phase


def hinge(pred: torch.Tensor, other: torch.Tensor, margin: float) -> torch.Tensor:
    """``max(0, margin - ||pred - other||^2 / D)`` per vector (last axis reduced)."""
    return torch.relu(margin - ((pred - other) ** 2).sum(-1) / pred.shape[-1])


def hinge_error(pred: torch.Tensor, other: torch.Tensor, margin: float) -> torch.Tensor:
    """The gradient of :func:`hinge` with respect to ``pred``: ``-2 (pred - other) / D``
    inside the margin, exactly 0 outside it."""
    diff = pred - other
    inside = ((diff ** 2).sum(-1, keepdim=True) / pred.shape[-1]) < margin
    return torch.where(inside, -2.0 * diff / pred.shape[-1], torch.zeros_like(diff))


def other_image(x: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """The same tensor with each sample paired with the next one in the batch (roll by 1):
    an unrelated context at the same column and level."""
    return x.roll(1, dims=dim)
