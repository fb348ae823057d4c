"""Embedded data: procedural part-whole scenes (still, and clips in which objects move),
motion segments from the pixels, scikit-learn's digits (images and videos), a reader for
local MNIST IDX files, and region masking for denoising."""

from .clips import Clips, make_moving_scenes
from .digits import Digits, load_digits, moving_digits, moving_images, split_indices
from .masking import (changed_fraction, fill_removed, mask_parts, mask_regions, mask_uniform, masked_batch, part_mask,
                      region_mask, uniform_regions)
from .motion import motion_batch, motion_layers, motion_segments
from .mnist import check_mnist_folder, digit_glyphs, idx_shape, load_mnist, mnist_sizes, read_idx, write_idx
from .scene_task import HeldOutScenes, SceneTask
from .scenes import KINDS, Scenes, column_labels, make_scenes, patch_majority
from .wholes import APPEARANCES, BASIC_KINDS, MASK_TOKEN, WHOLE_KINDS, appearance_kinds, column_kinds, make_whole_scenes

__all__ = [
    "Digits", "load_digits", "moving_digits", "moving_images", "split_indices", "mask_regions", "masked_batch", "region_mask",
    "changed_fraction", "fill_removed", "mask_parts", "part_mask", "APPEARANCES", "MASK_TOKEN", "WHOLE_KINDS", "BASIC_KINDS",
    "appearance_kinds", "column_kinds", "make_whole_scenes", "check_mnist_folder", "digit_glyphs", "idx_shape", "mnist_sizes", "load_mnist", "read_idx", "write_idx", "KINDS", "Scenes", "column_labels", "make_scenes",
    "SceneTask", "HeldOutScenes", "Clips", "make_moving_scenes", "mask_uniform", "uniform_regions", "motion_batch",
    "motion_layers", "motion_segments", "patch_majority",
]
