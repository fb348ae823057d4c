"""Connected components on a grid (of pixels or of columns), for many grids at once.

Used by the motion segments (regions that one displacement explains), the model-free
baselines (connected components of the foreground, of equal colour) and the spatially
connected islands. Components are found by min-label propagation: every included cell
starts with its own row-major index, and each pass gives every cell the smallest label
among itself and the 4-neighbours it is linked to, until nothing changes (at most as many
passes as the longest path inside a component).
"""

from __future__ import annotations

import torch

__all__ = ["grid_components", "mask_components", "renumber"]


def renumber(labels: torch.Tensor, keep_zero: bool = False) -> torch.Tensor:
    """Non-negative ids ``[..., N]`` renumbered ``0, 1, ...`` in order of first appearance
    (row-major) within each leading index. With ``keep_zero``, id 0 (meaning "none") stays
    0 and the others become ``1, 2, ...``."""
    flat = labels.reshape(-1, labels.shape[-1]).long()
    b, n = flat.shape
    k = int(flat.max()) + 1 if flat.numel() else 1
    pos = torch.arange(n, device=flat.device).expand(b, n)
    first = torch.full((b, k), n + 1, dtype=torch.long, device=flat.device)  # absent ids sort last
    first.scatter_reduce_(1, flat, pos, reduce="amin")  # b k: first cell of each id
    if keep_zero:
        first[:, 0] = -1
    rank = first.argsort(1).argsort(1)
    return rank.gather(1, flat).reshape(labels.shape)


def grid_components(include: torch.Tensor, right: torch.Tensor, down: torch.Tensor) -> torch.Tensor:
    """Connected components of grids whose 4-neighbours are linked where allowed.

    Parameters
    ----------
    include : bool ``[..., H, W]``: the cells that belong to some component.
    right : bool ``[..., H, W - 1]``: cell ``(y, x)`` is linked to ``(y, x + 1)``.
    down : bool ``[..., H - 1, W]``: cell ``(y, x)`` is linked to ``(y + 1, x)``.
        A link counts only where both of its cells are included.

    Returns
    -------
    int64 ``[..., H, W]``: 0 outside ``include``, else ``1 + `` the smallest row-major
    index of the cell's component (not consecutive; see :func:`renumber`).
    """
    *lead, h, w = include.shape
    big = h * w + 1
    index = torch.arange(1, h * w + 1, device=include.device).reshape(h, w).expand(*lead, h, w)
    label = torch.where(include, index, torch.full_like(index, big))
    right = right & include[..., :, :-1] & include[..., :, 1:]
    down = down & include[..., :-1, :] & include[..., 1:, :]
    for _ in range(h * w):  # propagation passes; stops as soon as nothing changes
        new = label.clone()
        new[..., :, :-1] = torch.where(right, torch.minimum(new[..., :, :-1], label[..., :, 1:]), new[..., :, :-1])
        new[..., :, 1:] = torch.where(right, torch.minimum(new[..., :, 1:], label[..., :, :-1]), new[..., :, 1:])
        new[..., :-1, :] = torch.where(down, torch.minimum(new[..., :-1, :], label[..., 1:, :]), new[..., :-1, :])
        new[..., 1:, :] = torch.where(down, torch.minimum(new[..., 1:, :], label[..., :-1, :]), new[..., 1:, :])
        if torch.equal(new, label):
            break
        label = new
    return torch.where(include, label, torch.zeros_like(label))


def mask_components(mask: torch.Tensor) -> torch.Tensor:
    """4-connected components of a boolean ``mask [..., H, W]``: :func:`grid_components`
    with every link between two included cells allowed."""
    ones_r = torch.ones_like(mask[..., :, :-1])
    ones_d = torch.ones_like(mask[..., :-1, :])
    return grid_components(mask, ones_r, ones_d)
