"""Label-free views of a scene for scene-level contrast (paper 7: contrast is sensible at the
level of whole scenes; Miyato et al. 2025 train their oscillators this way).

A view keeps the scene's content and changes what says nothing about the parse: a mirror
image, a shift by a few pixels (edges replicated), and a gain per colour channel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..config import check_positive

__all__ = ["augment"]


def augment(images: torch.Tensor, generator: torch.Generator, max_shift: int = 2, gain: float = 0.2) -> torch.Tensor:
    """A random view of each image ``[B, C, H, W]``: flipped left-right with probability 1/2,
    shifted by up to ``max_shift`` pixels along each axis (the border pixels repeat into
    the gap), and each channel multiplied by a gain from ``[1 - gain, 1 + gain]``, clipped
    to [0, 1]. Draws from ``generator`` only, so a view is reproducible."""
    check_positive("max_shift", max_shift, integer=True, strict=False)
    check_positive("gain", gain, strict=False)
    b, c, h, w = images.shape
    flip = torch.rand(b, generator=generator) < 0.5
    out = torch.where(flip[:, None, None, None].to(images.device), images.flip(-1), images)
    m = max_shift
    if m:
        padded = F.pad(out, (m, m, m, m), mode="replicate")  # b c (h+2m) (w+2m)
        dy, dx = torch.randint(-m, m + 1, (2, b, 1), generator=generator).to(images.device)
        ys = torch.arange(h, device=images.device) + m + dy  # b h: source rows
        xs = torch.arange(w, device=images.device) + m + dx  # b w
        bi = torch.arange(b, device=images.device)[:, None, None, None]
        ci = torch.arange(c, device=images.device)[None, :, None, None]
        out = padded[bi, ci, ys[:, None, :, None], xs[:, None, None, :]]  # b c h w
    scale = 1 + gain * (2 * torch.rand(b, c, 1, 1, generator=generator) - 1)
    return (out * scale.to(out)).clamp(0.0, 1.0)
