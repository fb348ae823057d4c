"""Drawn pairs: the training losses between the columns of one image at O(N K) instead of O(N^2).

The same-image negatives (:func:`~bioglom.learning.contrastive.same_image_hinge`) and the
island loss (:func:`~bioglom.learning.contrastive.island_supervision`) compare each column
``n`` with every other column ``m`` of its image, so backprop through them keeps
``[..., N, N]`` pair tensors: at 32 x 32 columns, 8 steps, 3 levels and a batch of 32
about 30 GiB, though lateral attention itself gathers only ``K`` neighbours per column.

With drawn pairs each column is compared with ``K`` others drawn uniformly without
replacement from its image's ``N - 1`` other columns, ``m in D(n)``, ``|D(n)| = K``: one
draw for every image, level and step of an update and a new draw every update. Each sum
over ``m != n`` in a loss becomes the sum over ``D(n)`` (the softmax of the island loss
is taken over ``D(n)``; the repulsion weights' maximum too), a Monte-Carlo estimate in the
manner of sampled softmax and negative sampling. With ``K = N - 1`` every pair is drawn
and the losses are the dense ones up to summation order (tests/test_pairs.py).

The products ``a_n . b_m`` for ``m in D(n)`` (:func:`drawn_dot`) are computed in chunks of
the leading axes, with their gradient in closed form, so no ``[..., N, K, D]`` gather is
kept for the backward pass: what autograd keeps is ``[..., N, K]``.
"""

from __future__ import annotations

import torch

__all__ = ["check_pair_sample", "draw_pairs", "drawn", "drawn_dot", "pair_entries"]

# elements of one chunk's [c, n, k, d] gather: about 64 MB in float32
_CHUNK_ELEMENTS = 2**24


def check_pair_sample(k: int, n: int, every: bool = True) -> None:
    """One line naming ``pair_sample`` unless ``k`` is an integer from 1 to ``n - 1``, or 0
    (every pair) where ``every``."""
    from ..config import ConfigError

    if not isinstance(k, int) or isinstance(k, bool) or not (0 if every else 1) <= k <= n - 1:
        raise ConfigError(f"pair_sample={k!r} is not allowed with {n} columns; give an integer from 1 to {n - 1} "
                          "(the other columns of an image), or 0 for every pair")


def draw_pairs(n: int, k: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """``[n, k]`` column indices: row ``i`` holds ``k`` distinct columns other than ``i``,
    drawn uniformly without replacement (each of the ``n - 1`` others equally likely, every
    ``k``-subset equally likely)."""
    check_pair_sample(k, n, every=False)
    where = generator.device if generator is not None else "cpu"
    index = torch.empty(n, k, dtype=torch.long, device=where)
    rows = max(1, _CHUNK_ELEMENTS // n)  # keys of a block of rows at a time: O(N) memory for any grid
    for lo in range(0, n, rows):
        hi = min(n, lo + rows)
        keys = torch.rand(hi - lo, n, generator=generator, device=where)
        keys[torch.arange(hi - lo, device=where), torch.arange(lo, hi, device=where)] = 2.0  # never its own pair
        index[lo:hi] = keys.topk(k, dim=-1, largest=False, sorted=False).indices
    return index.to(device if device is not None else where)


def pair_entries(n: int, k: int) -> int:
    """Entries of one ``[N, K]`` pair table (``K = 0``: every pair, ``N^2``)."""
    return n * (k if k else n)


def drawn(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x [..., n]`` at each column's drawn pairs: ``[..., n, k]``, ``out[..., i, j] =
    x[..., index[i, j]]``."""
    return x[..., index]


def _chunks(rows: int, n: int, k: int, d: int) -> int:
    return max(1, min(rows, _CHUNK_ELEMENTS // max(1, n * k * d)))


class _DrawnDot(torch.autograd.Function):
    """``out[c, i, j] = a[c, i] . b[c, index[i, j]]`` for ``a [c, n, d]``, ``b [c, n, d]``;
    gradients ``da[c, i] = sum_j g[c, i, j] b[c, index[i, j]]`` and ``db[c, m] = sum_{(i,
    j): index[i, j] = m} g[c, i, j] a[c, i]``, chunk by chunk of ``c``."""

    @staticmethod
    def forward(ctx, a, b, index):
        c, n, d = a.shape
        k = index.shape[1]
        out = a.new_empty(c, n, k)
        step = _chunks(c, n, k, d)
        for lo in range(0, c, step):  # chunks of images and levels, never of columns
            out[lo:lo + step] = torch.einsum("cnd,cnkd->cnk", a[lo:lo + step], b[lo:lo + step][:, index])
        ctx.save_for_backward(a, b, index)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, index = ctx.saved_tensors
        c, n, d = a.shape
        k = index.shape[1]
        step = _chunks(c, n, k, d)
        da = torch.empty_like(a) if ctx.needs_input_grad[0] else None
        db = torch.zeros_like(b) if ctx.needs_input_grad[1] else None
        flat = index.reshape(-1)
        for lo in range(0, c, step):
            gc = g[lo:lo + step]
            if da is not None:
                da[lo:lo + step] = torch.einsum("cnk,cnkd->cnd", gc, b[lo:lo + step][:, index])
            if db is not None:
                spread = (gc[..., None] * a[lo:lo + step, :, None, :]).reshape(len(gc), n * k, d)
                db[lo:lo + step].index_add_(1, flat, spread)
        return da, db, None


def drawn_dot(a: torch.Tensor, b: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``a_i . b_m`` for every column ``i`` and its drawn pairs ``m = index[i, j]``:
    ``a, b [..., n, d]`` (leading axes broadcast) -> ``[..., n, k]``. Differentiable in both
    (in closed form, without keeping the ``[..., n, k, d]`` gather); ``a`` and ``b`` may be
    the same tensor."""
    lead = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    n, d = a.shape[-2:]
    a3 = a.expand(*lead, n, d).reshape(-1, n, d)
    b3 = b.expand(*lead, n, d).reshape(-1, n, d)
    return _DrawnDot.apply(a3, b3, index).view(*lead, n, index.shape[1])
