"""Region masking for the denoising objective (paper 7): remove rectangles from an image."""

from __future__ import annotations

import torch

from ..config import ConfigError

__all__ = ["region_mask", "mask_regions"]


def region_mask(shape, regions: int, min_size: int, max_size: int, generator: torch.Generator | None = None):
    """Keep-mask ``[B, 1, H, W]`` (1 = kept, 0 = removed) with ``regions`` random rectangles removed per image.

    Each rectangle has sides drawn uniformly from ``[min_size, max_size]`` pixels and lies
    inside the image.
    """
    b, _, h, w = shape
    if regions < 0 or not 1 <= min_size <= max_size <= min(h, w):
        raise ConfigError(
            f"mask regions={regions}, min_size={min_size}, max_size={max_size} are not allowed; "
            f"need regions >= 0 and 1 <= min_size <= max_size <= {min(h, w)}"
        )
    sizes = torch.randint(min_size, max_size + 1, (2, b, regions), generator=generator)  # (h w) b r
    y0 = (torch.rand(b, regions, generator=generator) * (h - sizes[0] + 1)).long()
    x0 = (torch.rand(b, regions, generator=generator) * (w - sizes[1] + 1)).long()
    ys = torch.arange(h)[None, None, :]
    xs = torch.arange(w)[None, None, :]
    in_y = (ys >= y0[..., None]) & (ys < (y0 + sizes[0])[..., None])  # b r h
    in_x = (xs >= x0[..., None]) & (xs < (x0 + sizes[1])[..., None])  # b r w
    removed = (in_y[..., :, None] & in_x[..., None, :]).any(1)  # b h w
    return (~removed).float()[:, None]


def mask_regions(images: torch.Tensor, regions: int = 2, min_size: int = 3, max_size: int = 6,
                 generator: torch.Generator | None = None, fill: float = 0.0):
    """Return ``(corrupted, keep)``: ``images`` with rectangles set to ``fill``, and the keep-mask.

    Works on ``[B, C, H, W]``; the input is not modified.
    """
    keep = region_mask(images.shape, regions, min_size, max_size, generator).to(images)
    return images * keep + fill * (1 - keep), keep


def masked_batch(images: torch.Tensor, indices, update: int, *, batch: int, regions: int, min_size: int,
                 max_size: int, seed: int):
    """Update ``update``'s training batch: ``batch`` images drawn with replacement from
    ``images[indices]`` and masked by :func:`mask_regions`, both streams seeded by
    ``(seed, update)`` so a resumed run draws the same batches. Returns
    ``(images, corrupted, keep)``."""
    import numpy as np

    rng = np.random.default_rng([seed, update])
    chosen = images[indices[rng.integers(0, len(indices), batch)]]
    corrupted, keep = mask_regions(chosen, regions, min_size, max_size,
                                   torch.Generator().manual_seed(seed * 7919 + update))
    return chosen, corrupted, keep
