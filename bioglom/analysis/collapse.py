"""Collapse in sight: how far a level's states are from one vector, within an image and
across images (docs/claims.md, "Collapse gates").

A representation can collapse in two ways that one number does not tell apart: every
column of an image on one vector (no islands can be read), or every image on the same
vectors (each column outputs about the same thing whatever its input, so whatever islands
there are follow position, not content). With unit states ``u = s / |s|`` of one level,
``[B, N, D]`` (images, columns, dimensions):

- ``spread_within``  ``mean_b mean_n || u_bn - mean_n' u_bn' ||``: how far a column is from
  its image's mean (0: one vector per image);
- ``spread_across``  ``mean_n mean_b || u_bn - mean_b' u_b'n ||``: how far a column's state
  is from that column's mean over images (0: the same state whatever the input);
- ``participation_ratio``  ``(sum_k lambda_k)^2 / sum_k lambda_k^2`` of the covariance of
  ``u`` over all columns of all images: the effective number of dimensions in use (1 for
  states on a line, ``D`` for isotropic ones);
- scoring only, with ground-truth objects: ``cosine_same`` and ``cosine_other``, the mean
  cosine between foreground columns of the same object and of different objects of one
  image (collapse: both near 1; dispersal: both near 0).

Unit states make the measures independent of the normalisation a model uses. Each is
computed per level; :func:`collapse_measures` returns them as one array.
"""

from __future__ import annotations

import torch

__all__ = ["COLLAPSE_MEASURES", "collapse_measures", "participation_ratio"]

COLLAPSE_MEASURES = ("spread_within", "spread_across", "participation_ratio", "cosine_same", "cosine_other")


def participation_ratio(x: torch.Tensor):
    """``(sum_k lambda_k)^2 / sum_k lambda_k^2`` over the eigenvalues of the covariance of the
    rows of ``x [..., n, d]`` (float64): ``k`` for ``k`` equal, orthogonal directions of
    variation, 0 when nothing varies. A float for ``[n, d]``; a float64 tensor over the
    leading axes otherwise."""
    rows = x.double()
    centred = rows - rows.mean(-2, keepdim=True)
    cov = centred.transpose(-1, -2) @ centred / max(rows.shape[-2], 1)
    trace = torch.diagonal(cov, dim1=-2, dim2=-1).sum(-1)
    square = (cov * cov).sum((-2, -1))  # sum of squared eigenvalues of a symmetric matrix
    ratio = torch.where(square > 1e-24, trace * trace / square.clamp(min=1e-300), torch.zeros_like(square))
    return float(ratio) if x.dim() == 2 else ratio


def collapse_measures(states: torch.Tensor, objects: torch.Tensor | None = None) -> torch.Tensor:
    """:data:`COLLAPSE_MEASURES` per level of ``states [B, L, N, D]``: ``[L, 5]`` (float64).

    ``objects [B, N]`` (0: background) gives ``cosine_same`` and ``cosine_other`` (NaN
    without it, or where an image has no such pair)."""
    u = torch.nn.functional.normalize(states.double(), dim=-1, eps=1e-12)  # b l n d
    b, L, n, d = u.shape
    within = (u - u.mean(2, keepdim=True)).norm(dim=-1).mean((0, 2))  # l
    across = (u - u.mean(0, keepdim=True)).norm(dim=-1).mean((0, 2))  # l
    pr = participation_ratio(u.transpose(0, 1).reshape(L, b * n, d))  # l
    same = other = torch.full((L,), float("nan"), dtype=torch.float64)
    if objects is not None:
        from .islands import pair_rows

        step = pair_rows(b, L * n * n)  # images a chunk at a time (one chunk where they fit: the same sums)
        sums = sum(_pair_cosines(u[i:i + step], objects[i:i + step].long()) for i in range(0, b, step))  # 2 2 l
        total, count = sums
        same, other = torch.where(count > 0, total / count.clamp_min(1), torch.full_like(total, float("nan")))
    return torch.stack([within, across, pr, same, other], -1)


def _pair_cosines(u: torch.Tensor, o: torch.Tensor) -> torch.Tensor:
    """Sums of the cosines of ``u [b, l, n, d]`` between foreground columns of the same and
    of different objects ``o [b, n]``, and the pair counts: ``[2 (total, count), 2 (same,
    other), l]``."""
    n = u.shape[2]
    cos = u @ u.transpose(-1, -2)  # b l n m
    fg = (o > 0)[:, :, None] & (o > 0)[:, None, :]  # b n m
    eye = torch.eye(n, dtype=torch.bool)
    pair_same = (fg & (o[:, :, None] == o[:, None, :]) & ~eye)[:, None].expand_as(cos)
    pair_other = (fg & (o[:, :, None] != o[:, None, :]))[:, None].expand_as(cos)
    totals = torch.stack([(cos * m).sum((0, 2, 3)) for m in (pair_same, pair_other)])
    counts = torch.stack([m.sum((0, 2, 3)).double() for m in (pair_same, pair_other)])
    return torch.stack([totals, counts])
