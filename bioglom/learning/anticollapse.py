"""Terms that keep a local rule's units apart: the Hebbian variance and the decorrelation
terms of latent predictive learning (LPL; Halvagal & Zenke, Nature Neuroscience 2023).

LPL is a temporal-derivative rule with two more local terms. For a unit ``i`` with output
``z_i``, running mean ``mu_i``, variance ``sigma_i^2`` and covariances ``C_ik`` over recent
inputs, its weights change by

    dW_ij ~ [ -(z_i(t) - z_i(t - dt))  +  l1 (z_i - mu_i) / sigma_i^2  -  l2 sum_{k != i} C_ik (z_k - mu_k) ] f'(a_i) x_j

The first term is the temporal derivative (bioglom's ``temporal_derivative`` rule); the
second is Hebbian and grows as the unit's variance shrinks (the gradient of ``-l1 sum_i
log sigma_i^2`` per sample), so a unit cannot settle on one value whatever its input; the
third is anti-Hebbian between units (the gradient of ``l2 / 4 sum_{i != k} C_ik^2`` per
sample), so units cannot all carry the same signal. Without the Hebbian term LPL falls to
chance with representation dimension 1, without decorrelation to dimension 1.09 (their
Fig. 2): the collapse of bioglom's local rules, whose teachers only pull.

Here a unit is one dimension of a student's vote (a column net's normalised output) at one
level and direction. Its statistics are taken, with ``per="level"``, over the columns and
images of the batch, or, with ``per="column"``, over the images only, each column's units
keeping their own (a column that gives every image the same vote has no variance then,
even when the columns differ from each other); with ``window > 1`` also over recent
batches by an exponential average with rate ``1 / window`` (:class:`UnitStatistics`). Every term is local to the unit and its level:
no credit crosses a column's nets or a settling step (the statistics are shared, as a
unit's running average of its own activity over the inputs it has seen is).
"""

from __future__ import annotations

import torch

__all__ = ["ANTICOLLAPSE_LEVELS", "ANTICOLLAPSE_OPTIONS", "STATS_PER", "UnitStatistics", "anticollapse_error"]

STATS_PER = ("level", "column")  # whose samples a unit's statistics run over
# the levels the terms act on: every level, the ungrouped ones only (where no segment pushes), or the
# variance term at the ungrouped levels and decorrelation at every level (it spreads the signal over
# more units without asking a segment's columns to differ)
ANTICOLLAPSE_LEVELS = ("all", "ungrouped", "decorrelate_all")
# the local rules' options that set the terms (bioglom.learning.local.LocalRule)
ANTICOLLAPSE_OPTIONS = ("variance_weight", "decorrelation_weight", "stats_window", "stats_per", "anticollapse_levels")


class UnitStatistics:
    """Running mean, variance and covariance of the units of each ``key`` (a direction),
    updated from a batch of votes ``z [b, g, n, d]`` by an exponential average with rate
    ``1 / window`` (``window = 1``: the batch's own statistics). With ``per="level"`` the
    samples are the images and columns, and the statistics ``[g, d]``, ``[g, d]`` and ``[g,
    d, d]``; with ``per="column"`` the images only, and ``[g, n, d]``, ``[g, n, d]`` and
    ``[g, n, d, d]``. Detached: statistics carry no credit. Saved with a checkpoint through
    :meth:`state_dict`, so a resumed run goes on with the same averages."""

    def __init__(self, window: int = 1, per: str = "level"):
        self.window = window
        self.per = per
        self.stats: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def update(self, key: str, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Fold the batch ``z [b, g, n, d]`` into the statistics of ``key`` and return them."""
        z = z.detach()
        b, g, n, d = z.shape
        if self.per == "column":
            rows = z.permute(1, 2, 0, 3)  # g n b d: each column's samples are its images
        else:
            rows = z.transpose(0, 1).reshape(g, b * n, d)  # g s d
        mean = rows.mean(-2)
        centred = rows - mean[..., None, :]
        cov = centred.transpose(-1, -2) @ centred / rows.shape[-2]  # g [n] d d
        old = self.stats.get(key)
        if old is not None and self.window > 1 and old[0].shape == mean.shape:
            old = tuple(t.to(z.device, z.dtype) for t in old)  # from a checkpoint read on the CPU
            rate = 1.0 / self.window
            # the running covariance about the running mean: E[(z - mu)(z - mu)^T] of the mixture
            new_mean = old[0] + rate * (mean - old[0])
            shift_old, shift_new = old[0] - new_mean, mean - new_mean
            cov = ((1 - rate) * (old[2] + shift_old[..., :, None] * shift_old[..., None, :])
                   + rate * (cov + shift_new[..., :, None] * shift_new[..., None, :]))
            mean = new_mean
        var = torch.diagonal(cov, dim1=-2, dim2=-1)
        self.stats[key] = (mean, var, cov)
        return mean, var, cov

    def state_dict(self) -> dict:
        return {"window": self.window, "stats": {k: tuple(t.cpu() for t in v) for k, v in self.stats.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.stats = {k: tuple(v) for k, v in state.get("stats", {}).items()}


def anticollapse_error(z: torch.Tensor, mean: torch.Tensor, var: torch.Tensor, cov: torch.Tensor,
                       variance_weight: float, decorrelation_weight: float, eps: float = 1e-4) -> torch.Tensor:
    """The LPL terms as an output error to descend (``[b, g, n, d]``, like ``z``):

        e_i = - l1 (z_i - mu_i) / (sigma_i^2 + eps)  +  l2 sum_{k != i} C_ik (z_k - mu_k)

    for votes ``z [b, g, n, d]`` and statistics per level (``mean, var [g, d]``, ``cov [g, d,
    d]``) or per column (``[g, n, d]``, ``[g, n, d]``, ``[g, n, d, d]``; :class:`UnitStatistics`);
    ``eps`` bounds the Hebbian term of a unit that has stopped varying."""
    per_level = mean.dim() == 2
    if per_level:  # the same statistics for every column
        mean, var = mean[:, None], var[:, None]
    centred = z.detach() - mean[None]
    err = torch.zeros_like(centred)
    if variance_weight > 0:
        err = err - variance_weight * centred / (var[None] + eps)
    if decorrelation_weight > 0:
        off = cov - torch.diag_embed(torch.diagonal(cov, dim1=-2, dim2=-1))  # g [n] d d, C_ik for k != i
        err = err + decorrelation_weight * torch.einsum("bgnk,gik->bgni" if per_level else "bgnk,gnik->bgni",
                                                        centred, off)
    return err
