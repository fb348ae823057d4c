"""Retinas: where each column looks. The uniform retina gives column ``n`` the ``p x p``
patch under it; the foveated retina (paper 12.1) gives every column the same fixed-size
``p x p`` input, sampled from a receptive field that grows with eccentricity from a
fixation point, so that inputs at different locations have different structure.

Geometry of the foveated retina, separately along each image axis. Column boundaries
sit at ``b_k = w(k / g)``, ``k = 0..g`` for ``g`` columns, with the warp

    w(t) = c + R sign(t - c) (|t - c| / R)^gamma,     R = max(c, 1 - c)

where ``c`` is the fixation (the centre of the fixation column, as a fraction of the
side) and ``gamma >= 1`` the foveation (1: uniform). ``w`` is odd about ``c`` and its
slope ``gamma (|t - c| / R)^(gamma - 1)`` grows with distance from ``c``, so the fields
are finest at the fixation column and grow with eccentricity; they stay inside
``[0, 1]`` and cover all of it when the fixation is the centre of the grid (``c = 1/2``;
an off-centre fixation leaves a margin on its near side unseen, as an eye that looks
aside does). Each field is sampled at the centres of a ``p x p`` grid of cells, by
bilinear interpolation. With ``aberration > 0``, channel ``k`` of ``C`` is moreover
displaced radially outward by ``aberration * (k + 1) / C * e`` pixels, where ``e`` in
[0, 1] is the column's eccentricity relative to the farthest column (a stand-in for
chromatic aberration, which shifts colours by different amounts away from the centre).

The retina turns an image into a *retinal image* of the same size, whose patch ``n`` is
column ``n``'s sampled field; the front end then reads patches as usual, and the decoder
reconstructs the retinal image.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["field_bounds", "receptive_fields", "Retina"]


def _warp(t: np.ndarray, c: float, gamma: float) -> np.ndarray:
    t = np.asarray(t, float)
    r = max(c, 1 - c)
    return c + r * np.sign(t - c) * (np.abs(t - c) / r) ** gamma


def field_bounds(columns: int, pixels: int, fixation: float, foveation: float) -> np.ndarray:
    """Boundaries of the receptive fields along one axis, in pixels: ``[columns + 1]``.

    ``fixation`` is the fixation column's index (fractional allowed) along this axis.
    """
    c = (fixation + 0.5) / columns
    return _warp(np.arange(columns + 1) / columns, c, foveation) * pixels


def receptive_fields(cfg) -> dict[str, np.ndarray]:
    """Per column ``n`` (row-major): field ``top, left, height, width`` in pixels
    (``[N]`` each), its eccentricity from the fixation in columns (``[N]``), and the
    sample points ``[C, N, p, p, 2]`` as (y, x) pixel coordinates, aberration included."""
    gh, gw = cfg.grid
    h, w = cfg.image_hw
    p, C = cfg.patch_size, cfg.channels
    fy, fx = cfg.fixation_point
    by = field_bounds(gh, h, fy, cfg.foveation)
    bx = field_bounds(gw, w, fx, cfg.foveation)
    top, left = np.meshgrid(by[:-1], bx[:-1], indexing="ij")
    height, width = np.meshgrid(np.diff(by), np.diff(bx), indexing="ij")
    rows, cols = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
    offset = np.stack([rows - fy, cols - fx], -1).reshape(-1, 2)  # n 2, in columns
    ecc = np.hypot(offset[:, 0], offset[:, 1])
    frac = (np.arange(p) + 0.5) / p
    ys = top.reshape(-1, 1) + height.reshape(-1, 1) * frac  # n p
    xs = left.reshape(-1, 1) + width.reshape(-1, 1) * frac
    points = np.stack(np.broadcast_arrays(ys[:, :, None], xs[:, None, :]), -1)  # n p p 2
    radial = offset / np.maximum(ecc, 1e-12)[:, None] * (ecc / max(ecc.max(), 1e-12))[:, None]  # n 2, |.| = e
    shift = cfg.aberration * (np.arange(C) + 1)[:, None, None] / C * radial[None]  # c n 2
    points = points[None] + shift[:, :, None, None, :]  # c n p p 2
    return {"top": top.ravel(), "left": left.ravel(), "height": height.ravel(), "width": width.ravel(),
            "eccentricity": ecc, "points": points}


class Retina(nn.Module):
    """``images [b, C, H, W] -> retinal images [b, C, H, W]``; identity for the uniform retina.

    The foveated retina samples each column's field bilinearly
    (``torch.nn.functional.grid_sample``, ``align_corners=False``, so pixel ``i`` covers
    ``[i, i + 1)`` and its centre is ``i + 0.5``).
    """

    def __init__(self, cfg):
        super().__init__()
        self.uniform = cfg.retina == "uniform"
        self.grid_hw, self.p = cfg.grid, cfg.patch_size
        if self.uniform:
            return
        pts = receptive_fields(cfg)["points"]  # c n p p 2, (y, x) pixels
        h, w = cfg.image_hw
        norm = np.stack([pts[..., 1] / w * 2 - 1, pts[..., 0] / h * 2 - 1], -1)  # grid_sample wants (x, y) in [-1, 1]
        gh, gw = cfg.grid
        c, p = norm.shape[0], self.p
        # lay the samples out as the retinal image: column (i, j), cell (u, v) -> pixel (i p + u, j p + v)
        grid = norm.reshape(c, gh, gw, p, p, 2).transpose(0, 1, 3, 2, 4, 5).reshape(c, gh * p, gw * p, 2)
        self.register_buffer("grid", torch.as_tensor(grid, dtype=torch.float32), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.uniform:
            return images
        b, c, h, w = images.shape
        # each channel has its own grid (aberration): fold channels into the batch, c-major
        x = images.transpose(0, 1).reshape(c * b, 1, h, w)
        grid = self.grid.to(images.dtype).repeat_interleave(b, 0)  # (c b) h w 2
        out = nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return out.reshape(c, b, h, w).transpose(0, 1)
