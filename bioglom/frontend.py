"""Front ends: turn an image into one input vector per column, ``[b, n, D]``.

The front end is the retina and is the same at every location; it is not a column net.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import GlomConfig

__all__ = ["patchify", "unpatchify", "LinearPatches", "ConvPatches", "build_frontend"]


def patchify(images: torch.Tensor, p: int) -> torch.Tensor:
    """``[b, c, H, W] -> [b, n, c*p*p]``, columns row-major, each patch flattened as (c, py, px)."""
    b, c, hh, ww = images.shape
    x = images.reshape(b, c, hh // p, p, ww // p, p)  # b c h py w px
    return x.permute(0, 2, 4, 1, 3, 5).reshape(b, (hh // p) * (ww // p), c * p * p)  # b (h w) (c py px)


def unpatchify(patches: torch.Tensor, grid: tuple[int, int], p: int) -> torch.Tensor:
    """Inverse of :func:`patchify`: ``[b, n, c*p*p] -> [b, c, H, W]``."""
    b, n, k = patches.shape
    h, w = grid
    c = k // (p * p)
    x = patches.reshape(b, h, w, c, p, p)  # b h w c py px
    return x.permute(0, 3, 1, 4, 2, 5).reshape(b, c, h * p, w * p)


class LinearPatches(nn.Module):
    """``inputs[b, n] = W patch_n + bias``."""

    def __init__(self, cfg: GlomConfig):
        super().__init__()
        self.p = cfg.patch_size
        self.proj = nn.Linear(cfg.channels * cfg.patch_size**2, cfg.dim)

    def forward(self, images):
        return self.proj(patchify(images, self.p))


class ConvPatches(nn.Module):
    """A 3x3 convolution (so each column sees a little beyond its patch, paper 3.3), GELU,
    then a ``p x p`` stride-``p`` convolution to ``D`` channels."""

    def __init__(self, cfg: GlomConfig, width: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(cfg.channels, width, 3, padding=1),
            nn.GELU(),
            nn.Conv2d(width, cfg.dim, cfg.patch_size, stride=cfg.patch_size),
        )

    def forward(self, images):
        return self.net(images).flatten(2).transpose(1, 2)  # b d h w -> b (h w) d


FRONTENDS = {"linear": LinearPatches, "conv": ConvPatches}


def build_frontend(cfg: GlomConfig) -> nn.Module:
    return FRONTENDS[cfg.frontend](cfg)
