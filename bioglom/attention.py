"""Lateral attention within a level: parameter-free, query = key = value = the embedding.

Paper 3.4: ``w_nm = exp(beta s_n . s_m) / sum_z exp(beta s_n . s_z)`` over the columns
``z`` that column ``n`` attends to at that level. Which columns those are is the
neighbourhood (paper 6): ``full``, ``window`` (Chebyshev radius per level) or
``gaussian`` (K columns sampled without replacement from a Gaussian around ``n``). A
column always attends to itself.
"""

from __future__ import annotations

import torch

from .config import GlomConfig

__all__ = [
    "grid_distances",
    "full_mask",
    "window_mask",
    "gaussian_mask",
    "neighbourhood_mask",
    "similarity_logits",
    "lateral_attention",
    "beta_schedule",
]


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
        return torch.einsum("blnd,blmd->blnm", unit, unit)
    return torch.einsum("blnd,blmd->blnm", state, state) / state.shape[-1] ** 0.5


def lateral_attention(state: torch.Tensor, mask: torch.Tensor, beta: float, similarity: str = "cosine"):
    """Attention-weighted average of same-level embeddings in each column's neighbourhood.

    ``lat[b, l, n] = sum_m w[b, l, n, m] s[b, l, m]`` with
    ``w[b, l, n, :] = softmax_m(beta * sim(s_n, s_m))`` over ``m`` in ``mask[l, n]``, and
    exactly 0 outside it.

    Parameters
    ----------
    state : Tensor ``[b, l, n, d]``
    mask : bool Tensor ``[l, n, n]``
    beta : float
        Inverse temperature.
    similarity : {"cosine", "dot"}

    Returns
    -------
    lat : Tensor ``[b, l, n, d]``
    weights : Tensor ``[b, l, n, n]``; each row sums to 1.
    """
    logits = beta * similarity_logits(state, similarity)
    logits = logits.masked_fill(~mask, float("-inf"))  # the diagonal is always in, so no row is all -inf
    weights = torch.softmax(logits, dim=-1)
    return torch.einsum("blnm,blmd->blnd", weights, state), weights


def beta_schedule(cfg: GlomConfig, step: int, steps: int) -> float:
    """Inverse temperature at settling step ``step`` of ``steps``: linear from start to end (paper 3.4)."""
    frac = step / (steps - 1) if steps > 1 else 1.0
    return cfg.beta_start + (cfg.beta_end - cfg.beta_start) * frac
