"""Sinusoidal encodings of locations: the input that makes a shared net a neural field.

A shared top-down net needs to know where it is (paper 2.3 and 8); so does the decoder,
which renders each pixel from its column's level-0 embedding and the pixel's position.
"""

from __future__ import annotations

import math

import torch

__all__ = ["sinusoidal_encoding", "grid_coordinates"]


def grid_coordinates(height: int, width: int, dtype=torch.float32) -> torch.Tensor:
    """Centres of a ``height x width`` grid in ``[-1, 1]^2``, row-major: ``[height * width, 2]`` as (y, x)."""
    ys = (torch.arange(height, dtype=dtype) + 0.5) / height * 2 - 1
    xs = (torch.arange(width, dtype=dtype) + 0.5) / width * 2 - 1
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([yy.reshape(-1), xx.reshape(-1)], dim=-1)


def sinusoidal_encoding(coords: torch.Tensor, frequencies: int) -> torch.Tensor:
    """Encode coordinates ``[..., 2]`` in ``[-1, 1]`` as ``[..., 4 * frequencies]``.

    ``enc(c) = [sin(2^k pi c_y), cos(2^k pi c_y), sin(2^k pi c_x), cos(2^k pi c_x)]`` for
    ``k = 0 .. frequencies - 1``, grouped by function: all sines, then all cosines.
    """
    scales = math.pi * 2.0 ** torch.arange(frequencies, dtype=coords.dtype, device=coords.device)
    angles = coords[..., :, None] * scales  # ... axis freq
    angles = angles.flatten(-2)  # ... (axis freq)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)
