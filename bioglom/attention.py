"""Lateral attention within a level: parameter-free, query = key = value = the embedding.

Paper 3.4: ``w_nm = exp(beta s_n . s_m) / sum_z exp(beta s_n . s_z)`` over the columns
``z`` that column ``n`` attends to at that level. Which columns those are is the
neighbourhood (paper 6): ``full``, ``window`` (Chebyshev radius per level) or
``gaussian`` (K columns sampled without replacement from a Gaussian around ``n``). A
column always attends to itself.

A neighbourhood is held densely, as a ``[L, N, N]`` boolean mask, or sparsely, as
:class:`Neighbours`: for every level and column the indices of ``K`` columns it may attend
to (``[L, N, K]``, with a validity flag for padding slots). The sparse form costs memory
and time O(N K) instead of O(N^2), and never builds an ``[N, N]`` tensor:
:func:`window_neighbours` and :func:`gaussian_neighbours` draw it directly, and
:func:`lateral_attention` takes either form and gives the same result.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .config import GlomConfig, gaussian_radius

__all__ = [
    "grid_distances",
    "full_mask",
    "window_mask",
    "gaussian_mask",
    "neighbourhood_mask",
    "similarity_logits",
    "lateral_attention",
    "beta_schedule",
    "Neighbours",
    "window_neighbours",
    "gaussian_neighbours",
    "gaussian_radius",
    "neighbours_from_mask",
    "dense_mask",
]


class Neighbours(NamedTuple):
    """A sparse neighbourhood: column ``n`` of level ``l`` may attend to the columns
    ``index[l, n, k]`` for which ``valid[l, n, k]`` (``[L, N, K]`` each); padding slots
    point at ``n`` itself and are not valid."""

    index: torch.Tensor
    valid: torch.Tensor

    def to(self, device) -> "Neighbours":
        return Neighbours(self.index.to(device), self.valid.to(device))


def _positions(grid):
    h, w = grid
    n = torch.arange(h * w)
    return n, n // w, n % w


def _offsets(radius: int):
    r = torch.arange(-radius, radius + 1)
    dy, dx = torch.meshgrid(r, r, indexing="ij")
    return dy.reshape(-1), dx.reshape(-1)  # c


def window_neighbours(grid: tuple[int, int], radii) -> Neighbours:
    """:func:`window_mask` in sparse form: the ``(2R + 1)^2`` offsets of the largest radius
    ``R`` around each column, valid where inside the grid and within the level's radius.
    ``[L, N, K]`` with ``K = (2R + 1)^2``."""
    h, w = grid
    n, y, x = _positions(grid)
    dy, dx = _offsets(max(radii))
    ny, nx = y[:, None] + dy, x[:, None] + dx  # n k
    inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
    index = torch.where(inside, ny * w + nx, n[:, None])
    cheb = torch.maximum(dy.abs(), dx.abs())  # k
    valid = torch.stack([inside & (cheb <= r) for r in radii])  # one row of slots per level
    return Neighbours(index[None].expand(len(radii), -1, -1).contiguous(), valid)


def gaussian_neighbours(grid: tuple[int, int], ks, sigmas, generator: torch.Generator | None = None) -> Neighbours:
    """A Gaussian neighbourhood drawn in sparse form: column ``n`` of level ``l`` attends to
    itself and ``ks[l]`` other columns sampled without replacement with probability
    proportional to ``exp(-|pos_n - pos_m|^2 / (2 sigma_l^2))``, among the columns within
    a Chebyshev radius ``R_l = max(ceil(4 sigma_l), ceil(sqrt(ks[l] + 1)))`` (beyond
    ``4 sigma`` a column's weight is below ``e^-8`` of the nearest; the radius leaves even a
    corner column more than ``ks[l]`` candidates), by Gumbel top-k. Memory O(N R^2), no
    ``[N, N]`` tensor.
    ``[L, N, 1 + max(ks)]``; slot 0 is the column itself."""
    h, w = grid
    n, y, x = _positions(grid)
    k_max = max(ks)
    index = n[None, :, None].repeat(len(ks), 1, 1 + k_max)
    valid = torch.zeros(len(ks), len(n), 1 + k_max, dtype=torch.bool)
    valid[:, :, 0] = True
    for l, (k, sigma) in enumerate(zip(ks, sigmas)):  # one draw per level: levels differ in K and sigma
        if k == 0:
            continue
        radius = gaussian_radius(grid, k, sigma)
        dy, dx = _offsets(radius)
        yy, xx = y.int()[:, None] + dy.int(), x.int()[:, None] + dx.int()  # n c (int32: the largest tensors here)
        ok = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w) & ((dy != 0) | (dx != 0))
        del yy, xx
        # Gumbel top-k: the k largest of log p + Gumbel noise are a draw without replacement
        # proportional to p (Plackett-Luce), in O(N C) without a multinomial's copies
        log_p = (-(dy**2 + dx**2).float() / (2 * sigma**2))[None].expand(len(n), -1)
        u = torch.rand(log_p.shape, generator=generator).clamp_(1e-20, 1.0)
        keys = (log_p - torch.log(-torch.log(u))).masked_fill(~ok, float("-inf"))
        idx = keys.topk(k, dim=1).indices  # n k
        index[l, :, 1:1 + k] = (y[:, None] + dy[idx]) * w + x[:, None] + dx[idx]
        valid[l, :, 1:1 + k] = True
    return Neighbours(index, valid)


def neighbours_from_mask(mask: torch.Tensor) -> Neighbours:
    """A dense ``[L, N, N]`` mask in sparse form, ``K`` = the largest neighbourhood (tests,
    and a model's mask in index form). Builds on the dense mask, so for small grids only."""
    k = int(mask.sum(-1).max())
    order = torch.argsort((~mask).to(torch.int8), dim=-1, stable=True)[..., :k]  # members first, in column order
    valid = mask.gather(-1, order)
    n = torch.arange(mask.shape[-1])[None, :, None].expand_as(order)
    return Neighbours(torch.where(valid, order, n), valid)


def dense_mask(neighbours: Neighbours, n: int) -> torch.Tensor:
    """The ``[L, N, N]`` boolean mask of a sparse neighbourhood (for analyses of small grids)."""
    L = neighbours.index.shape[0]
    count = torch.zeros(L, n, n, dtype=torch.int32, device=neighbours.index.device)
    return count.scatter_add_(-1, neighbours.index, neighbours.valid.int()) > 0  # padding repeats n itself


def grid_distances(grid: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Chebyshev and squared Euclidean distances between columns, each ``[N, N]``."""
    h, w = grid
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    pos = torch.stack([yy.reshape(-1), xx.reshape(-1)], -1).float()  # n 2
    diff = pos[:, None] - pos[None]  # n m 2
    return diff.abs().amax(-1), (diff**2).sum(-1)


def full_mask(grid: tuple[int, int], levels: int) -> torch.Tensor:
    """Every column attends to every column: ``[L, N, N]`` of True."""
    n = grid[0] * grid[1]
    return torch.ones(levels, n, n, dtype=torch.bool)


def window_mask(grid: tuple[int, int], radii) -> torch.Tensor:
    """``mask[l, n, m] = max(|y_n - y_m|, |x_n - x_m|) <= radii[l]``: ``[L, N, N]``."""
    cheb, _ = grid_distances(grid)
    return cheb[None] <= torch.tensor(radii, dtype=cheb.dtype)[:, None, None]


def gaussian_mask(grid: tuple[int, int], ks, sigmas, generator: torch.Generator | None = None) -> torch.Tensor:
    """Column ``n`` at level ``l`` attends to itself and ``ks[l]`` other columns.

    The others are sampled without replacement with probability proportional to
    ``exp(-|pos_n - pos_m|^2 / (2 sigma_l^2))`` (paper 6). Returns ``[L, N, N]`` booleans.
    """
    _, sq = grid_distances(grid)
    n = sq.shape[0]
    eye = torch.eye(n, dtype=torch.bool)
    masks = []
    for k, sigma in zip(ks, sigmas):  # one draw per level: levels differ in K and sigma
        mask = eye.clone()
        if k > 0:
            # float64: far columns get tiny but non-zero probabilities, so K up to N-1 is always drawable
            p = torch.exp(-sq.double() / (2 * sigma**2)).clamp_min(1e-300).masked_fill(eye, 0.0)
            idx = torch.multinomial(p, k, replacement=False, generator=generator)  # n k
            mask.scatter_(1, idx, True)
        masks.append(mask)
    return torch.stack(masks)


def neighbourhood_mask(cfg: GlomConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """The ``[L, N, N]`` attention mask that ``cfg.neighbourhood`` names."""
    if cfg.neighbourhood == "full":
        return full_mask(cfg.grid, cfg.levels)
    if cfg.neighbourhood == "window":
        return window_mask(cfg.grid, cfg.radii)
    return gaussian_mask(cfg.grid, cfg.gaussian_ks, cfg.gaussian_sigmas, generator)


def similarity_logits(state: torch.Tensor, similarity: str) -> torch.Tensor:
    """``sim(s_n, s_m)`` for every pair in each ``(b, l)``: ``[b, l, n, m]``.

    ``cosine``: ``s_n . s_m / (|s_n| |s_m|)``; ``dot``: ``s_n . s_m / sqrt(D)``.
    """
    if similarity == "cosine":
        unit = torch.nn.functional.normalize(state, dim=-1, eps=1e-8)
        return torch.matmul(unit, unit.transpose(-1, -2))
    return torch.matmul(state, state.transpose(-1, -2)) / state.shape[-1] ** 0.5


def lateral_attention(state: torch.Tensor, mask, beta: float, similarity: str = "cosine",
                      context: torch.Tensor | None = None):
    """Attention-weighted average of same-level embeddings in each column's neighbourhood.

    ``lat[b, l, n] = sum_m w[b, l, n, m] s[b, l, m]`` with
    ``w[b, l, n, :] = softmax_m(beta * sim(s_n, s_m))`` over ``m`` in ``mask[l, n]``, and
    exactly 0 outside it.

    Parameters
    ----------
    state : Tensor ``[b, l, n, d]``
    mask : bool Tensor ``[l, n, n]``, or :class:`Neighbours` (``[l, n, k]``): the sparse
        form gathers each column's ``k`` neighbours and never builds ``[n, n]``.
    beta : float
        Inverse temperature.
    similarity : {"cosine", "dot"}
    context : Tensor ``[b, l, m, d]``, optional
        The embeddings that the :class:`Neighbours` indices point into, when they are not
        ``state`` itself: the columns of a shard plus the rows it receives from other
        shards (:mod:`bioglom.distributed`). Sparse form only.

    Returns
    -------
    lat : Tensor ``[b, l, n, d]``
    weights : Tensor ``[b, l, n, n]`` (dense mask) or ``[b, l, n, k]`` over the slots of
        :class:`Neighbours` (0 on padding); each row sums to 1.
    """
    if isinstance(mask, Neighbours):
        return _sparse_attention(state, mask, beta, similarity, state if context is None else context)
    if context is not None:
        raise ValueError("lateral_attention: a context is only read through a sparse neighbourhood (Neighbours)")
    sim = similarity_logits(state, similarity)  # b l n m
    logits = beta * sim
    # a full neighbourhood needs no masking pass; compiled, the pass is fused and free, and a
    # data-dependent branch would split the graph
    if torch.compiler.is_compiling() or not bool(mask.all()):
        logits = logits.masked_fill(~mask, float("-inf"))  # the diagonal is always in, so no row is all -inf
    weights = torch.softmax(logits, dim=-1)
    return torch.matmul(weights, state), weights


def _sparse_attention(state: torch.Tensor, nb: Neighbours, beta: float, similarity: str, context: torch.Tensor):
    b, L, n, d = state.shape
    k = nb.index.shape[-1]

    def unit(x):
        return x if similarity == "dot" else torch.nn.functional.normalize(x, dim=-1, eps=1e-8)

    queries = unit(state)
    keys = queries if context is state else unit(context)
    flat = nb.index.reshape(1, L, n * k, 1).expand(b, -1, -1, d)  # b l (n k) d
    near_keys = keys.gather(2, flat).view(b, L, n, k, d)
    sim = torch.einsum("blnd,blnkd->blnk", queries, near_keys)
    if similarity == "dot":
        sim = sim / d**0.5
    logits = (beta * sim).masked_fill(~nb.valid, float("-inf"))  # slot 0 or the column itself is always valid
    weights = torch.softmax(logits, dim=-1)
    near = near_keys if similarity == "dot" else context.gather(2, flat).view(b, L, n, k, d)
    return torch.einsum("blnk,blnkd->blnd", weights, near), weights


def beta_schedule(cfg: GlomConfig, step: int, steps: int) -> float:
    """Inverse temperature at settling step ``step`` of ``steps``: linear from start to end (paper 3.4)."""
    frac = step / (steps - 1) if steps > 1 else 1.0
    return cfg.beta_start + (cfg.beta_end - cfg.beta_start) * frac
