"""Does settling matter? What each contribution weighs in the consensus, and the same model
with its lateral term switched off (claim I5, docs/claims.md).

A model can learn not to settle: with a large learned bottom-up precision the consensus is
almost the bottom-up prediction, and lateral attention, the only place where columns
agree, changes nothing. Two measures show it:

- :func:`consensus_shares`: the share of each of the four contributions (bottom-up,
  top-down, previous, lateral) in the consensus, per level: the effective weight
  ``a_i(t) pi_i / sum_j a_j(t) pi_j`` (docs/design.md §3; ``pi = 1`` for the weighted
  mean) averaged over settling steps, samples, columns and dimensions;
- :func:`without_lateral`: the same model, sharing its weights, whose lateral weight is 0
  at every step, to settle beside the normal one.

And where the separation of objects comes from: :func:`bottom_up_votes`, each level's
bottom-up vote at the first and the last settling step. A vote at the last step that
separates objects more than at the first was given its separation by settling (the level
below it carries what the lateral and top-down terms brought); one that does not, only by
the bottom-up pass.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from ..consensus import CONTRIBUTIONS, consensus_weights

__all__ = ["bottom_up_votes", "consensus_shares", "without_lateral"]


@torch.no_grad()
def consensus_shares(model, images: torch.Tensor, steps: int, batch: int = 128) -> np.ndarray:
    """``[L, 4]`` share of each contribution (order of ``consensus.CONTRIBUTIONS``) in the
    consensus of every level, averaged over ``steps`` settling steps, the ``images``,
    their columns and dimensions (module docstring). Rows sum to 1."""
    cfg = model.cfg
    total, count = torch.zeros(cfg.levels, len(CONTRIBUTIONS), dtype=torch.float64), 0
    model.eval()
    for i in range(0, len(images), batch):
        traj = model.settle(images[i:i + batch].to(model.device), steps)
        for t in range(steps):  # settling steps, not columns
            a = consensus_weights(cfg, t, steps).to(model.device, torch.float64)  # i l
            w = a[:, None, :, None, None].expand(-1, *traj.states.shape[1:]).clone()  # i b l n d
            if traj.bu_log_precision is not None:
                w[0] = w[0] * traj.bu_log_precision[t].double().exp()
                w[1] = w[1] * traj.td_log_precision[t].double().exp()
            share = w / w.sum(0, keepdim=True)
            total += share.sum((1, 3, 4)).transpose(0, 1).cpu()  # l i
        count += traj.states.shape[1] * steps * traj.states.shape[3] * traj.states.shape[4]
    return (total / count).numpy()


def without_lateral(model):
    """A shallow copy of ``model`` that shares its weights and whose consensus gives the
    lateral term weight 0 at every settling step (both ends of the schedule)."""
    cfg = model.cfg
    twin = copy.copy(model)  # nn.Module's parameter dicts are shared, only cfg is replaced
    i = CONTRIBUTIONS.index("lateral")
    start, end = list(cfg.weights_start), list(cfg.weights_end)
    start[i] = end[i] = 0.0
    twin.cfg = cfg.replace(weights_start=tuple(start), weights_end=tuple(end))
    return twin


@torch.no_grad()
def bottom_up_votes(model, images: torch.Tensor, steps: int, batch: int = 128) -> torch.Tensor:
    """``[2, b, L, N, D]``: every level's bottom-up vote ``bottom_up(s_t[l-1])`` (paper 3.4)
    at the first settling step (``t = 0``) and at the last (``t = steps - 1``) of ``images``,
    on the CPU."""
    model.eval()
    out = []

    def keep(rec) -> None:  # only two steps are kept: memory does not grow with the steps
        if rec.step in (0, steps - 1):
            kept.append(rec.contributions.bottom_up.cpu())

    for i in range(0, len(images), batch):
        kept = []
        model.settle(images[i:i + batch].to(model.device), steps, on_step=keep, record=False)
        out.append(torch.stack([kept[0], kept[-1]]))
    return torch.cat(out, 1)
