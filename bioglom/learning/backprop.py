"""The ``backprop`` rule: denoising through the whole settling process (BPTT), plus the
agreement regularisers of paper section 7. The non-plausible baseline of docs/design.md §5.

    loss = recon + agreement_weight * agree + negative_weight * separate

- ``recon``: mean squared error between the decoded last level-0 state and the clean
  image, from an input with regions removed (paper 7: the denoising objective). With
  ``recon="balanced"`` it is the mean error over removed pixels plus the mean over kept
  pixels, so filling in what was removed (which needs the whole) weighs as much as
  copying what was seen (as masked autoencoders weight the removed part).
- ``agree``: every bottom-up and top-down prediction at every step regresses toward the
  detached consensus it contributed to, ``||f(x_t) - sg(s_{t+1})||^2 / D`` (paper 7:
  "encouraging each of them to predict the consensus opinion").
- ``separate``: a hinge that pushes each prediction away from the consensus of an
  unrelated context, the same column and level of another image in the batch,
  ``max(0, margin - ||f(x_t) - sg(s'_{t+1})||^2 / D)``; zero once the two are separated
  by the margin (footnote 24: separation, not distance). Without it agreement collapses.
- ``contrast`` (``scene_contrast > 0``): scene-level contrast (paper 7: contrast makes
  sense between whole scenes, not between locations): the input as settled above and a
  random view of the clean scene (:func:`~bioglom.data.augment.augment`), their top
  levels averaged over columns, must each pick the other among the batch's views (NT-Xent
  at temperature ``contrast_temperature``). Label-free.
- ``grouped`` (``grouping > 0``): the island loss of
  :func:`~bioglom.learning.contrastive.island_supervision` against ``batch.groups``, a
  grouping computed from the input alone (motion segments: columns that move together
  are positives, columns that move differently negatives). Label-free: the label-trained
  control's loss with the input's own grouping in place of the ground truth.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from ..config import ConfigError, check_positive
from ..model import Glom, Trajectory
from .base import Batch, RuleOutput, register_rule
from .contrastive import check_phase, hinge, island_supervision, other_image, repulsion_weights, same_image_hinge

__all__ = ["BackpropRule", "agreement_terms", "reconstruction_error", "scene_contrast"]


NEGATIVES = ("other_image", "same_image", "both")
NEGATIVE_SCOPES = ("image", "outside_neighbourhood")
RECONS = ("pixels", "balanced")


def field_prediction(model: Glom, final: torch.Tensor) -> torch.Tensor:
    """The top level as a neural field over its island (paper 2.3, 3.4; label-free).

    Each column's settled top-level vector ``v_n``, with the location of every column ``m``
    it attends to, predicts the settled level below at ``m`` through the top-down net:
    ``sum_m sg(w_nm) ||f_td(v_n, pos_m) - sg(s[L-2, m])||^2 / D``, averaged over ``n``,
    where ``w_nm`` is the top level's attention at the last step (``beta_end``). A vector
    that must predict the parts of everything it attends to has to describe the whole —
    its kind and pose — and such a description is the same at every location of the whole.
    ``final [b, L, n, d]``; returns a scalar.
    """
    from ..attention import lateral_attention

    cfg = model.cfg
    top, below = final[:, -1], final[:, -2].detach()  # b n d
    b, n, d = top.shape
    _, w = lateral_attention(final[:, -1:].detach(), model.attention_mask[-1:], cfg.beta_end, cfg.similarity)  # b 1 n m
    pairs = top[:, :, None, :].expand(b, n, n, d).reshape(b * n, 1, n, d)  # (b n) 1 m d: v_n at every m
    pred = model.nets.top_down(pairs, slice(cfg.levels - 2, cfg.levels - 1)).mean
    err = ((pred.reshape(b, n, n, d) - below[:, None]) ** 2).sum(-1) / d  # b n m
    return (w[:, 0] * err).sum(-1).mean()


def scene_contrast(model: Glom, top: torch.Tensor, clean: torch.Tensor, steps: int,
                   generator: torch.Generator | None, temperature: float) -> torch.Tensor:
    """NT-Xent between two views of each scene: the settled top level ``top [b, n, d]`` of
    the input as the rule saw it, and that of a random view of the clean scene ``clean``
    (its last frame for a video), each averaged over columns. ``-log softmax`` of the
    partner's cosine / ``temperature`` among the batch's ``2 b`` views, averaged both ways.
    """
    from ..data.augment import augment

    still = clean[:, -1] if clean.dim() == 5 else clean
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    view = augment(still.cpu(), gen).to(still)
    other = model.settle(view, steps, generator=generator).final[:, -1]  # b n d
    z = torch.nn.functional.normalize(torch.cat([top, other]).mean(1), dim=-1)  # (2 b) d
    b = still.shape[0]
    logits = z @ z.T / temperature
    logits = logits.masked_fill(torch.eye(2 * b, dtype=torch.bool, device=z.device), float("-inf"))
    partner = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)]).to(z.device)
    return torch.nn.functional.cross_entropy(logits, partner)


def reconstruction_error(recon: torch.Tensor, clean: torch.Tensor, keep: torch.Tensor, kind: str = "pixels"):
    """``pixels``: ``mean((recon - clean)^2)``; ``balanced``: the mean of the squared error
    over removed pixels (``keep = 0``) plus its mean over kept pixels (``keep = 1``),
    keep-weighted so that a partly kept pixel counts in both."""
    err = (recon - clean) ** 2
    if kind == "pixels":
        return err.mean()
    kept = (err * keep).sum() / keep.sum().clamp_min(1e-8)
    removed = (err * (1 - keep)).sum() / (1 - keep).sum().clamp_min(1e-8)
    return kept + removed


def agreement_terms(traj: Trajectory, margin: float, negatives: str = "other_image",
                    beta: float = 12.0, outside: torch.Tensor | None = None,
                    pairs: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean positive agreement and negative hinge over steps, levels, columns and both directions.

    Positive: ``||f - sg(s_{t+1})||^2 / D``. Negative, by ``negatives``:
    ``other_image``: ``relu(margin - ||f - sg(roll_b(s_{t+1}))||^2 / D)`` where ``roll_b``
    pairs each sample with the next one in the batch (same column and level);
    ``same_image``: :func:`~bioglom.learning.contrastive.same_image_hinge` against the
    consensus at the other locations of the same image, weighted by how little the
    location attends to them (inverse temperature ``beta``), and only at locations where
    ``outside [L, N, N]`` is True when it is given; ``both``: the mean of the two. ``pairs
    [N, K]``: the same-image negatives of each location are its drawn pairs only
    (:mod:`~bioglom.learning.pairs`).
    The top level has no top-down prediction and is left out of the top-down terms.
    """
    target = traj.states[1:].detach()  # s b l n d
    other = other_image(target, dim=1)  # another image's consensus, same column and level
    d = target.shape[-1]
    preds = [traj.bottom_up, traj.top_down[:, :, :-1]]
    targets = [(target, other), (target[:, :, :-1], other[:, :, :-1])]
    pos, neg = [], []
    allowed = [None, None] if outside is None else [outside, outside[:-1]]  # l n m per direction
    repel = [None, None]
    if negatives in ("same_image", "both"):  # the top-down targets are levels 0..L-2 of the same states
        v = repulsion_weights(target, beta, pairs)  # s b l n m (n k with drawn pairs)
        repel = [v, v[:, :, :-1]]
    for f, (t, o), a, r in zip(preds, targets, allowed, repel):  # two directions, not columns
        pos.append(((f - t) ** 2).sum(-1).flatten() / d)
        terms = []
        if negatives in ("other_image", "both"):
            terms.append(hinge(f, o, margin).flatten())
        if negatives in ("same_image", "both"):
            terms.append(same_image_hinge(f, t, margin, beta, a, r, pairs).flatten())
        neg.append(torch.stack(terms).mean(0))
    return torch.cat(pos).mean(), torch.cat(neg).mean()


@register_rule("backprop")
@dataclass
class BackpropRule:
    """Options: ``steps`` settling steps; ``agreement_weight`` and ``negative_weight`` of
    the regularisers; ``margin`` of the negative hinge (squared distance per dimension;
    two independent layer-normed vectors are about 2 apart); ``negatives``: where the
    negatives come from (``other_image``, ``same_image``, ``both``; see
    :func:`agreement_terms`) and ``negative_beta`` the inverse temperature that weights
    same-image negatives; ``negative_scope``: same-image negatives from the whole
    ``image``, or only ``outside_neighbourhood``, beyond the level's attention window (the
    scale at which it forms islands). Ground-truth labels never enter, unless
    ``supervision > 0``: the label-trained control, which adds ``supervision`` times
    :func:`~bioglom.learning.contrastive.island_supervision` of the settled state against
    ``batch.labels`` (every level's ground-truth islands) and needs them. ``grouping > 0``
    adds ``grouping`` times the same loss against ``batch.groups``, a grouping computed
    from the input alone (label-free). ``recon``: how the reconstruction error is averaged
    (:func:`reconstruction_error`). ``pair_sample``: 0 compares each column with every other
    column of its image in the same-image negatives and the island losses (``[..., N, N]``
    pair tensors); ``K > 0`` with ``K`` others drawn anew each update
    (:mod:`~bioglom.learning.pairs`), O(N K) memory, for large grids."""

    steps: int = 6
    agreement_weight: float = 0.1
    negative_weight: float = 0.1
    margin: float = 1.0
    negatives: str = "other_image"
    negative_beta: float = 12.0
    negative_scope: str = "image"
    supervision: float = 0.0
    recon: str = "pixels"
    field_weight: float = 0.0
    grouping: float = 0.0
    scene_contrast: float = 0.0
    contrast_temperature: float = 0.1
    pair_sample: int = 0

    def __post_init__(self):
        from ..config import check_choice

        check_choice("negatives", self.negatives, NEGATIVES)
        check_choice("negative_scope", self.negative_scope, NEGATIVE_SCOPES)
        check_choice("recon", self.recon, RECONS)
        check_positive("negative_beta", self.negative_beta)
        check_positive("steps", self.steps, integer=True)
        check_positive("agreement_weight", self.agreement_weight, strict=False)
        check_positive("negative_weight", self.negative_weight, strict=False)
        check_positive("margin", self.margin, strict=False)
        check_positive("supervision", self.supervision, strict=False)
        check_positive("field_weight", self.field_weight, strict=False)
        check_positive("grouping", self.grouping, strict=False)
        check_positive("scene_contrast", self.scene_contrast, strict=False)
        check_positive("contrast_temperature", self.contrast_temperature)
        check_positive("pair_sample", self.pair_sample, integer=True, strict=False)

    def options(self) -> dict:
        return asdict(self)

    def loss(self, model: Glom, batch: Batch, generator: torch.Generator | None = None,
             phase: str = "both") -> RuleOutput:
        """The loss (with its autograd graph through every settling step). ``phase``
        "positive" keeps ``recon + agreement_weight * agree``, "negative" keeps
        ``negative_weight * separate``, "both" their sum."""
        check_phase(phase)
        if self.supervision > 0 and batch.labels is None:
            raise ConfigError(f"supervision={self.supervision!r} needs batch.labels (the columns' ground-truth "
                              "islands); this batch has none. Use supervision=0 for label-free training")
        if self.grouping > 0 and batch.groups is None:
            raise ConfigError(f"grouping={self.grouping!r} needs batch.groups (which columns should agree, from the "
                              "input: motion segments of a clip); this batch has none. Use grouping=0 without one")
        if self.pair_sample:
            from .pairs import check_pair_sample

            check_pair_sample(self.pair_sample, model.cfg.n_columns)
        traj = model.settle(batch.corrupted, self.steps, generator=generator)
        pairs = None
        if self.pair_sample:  # drawn after settling, so the settling is the one every pair would see
            from .pairs import draw_pairs

            pairs = draw_pairs(model.cfg.n_columns, self.pair_sample, generator, traj.states.device)
        recon = model.decode(traj.final[:, 0])
        clean, keep = batch.clean, batch.keep.expand_as(batch.clean)
        if clean.dim() == 5:  # video: the last frame is the target
            clean, keep = clean[:, -1], keep[:, -1]
        clean, keep = model.retinal(clean), model.retinal(keep.to(clean))
        recon_loss = reconstruction_error(recon, clean, keep, self.recon)
        outside = ~model.attention_mask if self.negative_scope == "outside_neighbourhood" else None
        agree, separate = agreement_terms(traj, self.margin, self.negatives, self.negative_beta, outside, pairs)
        positive = {"recon": (1.0, recon_loss), "agree": (self.agreement_weight, agree)}
        if self.field_weight > 0:
            positive["field"] = (self.field_weight, field_prediction(model, traj.final))
        if self.supervision > 0:
            positive["supervised"] = (self.supervision,
                                      island_supervision(traj.final, batch.labels, self.negative_beta, pairs).mean())
        if self.scene_contrast > 0:
            positive["contrast"] = (self.scene_contrast, scene_contrast(model, traj.final[:, -1], batch.clean, self.steps,
                                                                        generator, self.contrast_temperature))
        if self.grouping > 0:
            positive["grouped"] = (self.grouping, island_supervision(traj.final, batch.groups, self.negative_beta, pairs).mean())
        loss = torch.zeros((), device=recon.device)
        if phase != "negative":
            loss = loss + sum(w * term for w, term in positive.values())
        if phase != "positive":
            loss = loss + self.negative_weight * separate
        metrics = {"loss": loss.item(), **{k: term.item() for k, (_, term) in positive.items()},
                   "separate": separate.item()}
        return RuleOutput(loss, metrics, traj)

    def accumulate(self, model: Glom, batch: Batch, generator: torch.Generator | None = None,
                   phase: str = "both") -> RuleOutput:
        """Backpropagate :meth:`loss` through the whole settling process into ``.grad``."""
        out = self.loss(model, batch, generator, phase)
        if torch.isfinite(out.loss):
            out.loss.backward()
        return RuleOutput(out.loss.detach(), out.metrics, out.trajectory)
