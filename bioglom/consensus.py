"""The consensus: how the four contributions to an embedding are combined (docs/design.md §3).

``s_{t+1}[l] = sum_i a_i(t) pi_i c_i / sum_i a_i(t) pi_i`` over the contributions
``c = (bottom_up, top_down, previous, lateral)`` present at level ``l``. With
``consensus="mean"`` every precision ``pi_i`` is 1. With ``consensus="precision"`` the
bottom-up and top-down nets also output a per-dimension log-precision, and the previous
and lateral terms have precision 1: the result is the mean of the weighted geometric mean
of the Gaussians ``N(c_i, 1 / pi_i)`` with exponents ``a_i`` (paper 9.1), which is a
Gaussian with precision ``sum_i a_i pi_i`` and the mean above.

With ``consensus="oscillator"`` a level's embedding is a set of small oscillators: groups
of ``g`` dimensions, each kept on a sphere (``norm="groups"``), that only rotate
(:func:`oscillator_step`; Miyato et al. 2025, AKOrN). The bottom-up and top-down
contributions are the stimulus, lateral attention is the coupling: columns that attend
to each other pull their oscillators into step, and an island is a group of columns in
synchrony.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .config import GlomConfig

__all__ = ["Contributions", "CONTRIBUTIONS", "consensus_weights", "combine", "normalise", "oscillator_drive", "oscillator_step"]



class Contributions(NamedTuple):
    """The four contributions ``c_i`` to a level's next embedding (paper 3.4), each
    ``[b, L, N, D]`` (or with leading axes, e.g. ``[S, b, L, N, D]`` over steps): the
    bottom-up net's vote from the level below, the top-down net's vote from the level above
    (0 at the top level), the previous state, and the attention-weighted average of
    same-level neighbours. As a tuple, ``c[i]`` is the ``i``-th of :data:`CONTRIBUTIONS`,
    the order of the ``[4, L]`` consensus weights."""

    bottom_up: torch.Tensor
    top_down: torch.Tensor
    previous: torch.Tensor
    lateral: torch.Tensor


CONTRIBUTIONS = Contributions._fields


def consensus_weights(cfg: GlomConfig, step: int, steps: int) -> torch.Tensor:
    """Weights ``a_i`` at settling step ``step`` of ``steps``, per level: ``[4, L]``.

    Linear from ``cfg.weights_start`` to ``cfg.weights_end`` over the steps (paper 9.1:
    bottom-up most reliable at first, top-down and lateral later). The top level has no
    top-down contribution, so its top-down weight is 0.
    """
    frac = step / (steps - 1) if steps > 1 else 1.0
    start = torch.tensor(cfg.weights_start, dtype=torch.float32)
    end = torch.tensor(cfg.weights_end, dtype=torch.float32)
    a = (start + (end - start) * frac)[:, None].repeat(1, cfg.levels)  # i l
    a[1, -1] = 0.0
    return a


def combine(contributions, weights: torch.Tensor, precisions: torch.Tensor | None = None) -> torch.Tensor:
    """Weighted (and optionally precision-weighted) mean of the contributions.

    Parameters
    ----------
    contributions : :class:`Contributions` (or Tensor ``[i, b, l, n, d]`` / a sequence of
        the ``i`` tensors ``[b, l, n, d]`` in the order of :data:`CONTRIBUTIONS`)
    weights : Tensor ``[i, l]``
        Non-negative weights ``a_i`` per level; an absent contribution has weight 0.
    precisions : Tensor broadcastable to ``[i, b, l, n, d]``, optional
        Precisions ``pi_i > 0``; ``None`` means all 1.

    Returns
    -------
    Tensor ``[b, l, n, d]``: ``sum_i a_i pi_i c_i / sum_i a_i pi_i``.
    """
    if precisions is not None:
        c = torch.stack(list(contributions)) if not isinstance(contributions, torch.Tensor) else contributions
        w = weights.to(c)[:, None, :, None, None] * precisions  # i b l n d
        # an absent contribution is 0 with weight 0; where() keeps a NaN there from leaking in
        return torch.where(w > 0, w * c, 0.0).sum(0) / w.sum(0)
    # without precisions the normaliser depends on the level only: divide the [i, l] weights
    # once, not the [b, l, n, d] sum
    w = weights.to(contributions[0])  # the contributions' dtype before dividing: float64 stays exact
    a = (w / w.sum(0))[:, None, :, None, None]  # i 1 l 1 1
    total = None
    for i in range(len(contributions)):  # the four contributions, not columns
        term = a[i] * contributions[i]
        # set to exactly 0 where this contribution has weight 0, so a NaN in it cannot leak in
        if torch.compiler.is_compiling():  # fused into the product; a data-dependent index would split the graph
            term = torch.where(a[i] > 0, term, 0.0)
        else:
            absent = (weights[i] <= 0).nonzero()[:, 0]  # levels where this contribution has weight 0
            if len(absent):
                term.index_fill_(1, absent.to(term.device), 0.0)
        total = term if total is None else total + term
    return total


def normalise(x: torch.Tensor, kind: str, eps: float = 1e-5, group: int = 4) -> torch.Tensor:
    """Normalise each embedding vector (last axis) without learned parameters.

    ``layer``: ``(x - mean) / sqrt(var + eps)``; ``l2``: ``sqrt(D) x / |x|`` (the same
    scale as ``layer``); ``groups``: ``sqrt(g) x_k / |x_k|`` for each group ``x_k`` of
    ``group`` consecutive dimensions (oscillators on spheres of radius ``sqrt(g)``, the same
    scale again); ``none``: ``x``. Per vector, so columns stay independent.
    """
    if kind == "layer":
        return torch.nn.functional.layer_norm(x, x.shape[-1:], eps=eps)
    if kind == "l2":
        return torch.nn.functional.normalize(x, dim=-1, eps=eps) * x.shape[-1] ** 0.5
    if kind == "groups":
        g = x.reshape(*x.shape[:-1], x.shape[-1] // group, group)  # ... k g
        return (torch.nn.functional.normalize(g, dim=-1, eps=eps) * group ** 0.5).reshape(x.shape)
    return x


def oscillator_drive(contributions, weights: torch.Tensor) -> torch.Tensor:
    """What moves the oscillators: ``sum_i a_i c_i`` over the bottom-up and top-down
    contributions (the stimulus) and the lateral one (the coupling), ``[b, l, n, d]``. The
    previous state is the oscillator itself, so its weight does not enter."""
    w = weights.to(contributions[0])
    total = None
    for i, name in enumerate(CONTRIBUTIONS):  # the contributions, not columns
        if name == "previous":
            continue
        term = w[i][None, :, None, None] * torch.nan_to_num(contributions[i]) if (w[i] > 0).any() else None
        if term is not None:
            total = term if total is None else total + term
    return total


def oscillator_step(state: torch.Tensor, drive: torch.Tensor, rate: float, omega: float = 0.0,
                    group: int = 4, eps: float = 1e-5) -> torch.Tensor:
    """One oscillator update (AKOrN's Kuramoto step, per group of ``group`` dimensions):

        x' = normalise_groups(x + rate (omega R x + drive - (drive . u) u)),   u = x / |x|

    ``drive - (drive . u) u`` is the drive projected onto the tangent space of each group's
    sphere, so the oscillators only rotate; ``R`` turns each consecutive pair of
    dimensions ``(x_1, x_2)`` into ``(x_2, -x_1)``, a natural frequency ``omega``. Groups
    end with radius ``sqrt(group)`` (:func:`normalise` ``groups``). ``state``, ``drive``
    ``[..., D]``; returns ``[..., D]``."""
    shape = state.shape
    x = state.reshape(*shape[:-1], shape[-1] // group, group)  # ... k g
    y = drive.reshape(x.shape)
    u = torch.nn.functional.normalize(x, dim=-1, eps=eps)
    tangent = y - (y * u).sum(-1, keepdim=True) * u
    step = tangent
    if omega:
        pairs = x.reshape(*x.shape[:-1], group // 2, 2)
        rotated = torch.stack([pairs[..., 1], -pairs[..., 0]], -1).reshape(x.shape)
        step = step + omega * rotated
    return normalise((x + rate * step).reshape(shape), "groups", eps, group)
