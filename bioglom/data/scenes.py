"""Procedural part-whole scenes with a ground-truth label for every column at every level.

A scene holds a few non-overlapping objects on a black background. Each object is one
of a few kinds, made of two coloured rectangular parts in a fixed arrangement, at a
random position, scale and colour. The parse tree is scene -> objects -> parts, so:

- level 0 of GLOM is compared with the **parts** (one segment per part, plus background);
- levels >= 1 with the **objects** (one segment per object, plus background).

A column takes the part that covers most of its patch, and the object of that part, so
column labels nest across levels by construction. Everything is reproducible from the
seed: scene ``i`` of a call depends only on ``(seed, i)``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ..config import ConfigError, check_count, check_positive, check_seed

__all__ = ["KINDS", "Scenes", "make_scenes", "column_labels", "patch_majority", "MAX_PARTS"]

# parts of each kind as (y0, x0, y1, x1) in the object's unit box
KINDS: dict[str, tuple[tuple[float, float, float, float], ...]] = {
    "stack": ((0.0, 0.0, 0.5, 1.0), (0.5, 0.0, 1.0, 1.0)),
    "tee": ((0.0, 0.0, 0.45, 1.0), (0.45, 0.25, 1.0, 0.75)),
    "ell": ((0.0, 0.0, 1.0, 0.5), (0.55, 0.5, 1.0, 1.0)),
}
MAX_PARTS = 3  # part ids are 1 + MAX_PARTS * object_index + part_index; 0 is background


class Scenes(NamedTuple):
    """A batch of scenes: ``images [B, C, H, W]`` in [0, 1]; ``parts`` and ``objects``
    ``[B, H, W]`` int64 pixel labels (0 background); ``kinds [B, max_objects]`` kind index
    per object (-1 where absent); ``parts_per_object``: part ids are
    ``1 + parts_per_object * object_index + part_index``; ``kind_names``: the name of
    each kind index."""

    images: torch.Tensor
    parts: torch.Tensor
    objects: torch.Tensor
    kinds: torch.Tensor
    parts_per_object: int = MAX_PARTS
    kind_names: tuple = tuple(KINDS)

    def take(self, index) -> "Scenes":
        """The scenes at ``index`` (a slice or an index tensor)."""
        return Scenes(self.images[index], self.parts[index], self.objects[index], self.kinds[index],
                      self.parts_per_object, self.kind_names)


def place_box(rng: np.random.Generator, size, scale, boxes: list, gap: int = 0,
              accept=None) -> tuple[int, int, int, int] | None:
    """An object box ``(y0, x0, y1, x1)`` of side ``scale`` x the image side that overlaps
    none of ``boxes`` and keeps ``gap`` pixels from each of them (rejection sampling, 100
    tries), appended to ``boxes``; None when there is no room. ``gap=0`` lets boxes touch.
    ``accept(box) -> bool``, where given, replaces the test against ``boxes`` (the same
    draws: e.g. a box that may overlap the others in depth order)."""
    h, w = size
    for _ in range(100):
        bh = int(round(rng.uniform(*scale) * h))
        bw = int(round(rng.uniform(*scale) * w))
        y0 = int(rng.integers(0, h - bh + 1))
        x0 = int(rng.integers(0, w - bw + 1))
        box = (y0, x0, y0 + bh, x0 + bw)
        if accept is not None:
            kept = accept(box)
        else:
            kept = all(y0 >= b[2] + gap or b[0] >= y0 + bh + gap or x0 >= b[3] + gap or b[1] >= x0 + bw + gap
                       for b in boxes)
        if kept:
            boxes.append(box)
            return box
    return None


def part_slices(box, unit) -> tuple[slice, slice]:
    """The pixel rows and columns of a part ``unit = (y0, x0, y1, x1)`` (in the object's
    unit box) of the object at ``box``."""
    y0, x0, y1, x1 = box
    bh, bw = y1 - y0, x1 - x0
    a, b, c, d = unit
    return (slice(y0 + int(round(a * bh)), y0 + int(round(c * bh))),
            slice(x0 + int(round(b * bw)), x0 + int(round(d * bw))))


def _one_scene(rng: np.random.Generator, size, channels, n_objects, scale):
    h, w = size
    img = np.zeros((channels, h, w), np.float32)
    parts = np.zeros((h, w), np.int64)
    kinds = []
    boxes = []
    names = list(KINDS)
    for obj in range(n_objects):
        box = place_box(rng, size, scale, boxes)
        if box is None:
            continue  # no room: the scene has fewer objects
        kind = int(rng.integers(len(names)))
        kinds.append(kind)
        for k, unit in enumerate(KINDS[names[kind]]):
            ys, xs = part_slices(box, unit)
            img[:, ys, xs] = rng.uniform(0.25, 1.0, size=(channels, 1, 1))
            parts[ys, xs] = 1 + MAX_PARTS * len(boxes[:-1]) + k
    return img, parts, kinds


def scene_bytes(image_size: int, channels, frames: int = 1) -> int:
    """About how many bytes one generated scene (or clip of ``frames``) takes while it is
    made: float32 pixels and int64 part and object maps, built and then stacked (2x)."""
    c = channels if isinstance(channels, int) and not isinstance(channels, bool) else 3
    return 2 * frames * (4 * c + 16) * image_size * image_size


def check_stream(seed, start, n, bytes_each: float = 0.0) -> None:
    """A scene stream: ``seed`` a seed, ``start`` an integer >= 0, the scene indices
    ``start .. start + n - 1`` seeds too (each scene is drawn from ``default_rng([seed, i])``),
    and ``n`` scenes of ``bytes_each`` bytes within this machine's memory."""
    check_seed("seed", seed)
    check_positive("start", start, strict=False, integer=True)
    if start + n > 2**63:
        raise ConfigError(f"start={start!r} with n={n} is not allowed; start + n must be at most 2**63")
    check_count("n", n, bytes_each, f"{n} scenes")


def check_pair(name: str, value, integer: bool = False) -> None:
    """``value`` must be a ``(min, max)`` pair of numbers (integers with ``integer``)."""
    import numbers

    kind = numbers.Integral if integer else numbers.Real
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(isinstance(v, kind) and not isinstance(v, bool) for v in value)):
        raise ConfigError(f"{name}={value!r} is not allowed; give a (min, max) pair of "
                          f"{'integers' if integer else 'numbers'}")


def make_scenes(n: int, *, image_size: int = 16, channels: int = 3, objects: tuple[int, int] = (2, 3),
                scale: tuple[float, float] = (0.3, 0.5), seed: int = 0, start: int = 0) -> Scenes:
    """Generate scenes ``start .. start + n - 1`` of the stream that ``seed`` names.

    Parameters
    ----------
    n : number of scenes.
    image_size : side of the square image in pixels.
    channels : colour channels (parts get independent random colours).
    objects : (min, max) objects per scene.
    scale : (min, max) object side as a fraction of the image side.
    seed, start : scene ``i`` is drawn from ``numpy.random.default_rng([seed, i])``.
    """
    check_positive("n", n, integer=True)
    check_positive("image_size", image_size, integer=True)
    check_positive("channels", channels, integer=True)
    check_stream(seed, start, n, scene_bytes(image_size, channels))
    check_pair("objects", objects, integer=True)
    check_pair("scale", scale)
    lo, hi = objects
    if not (isinstance(lo, int) and isinstance(hi, int) and 1 <= lo <= hi):
        raise ConfigError(f"objects={objects!r} is not allowed; give (min, max) integers with 1 <= min <= max")
    if not (0 < scale[0] <= scale[1] <= 1) or scale[0] * image_size < 2:
        raise ConfigError(f"scale={scale!r} is not allowed; need 0 < min <= max <= 1 and objects of at least 2 pixels")
    size = (image_size, image_size)
    imgs, parts, kinds = [], [], []
    for i in range(start, start + n):  # scenes are independent draws, each from its own stream
        rng = np.random.default_rng([seed, i])
        img, part, kind = _one_scene(rng, size, channels, int(rng.integers(lo, hi + 1)), scale)
        imgs.append(img)
        parts.append(part)
        kinds.append(kind + [-1] * (hi - len(kind)))
    parts = torch.from_numpy(np.stack(parts))
    objects_ = torch.where(parts > 0, (parts - 1) // MAX_PARTS + 1, 0)
    return Scenes(torch.from_numpy(np.stack(imgs)), parts, objects_, torch.tensor(kinds))


def patch_majority(labels: torch.Tensor, patch_size: int) -> torch.Tensor:
    """The label covering most of each column's patch: ``[B, H, W] -> [B, N]`` (ties: the
    lower id; ids >= 0)."""
    b, h, w = labels.shape
    p = patch_size
    if h % p or w % p:
        raise ConfigError(f"patch_size={p!r} is not allowed; it must divide the image size {h}x{w}")
    patches = labels.reshape(b, h // p, p, w // p, p).permute(0, 1, 3, 2, 4).reshape(b, -1, p * p)  # b n k
    counts = torch.nn.functional.one_hot(patches, int(labels.max()) + 1).sum(2)  # b n label
    return counts.argmax(-1)


def column_labels(scenes: Scenes, patch_size: int, levels: int) -> torch.Tensor:
    """Ground-truth label of every column at every level: ``[B, levels, N]`` int64.

    Level 0: the part covering most of the column's patch (ties: the lower id). Levels
    >= 1: the object of that part. Labels therefore nest: columns that share a part
    share an object.
    """
    part = patch_majority(scenes.parts, patch_size)  # b n
    obj = torch.where(part > 0, (part - 1) // scenes.parts_per_object + 1, 0)
    return torch.stack([part] + [obj] * (levels - 1), dim=1)
