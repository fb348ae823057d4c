"""The negative (contrastive) term shared by every rule: a hinge on separation.

Paper footnote 24: negative learning should separate embeddings that ought to differ, not
push them ever further apart. With ``dist = ||f - o||^2 / D`` between a prediction ``f``
and the embedding ``o`` of an unrelated context,

    hinge(f, o) = max(0, margin - dist)

which is exactly zero (and has zero gradient) once ``dist >= margin``.
"""

from __future__ import annotations

import torch

__all__ = ["PHASES", "check_phase", "hinge", "hinge_error", "hinge_terms", "other_image", "repulsion_weights", "same_image_hinge", "island_supervision"]

PHASES = ("both", "positive", "negative")


def check_phase(phase: str) -> str:
    from ..config import check_choice

    check_choice("phase", phase, PHASES)
    return phase


def hinge(pred: torch.Tensor, other: torch.Tensor, margin: float) -> torch.Tensor:
    """``max(0, margin - ||pred - other||^2 / D)`` per vector (last axis reduced)."""
    return hinge_terms(pred, other, margin)[0]


def hinge_error(pred: torch.Tensor, other: torch.Tensor, margin: float) -> torch.Tensor:
    """The gradient of :func:`hinge` with respect to ``pred``: ``-2 (pred - other) / D``
    inside the margin, exactly 0 outside it."""
    return hinge_terms(pred, other, margin)[1]


def hinge_terms(pred: torch.Tensor, other: torch.Tensor, margin: float) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`hinge` (``[...]``) and :func:`hinge_error` (``[..., D]``) from one distance."""
    diff = pred - other
    dist = (diff * diff).mean(-1, keepdim=True)
    inside = (dist < margin).to(diff.dtype)
    return torch.relu(margin - dist)[..., 0], diff * (inside * (-2.0 / pred.shape[-1]))


def other_image(x: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """The same tensor with each sample paired with the next one in the batch (roll by 1):
    an unrelated context at the same column and level."""
    return x.roll(1, dims=dim)


def repulsion_weights(target: torch.Tensor, beta: float) -> torch.Tensor:
    """How little each location attends to each other location of the same image: ``[..., n, m]``.

    For consensus vectors ``target [..., n, d]`` (detached), with ``c_nm`` their cosine
    similarity, ``v_nm = 1 - exp(beta (c_nm - max_{m' != n} c_nm'))``: the ratio of the
    attention ``n`` pays to ``m`` to the most it pays to any other location, taken from
    1. About 0 for the locations ``n`` attends to most (its island), about 1 for those it
    ignores; ``v_nn = 0``. No ground-truth label enters.
    """
    unit = torch.nn.functional.normalize(target.detach(), dim=-1, eps=1e-8)
    cos = unit @ unit.transpose(-1, -2)  # ... n m
    eye = torch.eye(cos.shape[-1], dtype=torch.bool, device=cos.device)
    cos = cos.masked_fill(eye, -2.0)
    best = cos.amax(-1, keepdim=True)
    return (1 - torch.exp(beta * (cos - best))).masked_fill(eye, 0.0)


def same_image_hinge(pred: torch.Tensor, target: torch.Tensor, margin: float, beta: float,
                     allowed: torch.Tensor | None = None) -> torch.Tensor:
    """Label-free negatives from the same image (paper 7: locations of other objects "in
    the same or other images").

    ``pred, target [..., n, d]`` (the target detached): per location ``n``,
    ``sum_m v_nm max(0, margin - ||pred_n - target_m||^2 / D) / sum_m v_nm`` with the
    weights ``v`` of :func:`repulsion_weights`, times ``allowed [..., n, m]`` (bool,
    broadcastable) where given: e.g. only locations outside the level's attention
    neighbourhood, beyond the scale at which that level forms islands. Returns ``[..., n]``
    (0 for a location with no allowed negative).
    """
    target = target.detach()
    v = repulsion_weights(target, beta)  # ... n m
    if allowed is not None:
        v = v * allowed.to(v.dtype)
    d = pred.shape[-1]
    # ||p_n - t_m||^2 = |p_n|^2 + |t_m|^2 - 2 p_n . t_m, for all pairs at once
    dist = ((pred**2).sum(-1)[..., :, None] + (target**2).sum(-1)[..., None, :]
            - 2 * pred @ target.transpose(-1, -2)) / d  # ... n m
    h = torch.relu(margin - dist)
    return (v * h).sum(-1) / v.sum(-1).clamp_min(1e-8)


def island_supervision(states: torch.Tensor, labels: torch.Tensor, beta: float) -> torch.Tensor:
    """Supervised island loss (the label-trained control; Culp, Sabour & Hinton 2022 found
    islands only with supervision): attention, as settling computes it, asked to bind
    exactly the columns of the same ground-truth island.

    ``states [b, l, n, d]``, ``labels [b, l, n]`` (0 background). With the cosine attention
    ``p(m | n) = softmax_{m != n}(beta cos(s_n, s_m))`` within each image and level, the loss
    of a foreground column ``n`` is ``-log sum_{m != n, labels_m = labels_n} p(m | n)``
    (a supervised-contrastive loss whose negatives are every other column, background
    included). Averaged over the foreground columns that have a partner; ``[l]`` per level.
    """
    unit = torch.nn.functional.normalize(states, dim=-1, eps=1e-8)
    logits = beta * unit @ unit.transpose(-1, -2)  # b l n m
    eye = torch.eye(logits.shape[-1], dtype=torch.bool, device=logits.device)
    logp = torch.log_softmax(logits.masked_fill(eye, float("-inf")), -1)
    same = (labels[..., :, None] == labels[..., None, :]) & ~eye  # b l n m
    anchor = (labels > 0) & same.any(-1)  # b l n
    bound = torch.logsumexp(logp.masked_fill(~same, float("-inf")), -1)  # b l n
    loss = torch.where(anchor, -bound, torch.zeros_like(bound))
    return loss.sum((0, 2)) / anchor.sum((0, 2)).clamp_min(1)
