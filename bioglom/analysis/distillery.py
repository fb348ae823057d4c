"""Metrics of the giant distillery (paper 12.1; docs/claims.md D1-D2): how alike the
column nets have become, and how much an island gains by averaging its members'
predictions."""

from __future__ import annotations

import torch

__all__ = ["column_outputs", "dispersion", "ensemble_gain"]


@torch.no_grad()
def column_outputs(model, x: torch.Tensor, direction: str = "bottom_up") -> torch.Tensor:
    """Every column's net of every level applied to the same inputs ``x [P, D]``:
    ``[P, G, N, D]`` (``G`` = levels for ``bottom_up``, levels - 1 for ``top_down``).

    A shared net is one function, so it is evaluated once and repeated over the columns;
    where the top-down nets take a location, the location is each column's own.
    """
    nets = model.nets
    mlp = nets.bu if direction == "bottom_up" else nets.td
    G, N = mlp.groups, model.cfg.n_columns
    has_location = direction == "top_down" and mlp.u is not None
    n = N if (has_location or not mlp.shared) else 1
    src = x.to(model.device)[:, None, None, :].expand(-1, G, n, -1)  # p g n d
    out = nets.bottom_up(src)[0] if direction == "bottom_up" else nets.top_down(src)[0]
    return out.expand(-1, -1, N, -1)


def dispersion(outputs: torch.Tensor) -> torch.Tensor:
    """Functional dispersion of column nets from their outputs on common inputs,
    ``outputs [P, G, N, D]`` -> ``[G]``:

        disp_g = sqrt(mean_{p,n} ||y_pgn - mean_n y_pgn||^2) / mean_{p,n} ||y_pgn||

    the spread across columns relative to the mean output norm. It is 0 exactly when every
    column computes the same output (shared nets; unshared nets that are copies).
    """
    y = outputs.double()
    spread = (y - y.mean(2, keepdim=True)).pow(2).sum(-1).mean((0, 2)).sqrt()
    return (spread / y.norm(dim=-1).mean((0, 2)).clamp_min(1e-300)).to(outputs.dtype)


def ensemble_gain(predictions: torch.Tensor, targets: torch.Tensor, islands: torch.Tensor) -> torch.Tensor:
    """Error of island-averaged predictions over the mean error of the individual ones,
    pooled over islands and the batch: ``predictions, targets [B, *, N, D]``, ``islands
    [B, *, N]`` (ids) -> ``[*]`` (a scalar for ``[B, N, D]``; per level for ``[B, L, N, D]``)

        gain = sum_{b,k} sum_{n in k} ||pbar_bk - t_bn||^2 / sum_{b,n} ||p_bn - t_bn||^2,
        pbar_bk = mean_{n in island k of b} p_bn

    (< 1: the island's average is closer to the consensus targets than its members are,
    paper 12.1's ensemble effect; when targets are equal within an island this is
    ``1 - mean within-island variance / mean squared error``).
    """
    p, t = predictions.double(), targets.double()
    onehot = torch.nn.functional.one_hot(islands.long(), int(islands.max()) + 1).double()  # b ... n k
    counts = onehot.sum(-2).clamp_min(1)  # b ... k
    pbar = torch.einsum("...nk,...nd->...kd", onehot, p) / counts[..., None]  # b ... k d
    pbar_n = torch.einsum("...nk,...kd->...nd", onehot, pbar)  # each column's island average

    def pooled(e):  # squared error summed over columns, dims and the batch
        return e.pow(2).sum((-2, -1)).sum(0)

    return pooled(pbar_n - t) / pooled(p - t).clamp_min(1e-300)
