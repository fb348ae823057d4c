"""Model-free baselines for islands: what grouping columns needs no model at all.

A quality claim is stated against the *strongest* of these, measured in the same run
(docs/claims.md, "How a verdict is reached"), so that a number a model-free method
reaches cannot pass. Each returns column labels ``[B, N]`` to be scored like islands.

- ``raw_pixels``: columns grouped by identical input patches
  (:func:`~bioglom.analysis.islands.raw_pixel_islands`);
- ``raw_tuned``: raw patches through the same cosine-threshold islands as the model's
  states, threshold chosen on validation scenes;
- ``foreground_components``: the 4-connected components of the foreground columns,
  colour-agnostic. Scored over the foreground, it is perfect wherever objects are apart
  and fails only where they touch. It reads the ground-truth foreground, which the
  foreground ARI conditions on anyway;
- ``colour_components``: 4-connected components of columns whose mean colours agree
  within ``tol`` (the largest channel difference), tolerance chosen on validation;
- ``position_blocks``: the column grid cut into fixed square blocks of ``side`` columns,
  the same islands in every image whatever it shows, side chosen on validation scenes. It
  reads nothing of the image: it scores what the layout of the scenes gives away (on the
  16 px scenes of familiar kinds, blocks of 4 x 4 columns reach foreground ARI 0.64
  against objects, above connected components of the foreground), and it is what a model
  whose columns output the same vector whatever the input can reach;
- ``position_kmeans`` and ``colour_position_kmeans``: k-means of each image's foreground
  columns on their position, or on mean colour and position alike, clusters per image
  chosen on validation (:func:`~bioglom.analysis.pair_statistics.colour_position_kmeans`).
  Position alone is the stronger on the 16 px scenes (two clusters: validation ARI 0.74
  for seed 0, where colour and position reach 0.27: colour splits objects into parts);
- ``motion_pairs``, the same-signal baseline, where the run trains on clips:
  ``P(same motion segment | appearance of two adjacent columns, direction)`` counted from
  the training clips' motion segments, islands the foreground components left after
  cutting unlikely edges, threshold chosen on validation
  (:mod:`~bioglom.analysis.pair_statistics`). It is given the model's training signal
  and no model, so a claim that it meets says nothing about GLOM;
- ``motion_segments`` (clips only): :func:`~bioglom.data.motion.motion_segments`.
"""

from __future__ import annotations

import torch

from ..components import grid_components, mask_components, renumber
from ..frontend import patchify

__all__ = ["BASELINES", "COLOUR_TOLERANCES", "BLOCK_SIDES", "foreground_components", "colour_components",
           "position_blocks", "strongest"]

BASELINES = ("raw_pixels", "raw_tuned", "foreground_components", "colour_components", "position_blocks",
             "position_kmeans", "colour_position_kmeans", "motion_pairs")  # motion_pairs only where a run has training clips
COLOUR_TOLERANCES = (0.02, 0.05, 0.1, 0.2, 0.3)
BLOCK_SIDES = (2, 3, 4, 5, 6, 8)  # columns per side of a position block, chosen on validation


def foreground_components(foreground: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """4-connected components of the foreground columns: ``foreground [B, N]`` (bool) ->
    ``[B, N]`` ids, 0 for background columns, ``1, 2, ...`` per component."""
    h, w = grid
    comp = mask_components(foreground.reshape(-1, h, w)).reshape(foreground.shape)
    return renumber(comp, keep_zero=True)


def colour_components(images: torch.Tensor, patch_size: int, tol: float) -> torch.Tensor:
    """4-connected components of columns whose mean patch colours differ by at most ``tol``
    in every channel: ``images [B, C, H, W]`` -> ``[B, N]`` ids (every column in some
    component)."""
    b, c, hh, ww = images.shape
    h, w = hh // patch_size, ww // patch_size
    colour = patchify(images, patch_size).reshape(b, h * w, c, -1).mean(-1).reshape(b, h, w, c)  # b h w c
    right = (colour[:, :, 1:] - colour[:, :, :-1]).abs().amax(-1) <= tol
    down = (colour[:, 1:] - colour[:, :-1]).abs().amax(-1) <= tol
    comp = grid_components(torch.ones(b, h, w, dtype=torch.bool, device=images.device), right, down)
    return renumber(comp.reshape(b, h * w))


def position_blocks(grid: tuple[int, int], side: int, count: int = 1) -> torch.Tensor:
    """The grid ``(H, W)`` cut into square blocks of ``side`` columns (the last row and column
    of blocks may be smaller): ``[count, N]`` ids ``(y // side) * ceil(W / side) + x //
    side``, the same for every image."""
    h, w = grid
    y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    ids = (y // side) * -(-w // side) + x // side
    return ids.reshape(1, h * w).expand(count, -1)


def strongest(val_means: dict) -> str:
    """The baseline with the highest mean on validation scenes (``{name: mean}``); the
    claims compare with it on the test scenes, so the choice never sees the test set."""
    return max(val_means, key=lambda k: val_means[k])
