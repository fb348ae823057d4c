"""The part-whole scenes as a training and evaluation task that any simulation can take.

The islands simulation (the positive control) trains on scenes of familiar kinds made of
ambiguous parts (:mod:`.wholes`), each input losing one whole part filled with a token
colour. :class:`SceneTask` gives the same scenes and masks to the section-12
simulations, so that a local rule, a wake/sleep schedule or a distillery condition is
judged on the scenes and against the control trained on them with the same budget:

- training batch ``u`` of ``seed``: scenes ``u * batch .. (u + 1) * batch - 1`` of the
  stream ``seed``, masked with the generator ``seed * 7919 + u`` (the islands
  simulation's streams), optionally as static videos of ``frames`` frames;
- held-out scenes: validation scenes from the stream ``validation`` (island
  thresholds, choices) and test scenes from ``test`` (claims; streams of bioglom.seeding), far from
  any training stream, and the test scenes masked once with the generator
  ``test``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from ..config import ConfigError, check_choice, check_positive
from ..seeding import derived_seed, generator
from .clips import Clips, make_moving_scenes, segmented_clips
from .masking import mask_parts
from .motion import motion_batch
from .scenes import Scenes, column_labels
from .wholes import BACKGROUNDS, BASIC_KINDS, make_whole_scenes

__all__ = ["SceneTask", "HeldOutScenes", "SCENE_FILLS", "GROUPINGS"]

# offsets of the held-out streams, far from any training stream
SCENE_FILLS = ("token", "noise", "zero")
GROUPINGS = ("none", "motion")  # label-free signals of which columns agree (bioglom.data.motion)
MIN_SIZE = 12  # the smallest object side is 0.35 of the image side, and at least 4 pixels


class HeldOutScenes(NamedTuple):
    """Validation and test scenes of one seed, and the test images with parts removed
    (``corrupted``) with the mask of kept pixels (``keep``). With the motion grouping,
    also the training signal for the same-signal baseline: the last frames of the seed's
    first training clips (``signal_images [B, C, H, W]``) and their motion segments
    (``signal_segments [B, N]``); None otherwise."""

    val: Scenes
    test: Scenes
    corrupted: torch.Tensor
    keep: torch.Tensor
    signal_images: torch.Tensor | None = None
    signal_segments: torch.Tensor | None = None


@dataclass(frozen=True)
class SceneTask:
    """Scenes of familiar kinds (:func:`~.wholes.make_whole_scenes`) with ``mask_count``
    whole parts removed from each input and filled with ``fill``; ``val_scenes`` and
    ``test_scenes`` held out per seed. ``image_size`` is the scene side in pixels."""

    image_size: int = 16
    kinds: tuple = BASIC_KINDS
    parts: tuple = (2, 4)
    objects: tuple = (2, 3)
    background: str = "noise"
    mask_count: int = 1
    fill: str = "token"
    val_scenes: int = 128
    test_scenes: int = 256
    grouping: str = "none"

    channels = 3  # part appearances are RGB colours

    def check(self) -> None:
        """Raise :class:`ConfigError` naming the field, before any work."""
        for name in ("mask_count", "val_scenes", "test_scenes"):
            check_positive(name, getattr(self, name), integer=True)
        check_positive("image_size", self.image_size, integer=True)
        if self.image_size < MIN_SIZE:
            raise ConfigError(f"image_size={self.image_size} is not allowed for the part-whole scenes; objects of "
                              f"at least 4 pixels need image_size >= {MIN_SIZE}")
        check_choice("background", self.background, BACKGROUNDS)
        check_choice("fill", self.fill, SCENE_FILLS)
        check_choice("grouping", self.grouping, GROUPINGS)
        if self.grouping == "motion" and self.background != "noise":
            raise ConfigError(f"grouping='motion' is not allowed with background={self.background!r}: motion is found "
                              "against a static textured background; use background='noise'")
        if self.fill == "zero" and self.background == "black":
            raise ConfigError("fill='zero' is not allowed with background='black': removed parts would look like "
                              "background")
        self.scenes(1, 0, 0)  # kinds, parts, objects, size: one clear line

    def scenes(self, n: int, seed: int, start: int) -> Scenes:
        """Scenes ``start .. start + n - 1`` of the stream ``seed``."""
        return make_whole_scenes(n, image_size=self.image_size, kinds=self.kinds, parts=tuple(self.parts),
                                 objects=tuple(self.objects), background=self.background, seed=seed, start=start)

    def masked(self, scenes: Scenes, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``(corrupted, keep)``: ``mask_count`` whole parts of each scene removed."""
        return mask_parts(scenes.images, scenes.parts, self.mask_count, generator, fill=self.fill)

    def clips(self, n: int, seed: int, start: int) -> Clips:
        """Two-frame clips ``start .. start + n - 1`` of the stream ``seed``: the same
        scenes' kinds, each object moving rigidly by at most one pixel per axis."""
        return make_moving_scenes(n, frames=2, speed=1, image_size=self.image_size, kinds=self.kinds,
                                  parts=tuple(self.parts), objects=tuple(self.objects), background=self.background,
                                  seed=seed, start=start)

    def batch(self, seed: int, u: int, size: int, *, frames: int = 0, labels_for: tuple[int, int] | None = None,
              groups_for: tuple[int, int] | None = None):
        """Training batch ``u`` of ``seed``: ``(clean, corrupted, keep, labels, groups)``, the
        fields of :class:`~bioglom.learning.Batch`; with ``frames > 0`` every scene is a static video of that many
        frames (``[b, frames, 3, H, W]``); with ``labels_for = (patch_size, levels)`` the
        batch carries the columns' ground-truth labels (label-trained control only).

        With ``grouping="motion"`` and ``groups_for = (patch_size, levels)`` the batch is
        :func:`~.motion.motion_batch` of the two-frame clips :meth:`clips` (the model learns
        on each clip's last frame; ``groups`` are the motion segments found from the
        pixels); otherwise ``groups`` is None."""
        if self.grouping == "motion" and groups_for is not None:
            if frames:
                raise ConfigError(f"frames={frames} is not allowed with grouping='motion'; the model learns on "
                                  "each clip's last frame as a still image")
            clips = self.clips(size, seed, u * size)
            clean, corrupted, keep, groups = motion_batch(clips.images, *groups_for, self.mask_count,
                                                          generator(seed, "batch", u), fill=self.fill)
            labels = column_labels(clips.frame(-1), *labels_for) if labels_for else None
            return clean, corrupted, keep, labels, groups
        scenes = self.scenes(size, seed, u * size)
        corrupted, keep = self.masked(scenes, generator(seed, "batch", u))
        clean = scenes.images
        if frames:
            clean, corrupted, keep = (x[:, None].expand(-1, frames, *x.shape[1:]).contiguous()
                                      for x in (clean, corrupted, keep.expand_as(clean)))
        labels = column_labels(scenes, *labels_for) if labels_for else None
        return clean, corrupted, keep, labels, None

    def held_out(self, seed: int, patch_size: int | None = None, signal_clips: int = 1024) -> HeldOutScenes:
        """The validation and test scenes of ``seed``, and the masked test images; with
        ``grouping="motion"`` and a ``patch_size``, also the first ``signal_clips``
        training clips' last frames and motion segments (the clips :meth:`batch` trains
        on), from which the same-signal baseline counts its pairs."""
        check_positive("signal_clips", signal_clips, strict=False, integer=True)
        val = self.scenes(self.val_scenes, derived_seed(seed, "validation"), 0)
        test = self.scenes(self.test_scenes, derived_seed(seed, "test"), 0)
        corrupted, keep = self.masked(test, generator(seed, "test"))
        if self.grouping != "motion" or patch_size is None or not signal_clips:
            return HeldOutScenes(val, test, corrupted, keep)
        clips, segments = segmented_clips(lambda n, start: self.clips(n, seed, start), signal_clips, patch_size)
        return HeldOutScenes(val, test, corrupted, keep, clips.frame(-1).images, segments)
