"""Embedded data: procedural part-whole scenes, scikit-learn's digits (images and videos),
a reader for local MNIST IDX files, and region masking for denoising."""

from .digits import Digits, load_digits, moving_digits, moving_images, split_indices
from .masking import mask_regions, masked_batch, region_mask
from .mnist import check_mnist_folder, load_mnist, read_idx, write_idx
from .scenes import KINDS, Scenes, column_labels, make_scenes

__all__ = [
    "Digits", "load_digits", "moving_digits", "moving_images", "split_indices", "mask_regions", "masked_batch", "region_mask",
    "check_mnist_folder", "load_mnist", "read_idx", "write_idx", "KINDS", "Scenes", "column_labels", "make_scenes",
]
