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
- ``motion_segments`` (clips only): :func:`~bioglom.data.motion.motion_segments`.
"""

from __future__ import annotations

import torch

from ..components import grid_components, mask_components, renumber
from ..frontend import patchify

__all__ = ["BASELINES", "COLOUR_TOLERANCES", "foreground_components", "colour_components", "strongest"]

BASELINES = ("raw_pixels", "raw_tuned", "foreground_components", "colour_components")
COLOUR_TOLERANCES = (0.02, 0.05, 0.1, 0.2, 0.3)


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


def strongest(val_means: dict) -> str:
    """The baseline with the highest mean on validation scenes (``{name: mean}``); the
    claims compare with it on the test scenes, so the choice never sees the test set."""
    return max(val_means, key=lambda k: val_means[k])
