"""Moving scenes: clips of the part-whole scenes in which every object moves rigidly.

Paper section 7 says a location must "decide which other locations its level-L embedding
should be similar to" and points to the trajectories of patches in video for that choice;
section 11: learning from video is much easier. These clips give that signal:

- the scenes of :mod:`.wholes` (familiar kinds of ambiguous parts on a noise background),
  drawn from the same rules;
- every object moves rigidly with an integer velocity ``v = (vy, vx)``, ``max(|vy|, |vx|)
  <= speed`` pixels per frame, and stays wholly inside the image in every frame. By
  default each object's velocity is nonzero and distinct from the other objects' of its
  clip, which makes motion segments nearly the objects; as the world has it, an object
  may stand still (probability ``still``) or move with the velocity of an object placed
  before it (probability ``share``), and then motion cannot tell them apart;
- the background is static (the same noise in every frame);
- objects never overlap (``overlap=False``, the default), or may, in which case a later
  object is drawn over an earlier one (depth order = object order);
- part and object labels per frame; clip ``i`` depends only on ``(seed, i)``.

The last frame of a clip is a still scene like those of :func:`~.wholes.make_whole_scenes`
(positions are drawn so that the whole trajectory fits, so objects sit a little nearer the
centre on average).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ..config import ConfigError, check_between, check_positive
from .scenes import Scenes, check_stream, part_slices, scene_bytes
from .wholes import (APPEARANCES, BASIC_KINDS, PARTS_PER_OBJECT, PATTERNS, WHOLE_KINDS, _check, check_occlusion,
                     check_room, check_texture, draw_background, keeps_in_view, object_cover, paint_part)

__all__ = ["Clips", "make_moving_scenes", "check_clip_fit"]


class Clips(NamedTuple):
    """A batch of clips: ``images [B, T, C, H, W]``; ``parts`` and ``objects`` ``[B, T, H, W]``
    int64 pixel labels per frame (0 background); ``kinds [B, max_objects]`` (-1 where absent);
    ``velocities [B, max_objects, 2]`` int64 ``(vy, vx)`` in pixels per frame (0 where
    absent or standing still); ``parts_per_object`` and ``kind_names`` as in :class:`~.scenes.Scenes`."""

    images: torch.Tensor
    parts: torch.Tensor
    objects: torch.Tensor
    kinds: torch.Tensor
    velocities: torch.Tensor
    parts_per_object: int = PARTS_PER_OBJECT
    kind_names: tuple = tuple(WHOLE_KINDS)

    def frame(self, t: int = -1) -> Scenes:
        """Frame ``t`` of every clip as still :class:`~.scenes.Scenes` (the last by default)."""
        return Scenes(self.images[:, t], self.parts[:, t], self.objects[:, t], self.kinds, self.parts_per_object,
                      self.kind_names)

    def take(self, index) -> "Clips":
        return Clips(self.images[index], self.parts[index], self.objects[index], self.kinds[index],
                     self.velocities[index], self.parts_per_object, self.kind_names)


def segmented_clips(draw, count: int, patch_size: int, chunk: int = 256, segmenter=None) -> tuple[Clips, torch.Tensor]:
    """Clips ``0 .. count - 1`` of a stream, ``draw(n, start) -> Clips``, and the motion
    segments of each one's last frame (:func:`~.motion.motion_segments`, ``[count, N]``,
    or what ``segmenter(video, patch_size)`` gives, ``[count, ...]``), drawn and segmented
    ``chunk`` clips at a time (the motion residuals are the cost): what a run's first
    training clips teach, for the same-signal baseline and for measuring the teacher."""
    from .motion import motion_segments

    segmenter = segmenter or motion_segments
    check_positive("count", count, integer=True)
    parts, segments = [], []
    for start in range(0, count, chunk):  # chunks of clips, not columns
        clips = draw(min(chunk, count - start), start)
        parts.append(clips)
        segments.append(segmenter(clips.images, patch_size))
    whole = Clips(*(torch.cat([getattr(c, f) for c in parts]) for f in Clips._fields[:5]),
                  parts[0].parts_per_object, parts[0].kind_names)
    return whole, torch.cat(segments)


def check_clip_fit(frames: int, speed: int, image_size: int, scale: tuple[float, float]) -> None:
    """Raise :class:`ConfigError` unless an object of the largest side can travel ``speed``
    pixels per frame for ``frames - 1`` frames and stay inside the image."""
    if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or frames < 2:
        raise ConfigError(f"frames={frames!r} is not allowed; a clip needs an integer >= 2 frames (motion is "
                          "measured between consecutive frames)")
    check_positive("speed", speed, integer=True)
    largest = int(round(scale[1] * image_size))
    travel = speed * (frames - 1)
    if largest + travel > image_size:
        raise ConfigError(f"speed={speed!r} is not allowed with frames={frames} and image_size={image_size}: an "
                          f"object of {largest} pixels moving {travel} pixels would leave the image; need "
                          f"speed * (frames - 1) <= {image_size - largest}")


def _velocities(speed: int, taken: list) -> list[tuple[int, int]]:
    """The nonzero integer velocities of components up to ``speed`` not in ``taken``, row-major."""
    return [(vy, vx) for vy in range(-speed, speed + 1) for vx in range(-speed, speed + 1)
            if (vy, vx) != (0, 0) and (vy, vx) not in taken]


def _velocity_choices(rng, speed: int, taken: list, share: float, still: float) -> list[tuple[int, int]]:
    """The velocities an object may take: (0, 0) with probability ``still``; else, where an
    object was placed before it, one of theirs with probability ``share``; else a nonzero
    one not taken. A probability of 0 draws nothing, so clips without the mix are the
    same draws as before it existed."""
    if still > 0 and rng.uniform() < still:
        return [(0, 0)]
    if share > 0 and taken and rng.uniform() < share:
        return sorted(set(taken))
    return _velocities(speed, taken)


def _moving_box(rng, size, scale, speed, taken, frames, boxes, overlap, gap, share=0.0, still=0.0, in_view=None):
    """A velocity ``v`` (:func:`_velocity_choices`) and a box of side ``scale`` x the image
    side whose path ``box + t v``, ``t < frames``, stays inside the image and (unless
    ``overlap``, or with ``in_view``, a test of the path that replaces the gap) keeps
    ``gap`` pixels from every path in ``boxes`` at every frame: ``(path, v)``, the path
    appended to ``boxes``; None after 100 tries."""
    choices = _velocity_choices(rng, speed, taken, share, still)  # the same for every try
    for _ in range(100):
        v = choices[int(rng.integers(len(choices)))]
        path = _path(rng, size, scale, v, frames)
        if path is None:
            continue
        if in_view is not None:
            placed = in_view(path)
        else:
            placed = overlap or all(_apart(a, b, gap) for other in boxes for a, b in zip(path, other))
        if placed:
            boxes.append(path)
            return path, v
    return None


def _path(rng, size, scale, v, frames):
    h, w = size
    vy, vx = v
    span_y, span_x = abs(vy) * (frames - 1), abs(vx) * (frames - 1)
    bh = int(round(rng.uniform(*scale) * h))
    bw = int(round(rng.uniform(*scale) * w))
    if bh + span_y > h or bw + span_x > w:
        return None
    y0 = int(rng.integers(0, h - bh - span_y + 1)) + (span_y if vy < 0 else 0)
    x0 = int(rng.integers(0, w - bw - span_x + 1)) + (span_x if vx < 0 else 0)
    return [(y0 + vy * t, x0 + vx * t, y0 + vy * t + bh, x0 + vx * t + bw) for t in range(frames)]


def _apart(a, b, gap: int) -> bool:
    return a[0] >= b[2] + gap or b[0] >= a[2] + gap or a[1] >= b[3] + gap or b[1] >= a[3] + gap


SWAYS = ((-1, 0), (1, 0), (0, -1), (0, 1))  # a swaying part's offset from its place in the object, pixels


def _swayed(ys: slice, xs: slice, offset, size) -> tuple[slice, slice]:
    """``(ys, xs)`` moved by ``offset`` and clipped to the image."""
    (dy, dx), (h, w) = offset, size
    return (slice(max(0, ys.start + dy), min(h, ys.stop + dy)), slice(max(0, xs.start + dx), min(w, xs.stop + dx)))


def _one_clip(rng, size, kinds, n_objects, scale, background, jitter, frames, speed, overlap, gap, share, still,
              articulation=0.0, texture="flat", occlusion=0.0):
    h, w = size
    imgs = np.repeat(draw_background(rng, size, background)[None], frames, 0)
    parts = np.zeros((frames, h, w), np.int64)
    paths, chosen, velocities, full = [], [], [], []
    for kind in rng.permutation(len(kinds))[:n_objects]:  # distinct kinds within a clip
        units = WHOLE_KINDS[kinds[kind]]
        in_view = None
        if occlusion > 0:  # depth order: in every frame, in front of every object placed before it
            objects = np.where(parts > 0, (parts - 1) // PARTS_PER_OBJECT + 1, 0)  # t h w

            def in_view(path):
                covers = np.stack([object_cover(box, units, size) for box in path])  # t h w
                return keeps_in_view(objects, covers, np.array(full).reshape(len(full), frames).T, occlusion)
        placed = _moving_box(rng, size, scale, speed, velocities, frames, paths, overlap, gap, share, still, in_view)
        if placed is None:
            continue  # no room: the clip has fewer objects
        path, v = placed
        obj = len(paths) - 1
        chosen.append(int(kind))
        velocities.append(v)
        colours = [np.clip(np.asarray(APPEARANCES[app]) + rng.uniform(-jitter, jitter, size=3), 0.0, 1.0)
                   for _, app in units]
        # a part sways with probability ``articulation``: one pixel off its place in odd frames
        # (nothing is drawn at 0, so clips without articulation are the draws they were)
        sways = [(0, 0)] * len(units)
        if articulation > 0:
            sways = [SWAYS[int(rng.integers(4))] if rng.uniform() < articulation else (0, 0) for _ in units]
        for t, box in enumerate(path):  # frames in time order; later objects over earlier ones
            for k, ((unit, _), colour) in enumerate(zip(units, colours)):
                ys, xs = part_slices(box, unit)
                if t % 2:
                    ys, xs = _swayed(ys, xs, sways[k], size)
                paint_part(imgs[t], ys, xs, colour, PATTERNS[units[k][1]] if texture == "patterned" else None)
                parts[t, ys, xs] = 1 + PARTS_PER_OBJECT * obj + k
        if occlusion > 0:  # its pixels per frame as drawn (sways included), the bound of what may hide it
            full.append((parts > PARTS_PER_OBJECT * obj).sum((1, 2)))
    return imgs, parts, chosen, velocities


def make_moving_scenes(n: int, *, frames: int = 4, speed: int = 1, image_size: int = 16, channels: int = 3,
                       kinds=BASIC_KINDS, parts: tuple[int, int] = (2, 4), objects: tuple[int, int] = (2, 3),
                       scale: tuple[float, float] = (0.35, 0.5), background: str = "noise", jitter: float = 0.05,
                       overlap: bool = False, min_gap: int = 0, share: float = 0.0, still: float = 0.0,
                       articulation: float = 0.0, texture: str = "flat", occlusion: float = 0.0, seed: int = 0,
                       start: int = 0) -> Clips:
    """Clips ``start .. start + n - 1`` of the stream that ``seed`` names.

    Parameters
    ----------
    n : number of clips.
    frames : frames per clip (>= 2).
    speed : largest velocity component in pixels per frame (velocities are integer);
        ``speed * (frames - 1)`` plus the largest object side must fit in the image.
    image_size, channels, kinds, parts, objects, scale, background, jitter, texture : as
        :func:`~.wholes.make_whole_scenes` (a pattern moves with its part; the background,
        clutter too, stands still).
    overlap : let objects overlap (a later object hides an earlier one); otherwise their
        paths keep ``min_gap`` pixels apart in every frame.
    min_gap : pixels kept between objects in every frame (``overlap=False`` only).
    occlusion : as :func:`~.wholes.make_whole_scenes`, in every frame: objects lie in depth
        order (the first placed at the back) and each keeps at least ``1 - occlusion`` of
        its pixels in view in every frame (0: no overlap, or ``overlap``'s unbounded one).
    share : probability that an object (not the first placed) moves with the velocity of
        an object placed before it.
    still : probability that an object stands still. With both 0 every velocity is
        nonzero and distinct within a clip.
    articulation : probability that a part sways: in every odd frame it sits one pixel
        (up, down, left or right, drawn per part) off its place in its object, and in every
        even frame at it (hierarchical common fate: from one frame to the next a swaying
        part moves unlike the rest of its object, over two frames every part of an object
        moves alike). The parts map follows the sway.
    seed, start : clip ``i`` is drawn from ``numpy.random.default_rng([seed, i])``.

    Returns
    -------
    :class:`Clips`.
    """
    check_positive("n", n, integer=True)
    check_positive("image_size", image_size, integer=True)
    check_positive("frames", frames, integer=True)
    check_stream(seed, start, n, scene_bytes(image_size, channels, frames))
    check_between("share", share, 0.0, 1.0)
    check_between("still", still, 0.0, 1.0)
    check_between("articulation", articulation, 0.0, 1.0)
    check_texture(texture)
    if not isinstance(overlap, (bool, np.bool_)):
        raise ConfigError(f"overlap={overlap!r} is not allowed; it must be True or False")
    check_occlusion(occlusion, min_gap, overlap)
    chosen = _check(tuple(kinds), tuple(parts), tuple(objects), tuple(scale), image_size, background, jitter, channels)
    check_clip_fit(frames, speed, image_size, tuple(scale))
    check_room(min_gap, tuple(objects), tuple(scale), image_size)
    global_index = [list(WHOLE_KINDS).index(k) for k in chosen]
    lo, hi = objects
    imgs, part_maps, kind_rows, vel_rows = [], [], [], []
    for i in range(start, start + n):  # clips are independent draws, each from its own stream
        rng = np.random.default_rng([seed, i])
        img, part, kind, vel = _one_clip(rng, (image_size, image_size), chosen, int(rng.integers(lo, hi + 1)), scale,
                                         background, jitter, frames, speed, overlap, min_gap, share, still,
                                         articulation, texture, occlusion)
        imgs.append(img)
        part_maps.append(part)
        kind_rows.append([global_index[k] for k in kind] + [-1] * (hi - len(kind)))
        vel_rows.append(vel + [(0, 0)] * (hi - len(vel)))
    part_maps = torch.from_numpy(np.stack(part_maps))
    objects_ = torch.where(part_maps > 0, (part_maps - 1) // PARTS_PER_OBJECT + 1, 0)
    return Clips(torch.from_numpy(np.stack(imgs)), part_maps, objects_, torch.tensor(kind_rows),
                 torch.tensor(vel_rows, dtype=torch.int64).reshape(n, hi, 2))
