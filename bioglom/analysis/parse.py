"""Measures of the parse beyond ARI: island sizes, pair similarities, wholes and filling-in.

Each is computed per scene, so that :func:`bioglom.analysis.verdicts.interval` can
resample scenes (and seeds) for its interval.
"""

from __future__ import annotations

import torch

from .metrics import linear_probe

__all__ = ["PAIR_KINDS", "foreground_island_size", "pair_similarity", "kind_probe", "masked_error"]

PAIR_KINDS = ("same_part", "same_object", "other_object")


def foreground_island_size(islands: torch.Tensor, foreground: torch.Tensor) -> torch.Tensor:
    """Mean size (in columns) of the island that holds a foreground column.

    ``islands [..., N]`` ids, ``foreground [..., N]`` bool (broadcastable). For each
    foreground column ``n``, ``size_n = #{m : islands_m = islands_n}`` (every column counts,
    background too); the result is ``mean_n size_n`` over foreground columns, ``[...]``,
    NaN where a scene has no foreground.
    """
    ids = islands.long() - islands.amin(-1, keepdim=True)  # 0.. per row, so counts need no [N, N] pairs
    count = torch.zeros(*ids.shape[:-1], int(ids.max()) + 1 if ids.numel() else 1, dtype=torch.long,
                        device=ids.device).scatter_add_(-1, ids, torch.ones_like(ids))
    size = count.gather(-1, ids).double()  # ... n: #{m : islands_m = islands_n}
    fg = foreground.expand(islands.shape).double()
    return (size * fg).sum(-1) / fg.sum(-1)  # NaN (0/0) without foreground


def pair_similarity(state: torch.Tensor, parts: torch.Tensor, objects: torch.Tensor, similarity: str = "cosine"):
    """Mean attention similarity between foreground column pairs, by how they relate in the parse.

    ``state [b, l, n, d]``; ``parts, objects [b, n]`` ground-truth ids (0 background).
    Returns ``[b, l, 3]``: the mean of ``sim(s_n, s_m)`` (as lateral attention computes it,
    before ``beta``) over pairs ``n != m`` of foreground columns in the same part, in the
    same object but another part, and in different objects (:data:`PAIR_KINDS`); NaN
    where a scene has no such pair. Labels only measure here; they never train.
    """
    from .islands import pair_rows

    b, L, n = state.shape[:3]
    step = pair_rows(b, L * n * n)  # scenes a chunk at a time: each scene's pairs are its own
    return torch.cat([_pair_similarity(state[i:i + step], parts[i:i + step], objects[i:i + step], similarity)
                      for i in range(0, b, step)]) if b else state.new_zeros(0, L, len(PAIR_KINDS))


def _pair_similarity(state, parts, objects, similarity):
    from ..attention import similarity_logits

    sim = similarity_logits(state, similarity)  # b l n m
    fg = (objects > 0)
    both = fg[:, :, None] & fg[:, None, :]
    both &= ~torch.eye(fg.shape[1], dtype=torch.bool, device=fg.device)
    same_obj = objects[:, :, None] == objects[:, None, :]
    same_part = parts[:, :, None] == parts[:, None, :]
    kinds = [both & same_part, both & same_obj & ~same_part, both & ~same_obj]  # each b n m
    out = []
    for k in kinds:  # three pair kinds, not columns
        w = k[:, None].to(sim.dtype)
        out.append((sim * w).sum((-1, -2)) / w.sum((-1, -2)))
    return torch.stack(out, -1)


def kind_probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
               test_scene: torch.Tensor, scenes: int) -> torch.Tensor:
    """Per-scene accuracy of a linear probe of the object kind from single columns.

    Fits :func:`~bioglom.analysis.metrics.linear_probe`'s read-out on foreground columns
    of training scenes (``train_x [n, d]``, kinds ``train_y [n]``) and scores the test
    columns; ``test_scene [m]`` says which of ``scenes`` test scenes each column is from.
    Returns ``[scenes]`` accuracies (NaN for a scene without foreground).
    """
    correct = linear_probe(train_x, train_y, test_x, test_y, return_correct=True)
    total = torch.zeros(scenes, dtype=torch.float64).index_add_(0, test_scene.cpu(), torch.ones(len(test_scene), dtype=torch.float64))
    hits = torch.zeros(scenes, dtype=torch.float64).index_add_(0, test_scene.cpu(), correct.double())
    return hits / total


def masked_error(recon: torch.Tensor, clean: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the removed pixels, per image: ``[B]``.

    ``recon, clean [B, C, H, W]``; ``keep [B, 1, H, W]`` (0 where removed). NaN for an
    image with nothing removed.
    """
    removed = (1 - keep).expand_as(clean).double()
    return (((recon.double() - clean.double()) ** 2) * removed).sum((1, 2, 3)) / removed.sum((1, 2, 3))
