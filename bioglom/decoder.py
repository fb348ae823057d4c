"""The decoder: a neural field that renders every pixel from its column's level-0 embedding.

``pixel(b, n, k) = W2 act(A s0[b, n] + B enc(pos_k) + b1) + b2`` for each pixel ``k`` of
column ``n``'s patch, where ``enc`` is the sinusoidal encoding of the pixel's position in
the image (paper 2.3: a neural field). One net serves every column.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import GlomConfig
from .frontend import unpatchify
from .location import grid_coordinates, sinusoidal_encoding

__all__ = ["FieldDecoder"]


class FieldDecoder(nn.Module):
    def __init__(self, cfg: GlomConfig):
        super().__init__()
        self.grid, self.p, self.c = cfg.grid, cfg.patch_size, cfg.channels
        h, w = cfg.image_hw
        enc = sinusoidal_encoding(grid_coordinates(h, w), cfg.location_frequencies + 1)  # (H W) e
        # regroup pixel encodings by column: [n, p*p, e], pixel order (py, px) as in patchify
        enc = enc.reshape(h // self.p, self.p, w // self.p, self.p, -1).permute(0, 2, 1, 3, 4)
        self.register_buffer("pixel_enc", enc.reshape(self.grid[0] * self.grid[1], self.p**2, -1), persistent=False)
        self.embed = nn.Linear(cfg.dim, cfg.decoder_hidden)
        self.position = nn.Linear(self.pixel_enc.shape[-1], cfg.decoder_hidden, bias=False)
        self.out = nn.Linear(cfg.decoder_hidden, cfg.channels)

    def forward(self, level0: torch.Tensor) -> torch.Tensor:
        """``level0 [b, n, D] -> images [b, C, H, W]``."""
        hid = self.embed(level0)[:, :, None] + self.position(self.pixel_enc)  # b n k h
        pix = self.out(torch.nn.functional.gelu(hid))  # b n k c
        b, n = pix.shape[:2]
        patches = pix.permute(0, 1, 3, 2).reshape(b, n, -1)  # b n (c k), k = (py px)
        return unpatchify(patches, self.grid, self.p)
