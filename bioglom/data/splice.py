"""Scenes spliced from two scenes: the offline negatives of the island term (paper 12.2).

In a sleep phase the island teacher has no positives to learn from, but it can learn its
negatives: which columns must *not* agree. A spliced scene supplies them without a label.
Scene ``i`` of a batch receives, at every column that its partner scene ``j = i - 1``
(the batch rolled by one) groups at the top level (``groups[j, -1] > 0``: a motion
segment, an object that moved), the partner's pixels there; every other column keeps its
own. The grouping follows the pixels: a column that came from scene ``j`` takes ``j``'s
segment id shifted past every id of scene ``i`` at that level, so segments from the two
scenes never share an id (an object of ``j`` pasted over an object of ``i`` hides part of
it, as occlusion does). The seams between the scenes are where the island term's push acts.

Only the images and the grouping computed from them enter; no ground-truth label does.
"""

from __future__ import annotations

import torch

from ..config import ConfigError

__all__ = ["splice_segments"]


def splice_segments(images: torch.Tensor, groups: torch.Tensor, patch_size: int, grid: tuple[int, int],
                    *others: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Splice each scene of a batch with its partner (module docstring).

    ``images [B, C, H, W]`` and ``groups [B, L, N]`` (``N = grid[0] * grid[1]`` columns of
    ``patch_size`` pixels a side; 0: no segment); ``others``: more ``[B, C', H, W]`` tensors
    spliced at the same pixels (the clean image, the keep mask). Returns ``(images, groups,
    *others)`` spliced; the inputs are not modified. A batch of one scene is its own
    partner and comes back unchanged."""
    if images.dim() != 4 or groups.dim() != 3 or groups.shape[0] != images.shape[0]:
        raise ConfigError(f"images of shape {tuple(images.shape)} and groups of shape {tuple(groups.shape)} are not "
                          "allowed; splicing takes still images [B, C, H, W] and groups [B, L, N] of the same batch")
    h, w = grid
    if groups.shape[-1] != h * w or images.shape[-2:] != (h * patch_size, w * patch_size):
        raise ConfigError(f"groups of {groups.shape[-1]} columns and images of {tuple(images.shape[-2:])} pixels do "
                          f"not match grid={tuple(grid)} with patch_size={patch_size}")
    if len(images) == 1:
        return (images, groups, *others)
    partner_groups = groups.roll(1, 0)  # scene i is spliced with scene i - 1
    taken = partner_groups[:, -1] > 0  # b n: the partner's top-level segments
    pixels = taken.view(-1, 1, h, w).repeat_interleave(patch_size, 2).repeat_interleave(patch_size, 3)  # b 1 H W

    def spliced(x: torch.Tensor) -> torch.Tensor:
        return torch.where(pixels, x.roll(1, 0), x)

    shift = groups.amax(-1, keepdim=True)  # b l 1: every id of scene i at that level lies below
    pasted = torch.where(partner_groups > 0, partner_groups + shift, torch.zeros_like(partner_groups))
    new_groups = torch.where(taken[:, None], pasted, groups)
    return (spliced(images), new_groups, *(spliced(x) for x in others))
