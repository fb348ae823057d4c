"""The negative (contrastive) term shared by every rule: a hinge on separation.

Paper footnote 24: negative learning should separate embeddings that ought to differ, not
push them ever further apart. With ``dist = ||f - o||^2 / D`` between a prediction ``f``
and the embedding ``o`` of an unrelated context,

    hinge(f, o) = max(0, margin - dist)

which is exactly zero (and has zero gradient) once ``dist >= margin``.
"""

from __future__ import annotations

import torch

__all__ = ["PHASES", "check_phase", "hinge", "hinge_error", "hinge_terms", "other_image", "repulsion_weights", "same_image_hinge", "same_image_hinge_pairwise",
           "island_supervision"]

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


def repulsion_weights(target: torch.Tensor, beta: float, pairs: torch.Tensor | None = None) -> torch.Tensor:
    """How little each location attends to each other location of the same image: ``[..., n, m]``.

    For consensus vectors ``target [..., n, d]`` (detached), with ``c_nm`` their cosine
    similarity, ``v_nm = 1 - exp(beta (c_nm - max_{m' != n} c_nm'))``: the ratio of the
    attention ``n`` pays to ``m`` to the most it pays to any other location, taken from
    1. About 0 for the locations ``n`` attends to most (its island), about 1 for those it
    ignores; ``v_nn = 0``. No ground-truth label enters.

    ``pairs [n, k]`` (:func:`~bioglom.learning.pairs.draw_pairs`): only at each location's
    drawn pairs, ``[..., n, k]``, the maximum taken over them.
    """
    unit = torch.nn.functional.normalize(target.detach(), dim=-1, eps=1e-8)
    if pairs is not None:
        from .pairs import drawn_dot

        cos = drawn_dot(unit, unit, pairs)  # ... n k
        return cos.sub_(cos.amax(-1, keepdim=True)).mul_(beta).exp_().neg_().add_(1)
    cos = unit @ unit.transpose(-1, -2)  # ... n m
    eye = torch.eye(cos.shape[-1], dtype=torch.bool, device=cos.device)
    cos.masked_fill_(eye, -2.0)  # in place: the [..., n, m] tensors are the large ones here
    best = cos.amax(-1, keepdim=True)
    v = cos.sub_(best).mul_(beta).exp_().neg_().add_(1)
    return v.masked_fill_(eye, 0.0)


class _WeightedPairHinge(torch.autograd.Function):
    """``out_n = sum_m v_nm max(0, margin - ||p_n - t_m||^2 / D) / sum_m v_nm`` with the
    gradient with respect to ``p`` in closed form, ``-(2 / D) (g_n / V_n) (p_n A_n - sum_m
    a_nm t_m)``, ``a_nm = v_nm [dist_nm < margin]``, ``A_n = sum_m a_nm``, ``V_n = max(sum_m
    v_nm, 1e-8)``: the backward pass reads the ``[..., n, m]`` pairs four times where autograd
    of the formula makes about ten passes (1.8-2x faster on 2 CPU cores at the islands
    simulation's sizes; tests/test_negatives.py checks it against autograd in float64)."""

    @staticmethod
    def forward(ctx, pred, target, v, margin):
        d = pred.shape[-1]
        lead, n, m = pred.shape[:-2], pred.shape[-2], target.shape[-2]
        # margin - dist = margin - |p_n|^2 / D - |t_m|^2 / D + (2 / D) p_n . t_m, for all pairs at once
        p3, t3 = pred.reshape(-1, n, d), target.reshape(-1, m, d)
        h = torch.bmm(p3, t3.transpose(1, 2)).mul_(2.0 / d)  # (...) n m; in place below: the large tensors
        h.add_((margin - (p3 * p3).sum(-1) / d)[:, :, None]).sub_(((t3 * t3).sum(-1) / d)[:, None, :]).relu_()
        vs = v.expand(*lead, n, m).reshape(-1, n, m)
        total = vs.sum(-1).clamp_min(1e-8)
        out = (vs * h).sum(-1)
        ctx.save_for_backward(p3, t3, vs, h, total)
        ctx.lead = pred.shape
        return (out / total).view(*lead, n)

    @staticmethod
    def backward(ctx, grad):
        p3, t3, vs, h, total = ctx.saved_tensors
        d = p3.shape[-1]
        a = h.sign().mul_(vs)  # (...) n m: the weights of the pairs inside the margin (h >= 0)
        scale = grad.reshape(-1, p3.shape[1]) / total * (-2.0 / d)  # (...) n
        dp = (p3 * a.sum(-1, keepdim=True) - torch.bmm(a, t3)) * scale[..., None]
        return dp.view(ctx.lead), None, None, None


def same_image_hinge(pred: torch.Tensor, target: torch.Tensor, margin: float, beta: float,
                     allowed: torch.Tensor | None = None, weights: torch.Tensor | None = None,
                     pairs: torch.Tensor | None = None) -> torch.Tensor:
    """Label-free negatives from the same image (paper 7: locations of other objects "in
    the same or other images").

    ``pred, target [..., n, d]`` (the target detached): per location ``n``,
    ``sum_m v_nm max(0, margin - ||pred_n - target_m||^2 / D) / sum_m v_nm`` with the
    weights ``v`` of :func:`repulsion_weights`, times ``allowed [..., n, m]`` (bool,
    broadcastable) where given: e.g. only locations outside the level's attention
    neighbourhood, beyond the scale at which that level forms islands. Returns ``[..., n]``
    (0 for a location with no allowed negative). ``weights``: ``repulsion_weights(target,
    beta)`` when the caller already has them (both directions of a rule share a target).
    ``pairs [n, k]``: the sums over ``m`` run over each location's drawn pairs only
    (:mod:`~bioglom.learning.pairs`; ``weights`` then ``[..., n, k]``), O(n k) memory.
    """
    target = target.detach()
    if pairs is not None:
        return _drawn_hinge(pred, target, margin, beta, allowed, weights, pairs)
    v = repulsion_weights(target, beta) if weights is None else weights  # ... n m
    if allowed is not None:
        v = v * allowed.to(v.dtype)
    lead = torch.broadcast_shapes(pred.shape[:-2], target.shape[:-2])
    pred, target = pred.expand(*lead, *pred.shape[-2:]), target.expand(*lead, *target.shape[-2:])
    return _WeightedPairHinge.apply(pred, target, v, float(margin))


def _drawn_hinge(pred, target, margin, beta, allowed, weights, pairs):
    """:func:`same_image_hinge` over drawn pairs: ``margin - |p_n|^2 / D - |t_m|^2 / D + (2 /
    D) p_n . t_m`` from :func:`~bioglom.learning.pairs.drawn_dot`, all ``[..., n, k]``."""
    from .pairs import drawn, drawn_dot

    d = pred.shape[-1]
    v = repulsion_weights(target, beta, pairs) if weights is None else weights  # ... n k
    if allowed is not None:
        rows = torch.arange(pairs.shape[0], device=pairs.device)[:, None]
        v = v * allowed[..., rows, pairs].to(v.dtype)
    h = torch.relu(drawn_dot(pred, target, pairs) * (2.0 / d) + margin - (pred * pred).sum(-1, keepdim=True) / d
                   - drawn((target * target).sum(-1) / d, pairs))
    return (v * h).sum(-1) / v.sum(-1).clamp_min(1e-8)


def same_image_hinge_pairwise(pred: torch.Tensor, target: torch.Tensor, margin: float, beta: float,
                              allowed: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`same_image_hinge` as its equation reads, every pair ``[..., n, m]`` of distances
    materialised and differentiated by autograd: the reference of its closed-form gradient
    (tests/test_negatives.py) and what ``benchmarks/kernels.py`` times it against."""
    v = repulsion_weights(target.detach(), beta)
    if allowed is not None:
        v = v * allowed.to(v.dtype)
    dist = ((pred[..., :, None, :] - target.detach()[..., None, :, :]) ** 2).mean(-1)  # ... n m
    return (v * torch.relu(margin - dist)).sum(-1) / v.sum(-1).clamp_min(1e-8)


def island_supervision(states: torch.Tensor, labels: torch.Tensor, beta: float,
                       pairs: torch.Tensor | None = None) -> torch.Tensor:
    """Supervised island loss (the label-trained control; Culp, Sabour & Hinton 2022 found
    islands only with supervision): attention, as settling computes it, asked to bind
    exactly the columns of the same ground-truth island.

    ``states [b, l, n, d]``, ``labels [b, l, n]`` (0 background). With the cosine attention
    ``p(m | n) = softmax_{m != n}(beta cos(s_n, s_m))`` within each image and level, the loss
    of a foreground column ``n`` is ``-log sum_{m != n, labels_m = labels_n} p(m | n)``
    (a supervised-contrastive loss whose negatives are every other column, background
    included). Averaged over the foreground columns that have a partner; ``[l]`` per level.
    ``pairs [n, k]``: the softmax and the partners are each column's drawn pairs only
    (:mod:`~bioglom.learning.pairs`), O(n k) memory.
    """
    unit = torch.nn.functional.normalize(states, dim=-1, eps=1e-8)
    if pairs is not None:
        from .pairs import drawn, drawn_dot

        logp = torch.log_softmax(beta * drawn_dot(unit, unit, pairs), -1)  # b l n k
        same = drawn(labels, pairs) == labels[..., None]
        return _island_mean(logp, same, labels)
    logits = beta * unit @ unit.transpose(-1, -2)  # b l n m
    eye = torch.eye(logits.shape[-1], dtype=torch.bool, device=logits.device)
    logp = torch.log_softmax(logits.masked_fill(eye, float("-inf")), -1)
    same = (labels[..., :, None] == labels[..., None, :]) & ~eye  # b l n m
    return _island_mean(logp, same, labels)


def _island_mean(logp: torch.Tensor, same: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``-log sum_{m same} p(m | n)`` averaged per level over foreground anchors with a partner."""
    anchor = (labels > 0) & same.any(-1)  # b l n
    bound = torch.logsumexp(logp.masked_fill(~same, float("-inf")), -1)  # b l n
    loss = torch.where(anchor, -bound, torch.zeros_like(bound))
    return loss.sum((0, 2)) / anchor.sum((0, 2)).clamp_min(1)
