"""Scenes where wholes matter: familiar object kinds built from ambiguous parts.

Paper section 7 argues that denoising with large removed regions rewards "identifying
familiar objects", because the object predicts what is missing. That only works when
the object does predict its parts. In these scenes:

- a vocabulary of **kinds** (:data:`WHOLE_KINDS`, twelve), each a fixed arrangement of
  2-4 rectangular parts in the object's unit box, each part with an **appearance** (a
  colour from :data:`APPEARANCES`) fixed by the kind, up to a per-object jitter; scenes
  draw from the first six (:data:`BASIC_KINDS`, four appearances) unless given more;
- every appearance occurs in at least two kinds, so one part alone does not name the
  kind: the kind follows only from the arrangement (Culp, Sabour & Hinton 2022);
- random position, size and count; the kinds within one scene are distinct, so that
  the object a column belongs to is told apart from the other objects by its kind (the
  columns carry no absolute position, so two copies of one kind would be the same
  whole to them);
- the background is black (``background="black"``), per-pixel noise (``"noise"``, the
  default), so that "not black" is not the foreground, or structured clutter
  (``"clutter"``: patterned rectangles of any colour over the noise), so that no
  brightness or colour threshold is the foreground;
- a part is one flat colour (``texture="flat"``, the default) or its colour under the
  pattern of its appearance (``"patterned"``: :data:`PATTERNS`, stripes, checks or a
  gradient anchored to the part, so it moves with it), so that a part is not a region of
  one colour.

Ground truth per column at every level (:func:`column_labels` and :func:`column_kinds`):
the part, the object, and the object's kind. Scene ``i`` of a stream depends only on
``(seed, i)``.
"""

from __future__ import annotations

import numpy as np
import torch

from ..config import ConfigError, check_positive
from .scenes import Scenes, check_pair, check_stream, part_slices, place_box, scene_bytes

__all__ = ["APPEARANCES", "WHOLE_KINDS", "BASIC_KINDS", "PARTS_PER_OBJECT", "BACKGROUNDS", "TEXTURES", "PATTERNS", "make_whole_scenes",
           "column_kinds", "appearance_kinds", "MASK_TOKEN", "check_room", "paint_part", "draw_background",
           "check_occlusion", "object_cover", "keeps_in_view"]

# RGB of each part appearance: saturated colours, brighter than any noise background pixel
APPEARANCES: dict[str, tuple[float, float, float]] = {
    "red": (0.90, 0.15, 0.15),
    "green": (0.15, 0.80, 0.20),
    "blue": (0.20, 0.30, 0.95),
    "yellow": (0.95, 0.85, 0.10),
    "cyan": (0.10, 0.85, 0.90),
    "white": (0.92, 0.92, 0.92),
}

# kind -> parts as ((y0, x0, y1, x1) in the unit box, appearance)
WHOLE_KINDS: dict[str, tuple[tuple[tuple[float, float, float, float], str], ...]] = {
    "tower": (((0.0, 0.0, 0.5, 1.0), "red"), ((0.5, 0.0, 1.0, 1.0), "green")),
    "flag": (((0.0, 0.0, 1.0, 0.5), "green"), ((0.0, 0.5, 1.0, 1.0), "red")),
    "tee": (((0.0, 0.0, 0.4, 1.0), "blue"), ((0.4, 0.3, 1.0, 0.7), "red")),
    "ell": (((0.0, 0.0, 1.0, 0.45), "yellow"), ((0.6, 0.45, 1.0, 1.0), "blue")),
    "stripes": (((0.0, 0.0, 0.34, 1.0), "yellow"), ((0.34, 0.0, 0.67, 1.0), "green"),
                ((0.67, 0.0, 1.0, 1.0), "blue")),
    "quad": (((0.0, 0.0, 0.5, 0.5), "red"), ((0.0, 0.5, 0.5, 1.0), "blue"),
             ((0.5, 0.0, 1.0, 0.5), "yellow"), ((0.5, 0.5, 1.0, 1.0), "green")),
    # six more, with two more appearances; every appearance still in at least two kinds
    "cap": (((0.0, 0.0, 0.3, 1.0), "cyan"), ((0.3, 0.25, 1.0, 0.75), "yellow")),
    "gate": (((0.0, 0.0, 0.35, 1.0), "white"), ((0.35, 0.0, 1.0, 0.35), "blue"), ((0.35, 0.65, 1.0, 1.0), "red")),
    "sandwich": (((0.0, 0.0, 0.3, 1.0), "green"), ((0.3, 0.0, 0.7, 1.0), "white"), ((0.7, 0.0, 1.0, 1.0), "green")),
    "corner": (((0.0, 0.0, 0.5, 0.5), "cyan"), ((0.5, 0.0, 1.0, 1.0), "red")),
    "cross": (((0.35, 0.0, 0.65, 1.0), "yellow"), ((0.0, 0.35, 0.35, 0.65), "cyan"),
              ((0.65, 0.35, 1.0, 0.65), "white")),
    "split": (((0.0, 0.0, 1.0, 0.3), "blue"), ((0.0, 0.3, 0.5, 1.0), "cyan"), ((0.5, 0.3, 1.0, 1.0), "red")),
}
BASIC_KINDS = ("tower", "flag", "tee", "ell", "stripes", "quad")  # the scenes' default vocabulary
PARTS_PER_OBJECT = 4  # part ids are 1 + PARTS_PER_OBJECT * object_index + part_index; 0 is background
BACKGROUNDS = ("noise", "black", "clutter")
TEXTURES = ("flat", "patterned")
# appearance -> the pattern of its parts with texture="patterned" (a brightness factor of the
# pixel (y, x) from the part's top-left corner, in a part of h x w pixels)
PATTERNS = {
    "red": lambda y, x, h, w: np.where(y % 2 == 0, 1.0, 0.55),  # horizontal stripes
    "green": lambda y, x, h, w: np.where((y + x) % 2 == 0, 1.0, 0.55),  # checks
    "blue": lambda y, x, h, w: np.where(x % 2 == 0, 1.0, 0.55),  # vertical stripes
    "yellow": lambda y, x, h, w: 0.55 + 0.45 * (x + 1) / max(w, 1),  # a gradient, dark to bright left to right
    "cyan": lambda y, x, h, w: np.where((y - x) % 3 == 0, 1.0, 0.55),  # diagonal stripes
    "white": lambda y, x, h, w: 0.55 + 0.45 * (y + 1) / max(h, 1),  # a gradient, dark to bright top to bottom
}
CLUTTER = (6, 10)  # rectangles of clutter per image (min, max)
# a colour no part and no background pixel has: what masking fills removed regions with
MASK_TOKEN = (1.0, 0.0, 1.0)


def appearance_kinds(kinds=None) -> dict[str, list[str]]:
    """For each appearance, the kinds (of ``kinds``, default all) that have a part of it."""
    names = list(WHOLE_KINDS) if kinds is None else list(kinds)
    return {a: [k for k in names if any(app == a for _, app in WHOLE_KINDS[k])] for a in APPEARANCES}


def _check(kinds, parts, objects, scale, image_size, background, jitter, channels):
    for k in kinds:
        if k not in WHOLE_KINDS:
            raise ConfigError(f"kinds contains {k!r}, which is not allowed; choose from {sorted(WHOLE_KINDS)}")
    lo, hi = parts
    if not (isinstance(lo, int) and isinstance(hi, int) and 2 <= lo <= hi <= 4):
        raise ConfigError(f"parts={tuple(parts)!r} is not allowed; give (min, max) part counts with 2 <= min <= max <= 4")
    chosen = [k for k in kinds if lo <= len(WHOLE_KINDS[k]) <= hi]
    if len(chosen) < 2:
        raise ConfigError(f"kinds={tuple(kinds)!r} with parts={tuple(parts)!r} leaves {chosen}; at least 2 kinds are needed")
    olo, ohi = objects
    if not (isinstance(olo, int) and isinstance(ohi, int) and 1 <= olo <= ohi <= len(chosen)):
        raise ConfigError(f"objects={tuple(objects)!r} is not allowed; give (min, max) integers with "
                          f"1 <= min <= max <= {len(chosen)} (the kinds in a scene are distinct)")
    if not (0 < scale[0] <= scale[1] <= 1) or scale[0] * image_size < 4:
        raise ConfigError(f"scale={tuple(scale)!r} is not allowed; need 0 < min <= max <= 1 and objects of at least "
                          f"4 pixels (image_size={image_size})")
    if background not in BACKGROUNDS:
        raise ConfigError(f"background={background!r} is not allowed; choose one of {list(BACKGROUNDS)}")
    check_positive("jitter", jitter, strict=False)
    if channels != 3:
        raise ConfigError(f"channels={channels!r} is not allowed; part appearances are RGB colours (channels=3)")
    return chosen


def check_texture(texture) -> None:
    if texture not in TEXTURES:
        raise ConfigError(f"texture={texture!r} is not allowed; choose one of {list(TEXTURES)}")


def check_room(min_gap: int, objects: tuple[int, int], scale: tuple[float, float], image_size: int) -> None:
    """Raise :class:`ConfigError` naming ``min_gap`` when the fewest requested objects, at
    the smallest side, cannot be packed ``min_gap`` pixels apart in the image (a grid
    packing: ``floor((S + g) / (s + g))^2`` objects of side ``s`` fit with gaps ``g``)."""
    check_positive("min_gap", min_gap, integer=True, strict=False)
    side = int(round(scale[0] * image_size))
    per_row = (image_size + min_gap) // (side + min_gap)
    if per_row ** 2 < objects[0]:
        raise ConfigError(f"min_gap={min_gap!r} is not allowed with image_size={image_size}: {objects[0]} objects of "
                          f"{side} pixels do not fit {min_gap} pixels apart; need a min_gap with "
                          f"floor(({image_size} + min_gap) / ({side} + min_gap))^2 >= {objects[0]}")


def paint_part(img: np.ndarray, ys: slice, xs: slice, colour: np.ndarray, pattern=None) -> None:
    """Paint ``img [3, H, W]`` at rows ``ys`` and columns ``xs`` with ``colour`` (RGB), times
    ``pattern(y, x, h, w)`` from the part's top-left corner where one is given."""
    if pattern is None:
        img[:, ys, xs] = colour[:, None, None]
        return
    h, w = ys.stop - ys.start, xs.stop - xs.start
    if h <= 0 or w <= 0:
        return
    y, x = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    img[:, ys, xs] = np.clip(colour[:, None, None] * pattern(y, x, h, w)[None], 0.0, 1.0)


def draw_background(rng, size, background: str) -> np.ndarray:
    """The background ``[3, H, W]`` float32: ``black``, ``noise`` (each pixel and channel
    uniform in [0, 0.45]) or ``clutter`` (that noise under :data:`CLUTTER` rectangles of 2-5
    pixels a side, each of a uniform random colour in [0.1, 0.95] under a random
    :data:`PATTERNS` pattern)."""
    h, w = size
    if background == "black":
        return np.zeros((3, h, w), np.float32)
    img = rng.uniform(0.0, 0.45, size=(3, h, w)).astype(np.float32)
    if background == "clutter":
        patterns = [PATTERNS[a] for a in ("red", "green", "blue", "yellow")]  # the four clutter has always drawn
        for _ in range(int(rng.integers(CLUTTER[0], CLUTTER[1] + 1))):
            bh, bw = int(rng.integers(2, 6)), int(rng.integers(2, 6))
            y0, x0 = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
            colour = rng.uniform(0.1, 0.95, size=3)
            paint_part(img, slice(y0, y0 + bh), slice(x0, x0 + bw), colour, patterns[int(rng.integers(len(patterns)))])
    return img


def check_occlusion(occlusion, min_gap=0, overlap=False) -> None:
    """Refuse an ``occlusion`` outside [0, 1), or one above 0 beside a ``min_gap`` or
    ``overlap`` (which it replaces), in one line."""
    if isinstance(occlusion, bool) or not isinstance(occlusion, (int, float)) or not 0 <= occlusion < 1:
        raise ConfigError(f"occlusion={occlusion!r} is not allowed; give the largest fraction of an object that the "
                          "objects in front of it may hide, a number in [0, 1) (0: objects do not overlap)")
    if occlusion > 0 and (min_gap or overlap):
        raise ConfigError(f"occlusion={occlusion!r} is not allowed with min_gap={min_gap!r}, overlap={overlap!r}; "
                          "objects that may overlap keep no gap, so give min_gap=0 and overlap=False")


def object_cover(box, units, size) -> np.ndarray:
    """The pixels ``[H, W]`` (bool) that the parts ``units`` of an object at ``box`` paint."""
    cover = np.zeros(size, bool)
    for unit, _ in units:
        ys, xs = part_slices(box, unit)
        cover[ys, xs] = True
    return cover


def keeps_in_view(objects: np.ndarray, cover: np.ndarray, full, occlusion: float) -> bool:
    """Whether every object drawn in ``objects [..., H, W]`` (ids 1, 2, ...; 0 background)
    keeps at least ``1 - occlusion`` of its ``full[..., j]`` part pixels in view once
    ``cover [..., H, W]`` is painted over it (leading axes: frames of a clip, all of them
    checked)."""
    full = np.asarray(full, float).reshape(*objects.shape[:-2], -1)  # ... n
    ids = np.arange(1, full.shape[-1] + 1)
    visible = ((objects[..., None] == ids) & ~cover[..., None]).sum((-3, -2))  # ... n
    return bool((visible >= (1.0 - occlusion) * full).all())


def _one_scene(rng, size, kinds, n_objects, scale, background, jitter, gap=0, texture="flat", occlusion=0.0):
    h, w = size
    img = draw_background(rng, size, background)
    parts = np.zeros((h, w), np.int64)
    boxes, chosen, full = [], [], []
    order = rng.permutation(len(kinds))[:n_objects]  # distinct kinds within a scene
    for kind in order:
        units = WHOLE_KINDS[kinds[kind]]
        accept = None
        if occlusion > 0:  # depth order: in front of every object placed before it, each kept in view
            objects = np.where(parts > 0, (parts - 1) // PARTS_PER_OBJECT + 1, 0)

            def accept(box):
                return keeps_in_view(objects, object_cover(box, units, size), full, occlusion)
        box = place_box(rng, size, scale, boxes, gap, accept)
        if box is None:
            continue  # no room: the scene has fewer objects
        if occlusion > 0:
            full.append(int(object_cover(box, units, size).sum()))
        obj = len(boxes) - 1
        chosen.append(int(kind))
        for k, (unit, app) in enumerate(units):
            ys, xs = part_slices(box, unit)
            colour = np.clip(np.asarray(APPEARANCES[app]) + rng.uniform(-jitter, jitter, size=3), 0.0, 1.0)
            paint_part(img, ys, xs, colour, PATTERNS[app] if texture == "patterned" else None)
            parts[ys, xs] = 1 + PARTS_PER_OBJECT * obj + k
    return img, parts, chosen, boxes


def make_whole_scenes(n: int, *, image_size: int = 16, channels: int = 3, kinds=BASIC_KINDS,
                      parts: tuple[int, int] = (2, 4), objects: tuple[int, int] = (2, 3),
                      scale: tuple[float, float] = (0.35, 0.5), background: str = "noise", jitter: float = 0.05,
                      min_gap: int = 0, texture: str = "flat", occlusion: float = 0.0, seed: int = 0,
                      start: int = 0) -> Scenes:
    """Scenes ``start .. start + n - 1`` of the stream that ``seed`` names.

    Parameters
    ----------
    n : number of scenes.
    image_size : side of the square image in pixels.
    channels : must be 3 (appearances are RGB).
    kinds : names from :data:`WHOLE_KINDS` to draw objects from (default
        :data:`BASIC_KINDS`).
    parts : (min, max) part count of the kinds used, within 2..4.
    objects : (min, max) objects per scene (distinct kinds; fewer when there is no room).
    scale : (min, max) object side as a fraction of the image side.
    background : ``noise`` (each pixel and channel uniform in [0, 0.45]), ``black`` or
        ``clutter`` (:func:`draw_background`).
    texture : ``flat`` parts, or ``patterned`` (each part under its appearance's pattern,
        :data:`PATTERNS`).
    jitter : each part's colour is its appearance plus uniform(-jitter, jitter) per channel.
    min_gap : pixels kept between objects (0: objects may touch). With ``min_gap >=
        patch_size`` no two objects' columns are 4-adjacent, so connectivity alone
        separates them: the scenes test binding, not splitting touching objects.
    occlusion : the largest fraction of an object's part pixels that objects in front of
        it may hide, in [0, 1); 0 (the default): objects do not overlap. Above 0 the
        objects lie in depth order, object 1 at the back (``min_gap`` must be 0).
    seed, start : scene ``i`` is drawn from ``numpy.random.default_rng([seed, i])``.

    Returns
    -------
    :class:`~bioglom.data.scenes.Scenes` with ``parts_per_object = 4`` and ``kinds``
    ``[B, max_objects]`` holding the index of each object's kind in :data:`WHOLE_KINDS`
    (-1 where absent), in the order the objects were placed (with ``occlusion``, back to
    front); ``kind_names`` lists those names.
    """
    check_positive("n", n, integer=True)
    check_positive("image_size", image_size, integer=True)
    check_stream(seed, start, n, scene_bytes(image_size, channels))
    for name, value, integer in (("parts", parts, True), ("objects", objects, True), ("scale", scale, False)):
        check_pair(name, value, integer)
    check_positive("min_gap", min_gap, strict=False, integer=True)
    chosen = _check(tuple(kinds), tuple(parts), tuple(objects), tuple(scale), image_size, background, jitter, channels)
    check_room(min_gap, tuple(objects), tuple(scale), image_size)
    check_texture(texture)
    check_occlusion(occlusion, min_gap)
    global_index = [list(WHOLE_KINDS).index(k) for k in chosen]
    lo, hi = objects
    imgs, part_maps, kind_rows = [], [], []
    for i in range(start, start + n):  # scenes are independent draws, each from its own stream
        rng = np.random.default_rng([seed, i])
        img, part, kind, _ = _one_scene(rng, (image_size, image_size), chosen, int(rng.integers(lo, hi + 1)),
                                     scale, background, jitter, min_gap, texture, occlusion)
        imgs.append(img)
        part_maps.append(part)
        kind_rows.append([global_index[k] for k in kind] + [-1] * (hi - len(kind)))
    part_maps = torch.from_numpy(np.stack(part_maps))
    objects_ = torch.where(part_maps > 0, (part_maps - 1) // PARTS_PER_OBJECT + 1, 0)
    return Scenes(torch.from_numpy(np.stack(imgs)), part_maps, objects_, torch.tensor(kind_rows),
                  PARTS_PER_OBJECT, tuple(WHOLE_KINDS))


def column_kinds(scenes: Scenes, labels: torch.Tensor) -> torch.Tensor:
    """The kind index of each column's object, ``[B, N]`` (-1 for background columns).

    ``labels`` is :func:`~bioglom.data.scenes.column_labels`' output ``[B, L, N]``; its
    level 1 holds object ids (1-based, 0 background)."""
    obj = labels[:, 1]  # b n
    padded = torch.cat([torch.full_like(scenes.kinds[:, :1], -1), scenes.kinds], 1)  # b (1 + objects)
    return padded.gather(1, obj)
