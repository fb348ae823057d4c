"""Region masking for the denoising objective (paper 7): remove rectangles from an image."""

from __future__ import annotations

import torch

from ..config import ConfigError, check_positive, check_seed
from ..seeding import generator

__all__ = ["region_mask", "mask_regions", "part_mask", "mask_parts", "uniform_regions", "mask_uniform", "fill_removed",
           "changed_fraction", "FILLS"]

FILLS = ("token", "noise", "zero")



def check_images(name: str, images, dims: str = "B, C, H, W") -> None:
    """``images`` must be a floating-point tensor ``[B, C, H, W]`` (or of ``dims``) with
    every size >= 1 and every value finite."""
    n = len(dims.split(","))
    if not isinstance(images, torch.Tensor) or images.dim() != n or not torch.is_floating_point(images):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ConfigError(f"{name} is {shape}; it must be a floating-point tensor [{dims}]")
    if images.numel() == 0:
        raise ConfigError(f"{name} has shape {tuple(images.shape)}: empty; give at least one image of at least one "
                          "pixel")
    if not torch.isfinite(images).all():
        raise ConfigError(f"{name} holds a NaN or infinite pixel; every pixel must be finite")


def _check_mask(name: str, keep, images: torch.Tensor) -> None:
    if not isinstance(keep, torch.Tensor):
        raise ConfigError(f"{name} is a {type(keep).__name__}; it must be a tensor broadcastable to the images "
                          f"{tuple(images.shape)}")
    try:
        torch.broadcast_shapes(keep.shape, images.shape)
    except RuntimeError:
        raise ConfigError(f"{name} has shape {tuple(keep.shape)}; it must broadcast to the images "
                          f"{tuple(images.shape)} (e.g. [B, 1, H, W])") from None


def region_mask(shape, regions: int, min_size: int, max_size: int, generator: torch.Generator | None = None):
    """Keep-mask ``[B, 1, H, W]`` (1 = kept, 0 = removed) with ``regions`` random rectangles removed per image.

    Each rectangle has sides drawn uniformly from ``[min_size, max_size]`` pixels and lies
    inside the image.
    """
    b, _, h, w = shape
    for name, value in (("regions", regions), ("min_size", min_size), ("max_size", max_size)):
        check_positive(name, value, strict=name != "regions", integer=True)
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


def fill_removed(images: torch.Tensor, keep: torch.Tensor, fill="zero", generator: torch.Generator | None = None):
    """``images`` where ``keep`` is 1, and the fill where it is 0 (the input is not modified).

    ``fill``: a number; ``"zero"`` (0, which is the background of black scenes);
    ``"token"`` (a fixed colour no scene has, :data:`~bioglom.data.wholes.MASK_TOKEN`, for
    3 channels; 0.5 otherwise) or ``"noise"`` (uniform [0, 1] per pixel and channel). A
    token or noise fill removes the information instead of drawing background there.
    """
    check_images("images", images)
    _check_mask("keep", keep, images)
    if isinstance(fill, str):
        from ..config import check_choice

        check_choice("fill", fill, FILLS)
        if fill == "zero":
            value = torch.zeros_like(images)
        elif fill == "noise":
            value = torch.rand(images.shape, generator=generator).to(images)
        else:
            from .wholes import MASK_TOKEN

            c = images.shape[-3]
            colour = torch.tensor(MASK_TOKEN if c == 3 else (0.5,) * c, dtype=images.dtype, device=images.device)
            value = colour[:, None, None].expand_as(images)
    else:
        check_positive("fill", fill, strict=False)  # a finite pixel value
        value = torch.full_like(images, float(fill))
    return images * keep + value * (1 - keep)


def mask_regions(images: torch.Tensor, regions: int = 2, min_size: int = 3, max_size: int = 6,
                 generator: torch.Generator | None = None, fill=0.0):
    """Return ``(corrupted, keep)``: ``images`` with rectangles replaced by ``fill`` (see
    :func:`fill_removed`), and the keep-mask.

    Works on ``[B, C, H, W]``; the input is not modified.
    """
    check_images("images", images)
    keep = region_mask(images.shape, regions, min_size, max_size, generator).to(images)
    return fill_removed(images, keep, fill, generator), keep


def part_mask(parts: torch.Tensor, count: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
    """Keep-mask ``[B, 1, H, W]`` that removes ``count`` whole parts per image.

    ``parts [B, H, W]`` holds part ids (0 background). The removed parts are drawn
    uniformly without replacement among those present; an image with fewer parts loses
    all of them.
    """
    check_positive("count", count, strict=False, integer=True)
    if not isinstance(parts, torch.Tensor) or parts.dim() != 3 or parts.dtype.is_floating_point or parts.numel() == 0:
        shape = tuple(parts.shape) if isinstance(parts, torch.Tensor) else type(parts).__name__
        raise ConfigError(f"parts is {shape}; it must be an integer tensor [B, H, W] of part ids (0: background)")
    if int(parts.min()) < 0:
        raise ConfigError(f"parts holds the id {int(parts.min())}; part ids must be >= 0 (0: background)")
    b = parts.shape[0]
    k = int(parts.max()) + 1
    present = torch.zeros(b, k, dtype=torch.bool).scatter_(1, parts.reshape(b, -1).cpu(), True)
    present[:, 0] = False
    # random keys, absent parts last: the `count` smallest keys are the removed parts
    keys = torch.rand(b, k, generator=generator).masked_fill(~present, 2.0)
    order = keys.argsort(1)[:, :count]  # b count
    removed = torch.zeros(b, k, dtype=torch.bool).scatter_(1, order, True) & present
    gone = removed.gather(1, parts.reshape(b, -1).cpu()).reshape(parts.shape)  # b h w
    return (~gone).float()[:, None].to(parts.device)


def mask_parts(images: torch.Tensor, parts: torch.Tensor, count: int = 1, generator: torch.Generator | None = None,
               fill="token"):
    """Return ``(corrupted, keep)``: ``count`` whole parts per image replaced by ``fill``
    (paper 7: removing a region the object predicts). See :func:`part_mask`."""
    check_images("images", images)
    if isinstance(parts, torch.Tensor) and parts.shape != images.shape[:1] + images.shape[2:]:
        raise ConfigError(f"parts has shape {tuple(parts.shape)}; it must be [B, H, W] of the images "
                          f"{tuple(images.shape)}")
    keep = part_mask(parts, count, generator).to(images)
    return fill_removed(images, keep, fill, generator), keep


def uniform_regions(images: torch.Tensor, min_pixels: int = 4, tol: float = 1e-6) -> torch.Tensor:
    """Regions of one colour, from the pixels alone: ``images [B, C, H, W] -> [B, H, W]`` ids.

    4-connected pixels whose colours agree within ``tol`` in every channel form a region;
    regions of at least ``min_pixels`` get ids ``1, 2, ...``, the rest (per-pixel noise,
    say) 0. On the part-whole scenes these are exactly the parts, since a part is one
    colour and parts that touch differ in colour; unlike the parts map, no label is read.
    """
    from ..components import grid_components, renumber

    check_images("images", images)
    check_positive("min_pixels", min_pixels, integer=True)
    check_positive("tol", tol, strict=False)
    b, _, h, w = images.shape
    right = (images[..., :, 1:] - images[..., :, :-1]).abs().amax(1) <= tol
    down = (images[..., 1:, :] - images[..., :-1, :]).abs().amax(1) <= tol
    comp = grid_components(torch.ones(b, h, w, dtype=torch.bool, device=images.device), right, down).reshape(b, -1)
    size = torch.zeros(b, h * w + 1, dtype=torch.long, device=images.device).scatter_add_(
        1, comp, torch.ones_like(comp))
    comp = torch.where(size.gather(1, comp) >= min_pixels, comp, torch.zeros_like(comp))
    return renumber(comp, keep_zero=True).reshape(b, h, w)


def mask_uniform(images: torch.Tensor, count: int = 1, generator: torch.Generator | None = None, fill="token",
                 min_pixels: int = 4):
    """Return ``(corrupted, keep)``: ``count`` regions of one colour per image
    (:func:`uniform_regions`) replaced by ``fill``. The label-free counterpart of
    :func:`mask_parts`: it removes a part without reading the parts map."""
    check_images("images", images)
    check_positive("count", count, strict=False, integer=True)
    keep = part_mask(uniform_regions(images, min_pixels), count, generator).to(images)
    return fill_removed(images, keep, fill, generator), keep


def changed_fraction(clean: torch.Tensor, corrupted: torch.Tensor) -> float:
    """Fraction of pixels (of ``[..., C, H, W]``) where any channel differs."""
    return float((clean != corrupted).any(-3).double().mean())


def masked_batch(images: torch.Tensor, indices, update: int, *, batch: int, regions: int, min_size: int,
                 max_size: int, seed: int):
    """Update ``update``'s training batch: ``batch`` images drawn with replacement from
    ``images[indices]`` and masked by :func:`mask_regions`, both streams seeded by
    ``(seed, update)`` so a resumed run draws the same batches. Returns
    ``(images, corrupted, keep)``."""
    import numpy as np

    check_images("images", images)
    check_seed("seed", seed)
    check_positive("update", update, strict=False, integer=True)
    check_positive("batch", batch, integer=True)
    indices = torch.as_tensor(indices)
    if indices.dim() != 1 or len(indices) == 0 or indices.dtype.is_floating_point or indices.dtype == torch.bool:
        raise ConfigError(f"indices has shape {tuple(indices.shape)} and dtype {indices.dtype}; it must be a non-empty "
                          "1-D integer index into the images")
    if int(indices.min()) < -len(images) or int(indices.max()) >= len(images):
        raise ConfigError(f"indices holds {int(indices.min())}..{int(indices.max())}; it must index the "
                          f"{len(images)} images")
    rng = np.random.default_rng([seed, update])
    chosen = images[indices[rng.integers(0, len(indices), batch)]]
    corrupted, keep = mask_regions(chosen, regions, min_size, max_size,
                                   generator(seed, "batch", update))
    return chosen, corrupted, keep
