"""The same-signal baseline: what the training signal alone says about grouping, no GLOM.

The islands model learns which columns agree from the motion segments of its training
clips. A baseline given the same signal and no model: count, over the adjacent column
pairs of the training clips' last frames, how often two columns of given appearances in
a given direction lie in the same motion segment,

    P(same | a, b, direction) = (same(a, b, direction) + 1) / (pairs(a, b, direction) + 2),

(Laplace's rule, so an unseen pair reads 1/2), where ``a`` and ``b`` are the columns'
*appearance codes*: the mean colour of the column's patch, each channel cut into ``bins``
equal levels of [0, 1]. On a new image, the foreground edges whose probability is below a
threshold (chosen on validation scenes) are cut and the remaining 4-connected components
are its islands. It reads the ground-truth foreground, as the foreground ARI and
``foreground_components`` do, and no label: the counts come from the pixels of the
training clips and their motion segments (:func:`~bioglom.data.motion.motion_segments`).

Also here: :func:`colour_position_kmeans`, k-means of each image's foreground columns on
their mean colour and position (or position alone), a grouping by appearance and place
with no training.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..components import grid_components, renumber
from ..config import ConfigError, check_positive
from ..frontend import patchify

__all__ = ["PairTable", "PAIR_THRESHOLDS", "KMEANS_CLUSTERS", "appearance_codes", "count_pairs", "pair_islands",
           "colour_position_kmeans"]

PAIR_THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
KMEANS_CLUSTERS = (2, 3, 4, 5, 6)  # clusters per image, chosen on validation


def _column_colours(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Mean colour of each column's patch: ``images [B, C, H, W]`` -> ``[B, N, C]``."""
    b, c = images.shape[:2]
    return patchify(images, patch_size).reshape(b, -1, c, patch_size * patch_size).mean(-1)


def appearance_codes(images: torch.Tensor, patch_size: int, bins: int) -> torch.Tensor:
    """Each column's appearance code, ``[B, N]`` int64 in ``[0, bins ** C)``: its patch's
    mean colour, every channel clamped to [0, 1] and cut into ``bins`` equal levels."""
    if bins < 1:
        raise ConfigError(f"bins={bins!r} is not allowed; it must be a positive integer")
    colour = _column_colours(images, patch_size).clamp(0, 1)  # b n c
    level = (colour * bins).long().clamp(max=bins - 1)
    weights = bins ** torch.arange(colour.shape[-1], device=images.device)
    return (level * weights).sum(-1)


def _edges(codes: torch.Tensor, grid: tuple[int, int]):
    """The appearance codes at both ends of every right and down edge of the grid:
    ``(right_a, right_b, down_a, down_b)``, ``[B, H, W - 1]`` and ``[B, H - 1, W]``."""
    h, w = grid
    c = codes.reshape(-1, h, w)
    return c[:, :, :-1], c[:, :, 1:], c[:, :-1], c[:, 1:]


@dataclass
class PairTable:
    """Counts of adjacent column pairs, ``pairs`` and ``same`` ``[2, K, K]`` (direction:
    0 right, 1 down; first column's code; second column's code), from motion segments."""

    pairs: torch.Tensor
    same: torch.Tensor
    bins: int
    patch_size: int

    def probability(self) -> torch.Tensor:
        """``P(same | a, b, direction)``, Laplace-smoothed, ``[2, K, K]`` float64."""
        return (self.same.double() + 1) / (self.pairs.double() + 2)


def count_pairs(images: torch.Tensor, segments: torch.Tensor, grid: tuple[int, int], patch_size: int,
                bins: int = 4) -> PairTable:
    """Count the adjacent column pairs of ``images [B, C, H, W]`` (the frames whose motion
    segments ``segments [B, N]`` were read; 0: static) in which both columns move, and how
    many of them share a segment, by appearance codes and direction."""
    h, w = grid
    if segments.shape != (images.shape[0], h * w):
        raise ConfigError(f"segments of shape {tuple(segments.shape)} are not allowed; they must be "
                          f"[{images.shape[0]}, {h * w}] (one id per column of every image)")
    k = bins ** images.shape[1]
    codes = appearance_codes(images, patch_size, bins)
    seg = segments.reshape(-1, h, w)
    pairs = torch.zeros(2, k * k, dtype=torch.long)
    same = torch.zeros(2, k * k, dtype=torch.long)
    ends = _edges(codes, grid)
    for d, (a, b, sa, sb) in enumerate(((ends[0], ends[1], seg[:, :, :-1], seg[:, :, 1:]),
                                        (ends[2], ends[3], seg[:, :-1], seg[:, 1:]))):  # two directions
        moving = (sa > 0) & (sb > 0)
        index = (a * k + b)[moving].cpu()
        pairs[d] += torch.bincount(index, minlength=k * k)
        same[d] += torch.bincount(index[(sa == sb)[moving].cpu()], minlength=k * k)
    return PairTable(pairs.reshape(2, k, k), same.reshape(2, k, k), bins, patch_size)


def pair_islands(images: torch.Tensor, foreground: torch.Tensor, table: PairTable, threshold: float,
                 grid: tuple[int, int]) -> torch.Tensor:
    """Islands of the same-signal baseline: the 4-connected components of the foreground
    columns ``foreground [B, N]`` after cutting every edge whose ``P(same | a, b,
    direction)`` is below ``threshold``. Returns ``[B, N]`` ids, 0 for background."""
    h, w = grid
    prob = table.probability().to(images.device)
    ra, rb, da, db = _edges(appearance_codes(images, table.patch_size, table.bins), grid)
    right = prob[0][ra, rb] >= threshold
    down = prob[1][da, db] >= threshold
    comp = grid_components(foreground.reshape(-1, h, w), right, down)
    return renumber(comp.reshape(foreground.shape), keep_zero=True)


def colour_position_kmeans(images: torch.Tensor, foreground: torch.Tensor, patch_size: int, grid: tuple[int, int],
                           clusters: int, colour_weight: float = 1.0, iterations: int = 10) -> torch.Tensor:
    """k-means of each image's foreground columns on ``[colour_weight x mean colour, y / H,
    x / W]`` (``colour_weight`` 0: position alone), ``clusters`` per image, from
    farthest-point starts (deterministic), ``iterations`` Lloyd steps. Returns ``[B, N]``
    ids, 0 for background, clusters ``1..clusters``."""
    check_positive("clusters", clusters, integer=True)
    check_positive("iterations", iterations, strict=False, integer=True)
    h, w = grid
    b, n = foreground.shape
    y, x = torch.meshgrid(torch.arange(h, device=images.device) / h, torch.arange(w, device=images.device) / w,
                          indexing="ij")
    place = torch.stack([y, x], -1).reshape(1, n, 2).expand(b, n, 2)
    feats = torch.cat([colour_weight * _column_colours(images, patch_size), place], -1).double()  # b n f
    fg = foreground.bool()
    # farthest-point starts: the foreground column farthest from the foreground mean, then
    # each next one farthest from the centres chosen so far
    mean = (feats * fg[..., None]).sum(1, keepdim=True) / fg.sum(1, keepdim=True).clamp(min=1)[..., None]
    dist = ((feats - mean) ** 2).sum(-1)
    centres = []
    for i in range(clusters):  # a few centres, not columns
        pick = torch.where(fg, dist, -1.0).argmax(1)
        c = feats[torch.arange(b), pick]  # b f
        centres.append(c)
        to_c = ((feats - c[:, None]) ** 2).sum(-1)
        dist = to_c if i == 0 else torch.minimum(dist, to_c)
    centres = torch.stack(centres, 1)  # b k f
    for _ in range(iterations):  # Lloyd steps
        assign = torch.cdist(feats, centres).argmin(-1)  # b n
        onehot = torch.nn.functional.one_hot(assign, clusters).double() * fg[..., None]  # b n k
        count = onehot.sum(1)  # b k
        moved = onehot.transpose(1, 2) @ feats / count.clamp(min=1)[..., None]
        centres = torch.where(count[..., None] > 0, moved, centres)
    assign = torch.cdist(feats, centres).argmin(-1) + 1
    return renumber(torch.where(fg, assign, 0), keep_zero=True)
