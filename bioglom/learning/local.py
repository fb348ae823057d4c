"""The local rules of docs/design.md §5: ``delta`` and ``temporal_derivative`` (paper 7, 12.1, 12.3).

Each rule settles the model with the state detached at every step (no gradient crosses a
step or a column) and, one step at a time, gives every student net (the bottom-up and
top-down net of every level, in every column) an output error ``e``:

- ``delta``: ``e = f(x_t) - sg(s*_{t+1})``, the gradient of ``1/2 ||f(x_t) - sg(s*_{t+1})||^2``:
  the student regresses toward the teacher ``s*``;
- ``temporal_derivative``: ``e = -(s*_{t+1} - s_t)``, so the output weights change by
  presynaptic activity times the temporal derivative of the post-synaptic embedding
  (paper 12.3): the gradient of the surrogate ``-<sg(s*_{t+1} - s_t), f(x_t)>``. It equals
  the delta error exactly where ``s_t = f(x_t)``.

Here ``f(x_t)`` is the student's vote as it enters the level: its net output after the
level's normalisation (``cfg.norm``; per vector, so still local to the column), and the
errors above reach the net output through that normalisation's Jacobian. This is a
choice the design leaves open; without it the temporal-derivative rule shrinks the
temporal derivative by inflating the raw outputs until they dominate the consensus (in a
scratch run on small scenes, mean ``||f - s*||^2 / D`` rose from 0.55 to 65 in 300
updates), and the two rules compare vectors of different scales. With ``norm="none"`` it
is the formula of docs/design.md §5 as written.

The teacher ``s*`` is the consensus ``s_{t+1}`` (``teacher="full"``: co-distillation, as
it mixes in other columns' embeddings through lateral attention, paper 12.1), the
consensus recomputed without the lateral term (``teacher="no_lateral"``: no knowledge
passes between columns), or the consensus averaged over the columns that a label-free
grouping of the input names as one segment (``teacher="segment"``, :func:`segment_mean`
of ``batch.groups``, e.g. the motion segments of a clip; paper 7: a location "needs to
decide which other locations its level-L embedding should be similar to"). Hidden layers
learn by ``hidden_credit`` (:mod:`.credit`).

Negative learning (``phase`` "negative" or "both") adds ``negative_weight`` times the
gradient of a hinge (:mod:`.contrastive`) pushing each prediction away from the
embedding of an unrelated context at the same column and level: another image's
consensus at the same step (``negative="other_image"``), or the settled state of the
frame ``near_gap`` frames earlier in the same video (``negative="near_frame"``; frames
before the gap have no negative).

The front end and decoder learn as a local autoencoder (``frontend="autoencoder"``): the
decoder reconstructs the image from the detached last level-0 state and from the front
end's own output, and the encoder learns only through the latter; or they stay fixed.

Each step's update is accumulated into ``.grad`` right after the step, and only the last
state is kept, so memory does not grow with the number of settling steps.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch.nn.functional import mse_loss

from ..config import ConfigError, check_between, check_bool, check_choice, check_positive, check_seed
from ..consensus import combine, normalise
from ..model import Glom, StepRecord
from ..seeding import derived_seed
from .base import Batch, NonFiniteError, RuleOutput, register_rule
from .contrastive import check_phase, hinge, hinge_error, hinge_terms, other_image
from .anticollapse import ANTICOLLAPSE_LEVELS, STATS_PER, UnitStatistics, anticollapse_error
from .credit import HIDDEN_CREDITS, add_update, feedback_matrix, group_cosine, local_update, output_update
from .island_target import ISLAND_FORMS, ISLAND_STEPS, island_targets, segment_mean


def vote(raw: torch.Tensor, kind: str, eps: float = 1e-5) -> tuple[torch.Tensor, tuple | None]:
    """A student's vote ``y = normalise(raw)`` (:func:`~bioglom.consensus.normalise`) and,
    for ``layer``, the mean and ``1 / sigma`` per vector, which :func:`through_norm` reuses."""
    if kind == "layer":
        y, mean, inv_sigma = torch.native_layer_norm(raw, raw.shape[-1:], None, None, eps)
        return y, (mean, inv_sigma)
    return normalise(raw, kind, eps), None


def through_norm(raw: torch.Tensor, error: torch.Tensor, kind: str, eps: float = 1e-5,
                 voted: tuple[torch.Tensor, tuple | None] | None = None) -> torch.Tensor:
    """``J^T e``: an error ``e`` on ``y = normalise(raw)`` carried back to ``raw`` through the
    Jacobian of the per-vector normalisation ``kind``, in closed form (over the last axis):

    - ``layer``, ``y = (r - mean r) / sigma``, ``sigma = sqrt(var r + eps)``:
      ``J^T e = (e - mean e - y mean(e y)) / sigma`` (ATen's fused layer-norm backward
      kernel, one pass where the formula takes seven);
    - ``l2``, ``y = sqrt(D) u``, ``u = r / |r|``: ``J^T e = sqrt(D) (e - u (u . e)) / |r|``;
    - ``none``: ``e``.

    ``voted``: :func:`vote`'s result for ``raw``, so ``layer`` need not compute its statistics again.
    """
    e = error.detach()
    if kind == "none":
        return e
    r = raw.detach()
    if kind == "layer":
        mean, inv_sigma = (voted if voted is not None else vote(r, kind, eps))[1]
        return torch.ops.aten.native_layer_norm_backward(e, r, r.shape[-1:], mean, inv_sigma, None, None,
                                                         [True, False, False])[0]
    length = r.norm(dim=-1, keepdim=True)
    u = r / length.clamp_min(eps)
    back = (e - u * (u * e).sum(-1, keepdim=True)) / length.clamp_min(eps)
    # below eps, normalize() divides by the constant eps: its Jacobian is sqrt(D) / eps
    return r.shape[-1] ** 0.5 * torch.where(length > eps, back, e / eps)


def non_finite_levels(x: torch.Tensor) -> torch.Tensor:
    """``[g]`` bool: which level (axis 1) of ``x [b, g, n, d]`` holds a NaN or an infinity.
    One max-reduction (NaN propagates through it), far cheaper than ``isfinite`` on every value."""
    return ~torch.isfinite(x.abs().amax((0, 2, 3)))

__all__ = ["LocalRule", "DeltaRule", "TemporalDerivativeRule", "StepMeasures", "TEACHERS", "NEGATIVES", "FRONTEND_LEARNING",
           "segment_mean"]

TEACHERS = ("full", "no_lateral", "segment", "island")
ISLAND_AT = ("every", "last", "settled", "nudged")
PRECISION_WHERE = ("everywhere", "island")  # where a vote's log-precision learns (consensus="precision")  # which settling steps the island teacher teaches, from which state
NEGATIVES = ("other_image", "near_frame")
FRONTEND_LEARNING = ("autoencoder", "fixed")
DIRECTIONS = ("bottom_up", "top_down")


class StepMeasures:
    """What a local rule records beside its update (none of it changes the update): the
    loss terms summed over steps (``agreement`` ``||f - s*||^2 / D``, ``movement``
    ``||s* - s_t||^2 / D``, ``hinge``; averaged over levels and directions), a named error
    for a non-finite value, and, with ``alignment``, claim T1: the cosine between the
    temporal-derivative and the delta output-layer update per step, direction and level,
    flagged where the state is the student's own prediction (1 by construction)."""

    def __init__(self, cfg, n_terms: int, steps: int, alignment: bool):
        self.cfg, self.steps, self.measure_alignment = cfg, steps, alignment
        self.totals = {"agreement": 0.0, "movement": 0.0, "hinge": 0.0}
        self.alignment = torch.full((n_terms, 2, cfg.levels), float("nan"), dtype=torch.float64)
        self.trivial = torch.zeros((n_terms, 2, cfg.levels), dtype=torch.bool)

    def check(self, rec: StepRecord, err: torch.Tensor, name: str) -> None:
        """Raise :class:`NonFiniteError` naming the step, level and net when ``err`` is not
        finite: the net whose output is non-finite if there is one (a non-finite output makes
        a non-finite error, so one check serves both), else the error itself."""
        if torch.isfinite(err.sum()):  # one reduction; a sum that overflows goes on to the search
            return
        bad = non_finite_levels(err)  # g
        if not bad.any():
            return
        L = rec.state.shape[1]
        for i, net in enumerate(DIRECTIONS):  # a broken net is named before what it spoils
            broken = non_finite_levels(getattr(rec.contributions, net)[:, :L - i])
            if broken.any():
                raise NonFiniteError(f"settling step {rec.step} (frame {rec.frame}), level "
                                     f"{int(broken.nonzero()[0])}, {net} net: non-finite output")
        raise NonFiniteError(f"settling step {rec.step} (frame {rec.frame}), level {int(bad.nonzero()[0])}, "
                             f"{name} net: non-finite output error (its input or teacher)")

    def record(self, model: Glom, rec: StepRecord, i: int, name: str, raw, pred, state, target, hinge_value, h,
               positive: bool) -> None:
        g, L = raw.shape[1], rec.state.shape[1]
        share = g / L / 2  # levels of this direction, of both directions
        if positive:
            self.totals["agreement"] += float(mse_loss(pred, target)) * share
            self.totals["movement"] += float(mse_loss(target, state)) * share
        if hinge_value is not None:
            self.totals["hinge"] += float(hinge_value.mean()) * share
        if self.measure_alignment:
            mlp = model.nets.bu if name == "bottom_up" else model.nets.td
            td = output_update(mlp, h, through_norm(raw, state - target, self.cfg.norm))
            delta = output_update(mlp, h, through_norm(raw, pred - target, self.cfg.norm))
            term = rec.frame * self.steps + rec.step
            self.alignment[term, i, :g] = group_cosine(td, delta).cpu()
            # where the state is the student's own prediction the two updates are
            # equal by construction (cosine 1): flagged, so a claim can leave it out
            gap = (pred - state).abs().flatten(2).amax(-1).amax(0)  # g
            self.trivial[term, i, :g] = (gap <= 1e-5 * (1 + state.abs().amax())).cpu()


@dataclass
class LocalRule:
    """Options common to the local rules (see the module docstring).

    steps : settling steps per frame.
    hidden_credit : ``local_backprop``, ``feedback_alignment`` or ``frozen``.
    teacher : ``full`` (consensus), ``no_lateral`` or ``segment`` (needs ``batch.groups``).
    negative : ``other_image`` or ``near_frame``; near_gap : frames between a frame and its
        negative (>= 1; must be shorter than the video).
    negative_weight, margin : weight and margin (squared distance per dimension) of the hinge.
    frontend : ``autoencoder`` or ``fixed``.
    feedback_seed : seed of the fixed feedback matrices (``feedback_alignment``).
    measure_alignment : also record T1, the cosine between the temporal-derivative and
        the delta output-layer updates per step, direction and level (``alignment``),
        and where the state equals the student's prediction, so the cosine is 1 by
        construction (``alignment_trivial``).
    island_form, island_kappa, island_step, island_push, island_margin, island_beta : the
        island teacher (``teacher="island"``, :mod:`.island_target`): ``gradient`` (a step
        of length ``island_kappa`` down the column's own island loss, ``constant`` or
        scaled by the ``outside_mass``) or ``hinged`` (the segment's mean minus
        ``island_push`` times the other segments' neighbours with cosine above
        ``island_margin``); ``island_beta`` the inverse temperature of the column's attention.
    island_at : which steps the island teacher teaches: ``every`` step, from that step's
        consensus; the ``last`` step only (earlier steps toward the consensus); every
        step toward the target of the ``settled`` state (read off a settling of the same
        input before the learning one, as a teacher that is only known once settled); or
        ``nudged``, in the manner of equilibrium propagation (Scellier & Bengio 2017): the
        input settles freely, then settles ``nudge_steps`` more steps with each state pulled
        a fraction ``nudge_weight`` toward its island target, and every student learns once,
        at the free state, from the change the nudge made to its level (the temporal
        derivative of paper 12.3; the nudge reaches levels and columns without a target of
        their own through the top-down and lateral terms, and nothing pulls toward the
        consensus).
    variance_weight, decorrelation_weight, stats_window : the anti-collapse terms of latent
        predictive learning (:mod:`.anticollapse`): the Hebbian variance term and the
        decorrelation term of every student's vote, with unit statistics over the batch's
        images and columns (``stats_per="level"``) or, with ``stats_per="column"``, each
        column's own over the batch's images (a column that votes alike for every image has
        no variance then); for ``stats_window > 1`` also that many recent batches; at
        ``anticollapse_levels`` ``all`` levels, or only the ``ungrouped`` ones (no column of
        the batch has a segment there, e.g. level 0 of motion batches: where no teacher pushes),
        or ``decorrelate_all``: the variance term at the ungrouped levels, the decorrelation
        term at every level.
    static_segment : at levels where the grouping names segments, take the columns it leaves
        out (motion segments: the static background) as one more segment, pulled together and
        pushed from the others, instead of leaving them the consensus.
    negative_island : with the island teacher, the weight (lambda) of the island term's
        push that a ``negative`` phase (sleep) also learns, alone
        (:func:`~.island_target.island_targets` with ``pull=False``): each column that
        still attends to a neighbour of another segment moves its students' target away
        from it, and no column is pulled toward anything; 0 (the default): none. A phase of
        ``both`` is unchanged (its island target already pushes).
    precision_where : with ``consensus="precision"``, where a vote's log-precision learns
        (:meth:`precision_error`): ``everywhere``, or only where the ``island`` teacher applies
        (a precision learned against the consensus is self-fulfilling: a sure vote becomes
        the consensus it predicts).
    """

    steps: int = 6
    hidden_credit: str = "local_backprop"
    teacher: str = "full"
    negative: str = "other_image"
    near_gap: int = 2
    negative_weight: float = 1.0
    margin: float = 1.0
    frontend: str = "autoencoder"
    feedback_seed: int = 0
    measure_alignment: bool = False
    island_form: str = "hinged"
    island_kappa: float = 1.0
    island_step: str = "constant"
    island_push: float = 1.0
    island_margin: float = 0.3
    island_beta: float = 12.0
    island_at: str = "every"
    variance_weight: float = 0.0
    decorrelation_weight: float = 0.0
    stats_window: int = 1
    stats_per: str = "level"
    anticollapse_levels: str = "all"
    precision_where: str = "everywhere"
    static_segment: bool = False
    nudge_weight: float = 0.5
    nudge_steps: int = 2
    negative_island: float = 0.0

    def __post_init__(self):
        for name, allowed in (("hidden_credit", HIDDEN_CREDITS), ("teacher", TEACHERS), ("negative", NEGATIVES),
                              ("frontend", FRONTEND_LEARNING), ("island_form", ISLAND_FORMS),
                              ("island_step", ISLAND_STEPS), ("island_at", ISLAND_AT),
                              ("anticollapse_levels", ANTICOLLAPSE_LEVELS), ("precision_where", PRECISION_WHERE),
                              ("stats_per", STATS_PER)):
            check_choice(name, getattr(self, name), allowed)
        for name in ("steps", "near_gap", "stats_window", "nudge_steps"):
            check_positive(name, getattr(self, name), integer=True)
        for name in ("island_kappa", "island_beta"):
            check_positive(name, getattr(self, name))
        for name in ("negative_weight", "margin", "island_push", "variance_weight", "decorrelation_weight"):
            check_positive(name, getattr(self, name), strict=False)
        check_between("island_margin", self.island_margin, -1.0, 1.0)
        check_between("nudge_weight", self.nudge_weight, 0.0, 1.0)
        check_bool("static_segment", self.static_segment)
        check_positive("negative_island", self.negative_island, strict=False)
        if self.negative_island > 0 and self.teacher != "island":
            raise ConfigError(f"negative_island={self.negative_island!r} is not allowed with teacher={self.teacher!r}; the push it learns "
                              "is the island teacher's, so use teacher='island'")
        check_bool("measure_alignment", self.measure_alignment)
        check_seed("feedback_seed", self.feedback_seed)
        self._spread_levels = None  # [L] bool: the levels the anti-collapse terms act on in this update
        self._feedback = {}
        self._statistics = UnitStatistics(self.stats_window, self.stats_per)

    def options(self) -> dict:
        return asdict(self)

    def state_dict(self) -> dict:
        """What the rule carries from one update to the next (the anti-collapse terms' unit
        statistics), for a checkpoint."""
        return {"statistics": self._statistics.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self._statistics.load_state_dict(state.get("statistics", {}))

    # ---- what distinguishes the rules -------------------------------------------------
    def positive_error(self, pred: torch.Tensor, state: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        """Output error of a student with prediction ``pred``, given ``s_t`` and the teacher ``s*_{t+1}``."""
        raise NotImplementedError


    # ---- checks -------------------------------------------------------------------------
    def check(self, model: Glom, batch: Batch) -> None:
        """Raise :class:`ConfigError` naming the field when this rule cannot train ``model`` on ``batch``."""
        if model.cfg.consensus not in ("mean", "precision"):
            raise ConfigError(f"consensus={model.cfg.consensus!r} is not allowed with rule={self.name!r}; "
                              "local rules learn the mean or the precision-weighted mean, so use consensus='mean' "
                              "or 'precision'")
        if model.cfg.consensus == "precision" and self.measure_alignment:
            raise ConfigError("measure_alignment=True is not allowed with consensus='precision'; T1 compares the "
                              "updates of the vote's mean only, so use consensus='mean'")
        if model.cfg.norm == "groups":
            raise ConfigError(f"norm='groups' is not allowed with rule={self.name!r}; local rules carry errors "
                              "through the layer, l2 or no normalisation only")
        if self.teacher in ("segment", "island"):
            if batch.groups is None:
                raise ConfigError(f"teacher={self.teacher!r} needs batch.groups (which columns should agree, from the "
                                  "input: motion segments of a clip); this batch has none. Use teacher='full' without one")
            if batch.corrupted.dim() == 5:
                raise ConfigError(f"teacher={self.teacher!r} is not allowed with videos; its groups name the columns "
                                  "of a still image")
            b, _, n = batch.groups.shape if batch.groups.dim() == 3 else (None, None, None)
            if batch.groups.dim() != 3 or b != batch.corrupted.shape[0] or batch.groups.shape[1] != model.cfg.levels \
                    or n != model.cfg.n_columns:
                raise ConfigError(f"batch.groups has shape {tuple(batch.groups.shape)}; teacher={self.teacher!r} needs "
                                  f"[batch, levels, columns] = [{batch.corrupted.shape[0]}, {model.cfg.levels}, "
                                  f"{model.cfg.n_columns}]")
            if batch.groups.dtype.is_floating_point or batch.groups.dtype == torch.bool or bool((batch.groups < 0).any()):
                raise ConfigError(f"batch.groups (dtype {batch.groups.dtype}) is not allowed with teacher="
                                  f"{self.teacher!r}; give integer segment ids >= 0 (0: no segment)")
        if self.teacher == "island" and type(model).lateral_context is not Glom.lateral_context:
            raise ConfigError("teacher='island' is not allowed on a shard of the column grid; it reads every "
                              "neighbour of a column's window")
        if self.negative == "near_frame":
            frames = batch.corrupted.shape[1] if batch.corrupted.dim() == 5 else 1
            if self.near_gap >= frames:
                raise ConfigError(f"near_gap={self.near_gap} is not allowed for videos of {frames} frame(s); "
                                  "it must be >= 1 and shorter than the video")

    def feedback(self, model: Glom) -> dict:
        """Fixed random feedback matrices per direction, drawn once per model shape from ``feedback_seed``."""
        key = (tuple(model.nets.bu.w2.shape), str(model.device))
        if key not in self._feedback:
            self._feedback[key] = {"bottom_up": feedback_matrix(model.nets.bu, derived_seed(self.feedback_seed, "feedback", 0)),
                                   "top_down": feedback_matrix(model.nets.td, derived_seed(self.feedback_seed, "feedback", 1))}
        return self._feedback[key]

    # ---- the rule ----------------------------------------------------------------------
    def step_update(self, model: Glom, rec: StepRecord, teacher: torch.Tensor, other: torch.Tensor | None,
                    scale: float, positive: bool, measures: "StepMeasures | None" = None,
                    precision_mask: torch.Tensor | None = None, push_mask: torch.Tensor | None = None) -> None:
        """The local update of one settling step, added to every student net's ``.grad``::

            e     = positive_error(f, s_t, s*)  +  negative_weight * d hinge(f, o) / d f
            e_raw = J^T e                          (through the vote's normalisation: through_norm)
            dW2   = sum_b h e_raw^T,   db2 = sum_b e_raw           (presynaptic activity x error)
            dW1   = sum_b x ((M e_raw) * act'(pre))^T              (M = W2, B or none: hidden_credit)

        with ``f = normalise(W2 h + b2)`` the student's vote, ``h = act(pre)`` its hidden
        layer on input ``x`` as the step's forward pass left it (``rec.hidden``), ``s_t`` the
        state, ``s*`` the ``teacher``, ``o`` an unrelated context (``other``; no negative
        term when ``None``). ``positive_error`` is what distinguishes the rules: ``f - s*``
        (delta), ``s_t - s*`` (temporal derivative, paper 12.3). ``scale`` averages over
        the terms of an update; ``measures`` records metrics and checks (no effect on the update).
        With ``consensus="precision"`` the vote's log-precision learns by :meth:`precision_error`,
        only where ``precision_mask [b, L, N]`` is True when it is given. ``push_mask [b, L,
        N]`` marks the teacher as a negative phase's island push (``negative_island``): the
        error toward it acts only where the mask is True, and neither the anti-collapse
        terms nor the precisions learn.
        """
        L = rec.state.shape[1]
        sources = {"bottom_up": torch.cat([rec.inputs[:, None], rec.state[:, :-1]], 1),  # level l reads l-1
                   "top_down": rec.state[:, 1:]}  # level l reads l+1
        for i, name in enumerate(DIRECTIONS):
            g = L if name == "bottom_up" else L - 1  # the top level has no top-down net
            # the net's own output: what normalise_votes normalised, or the contribution itself
            raw = (rec.raw_votes[i] if rec.raw_votes is not None else getattr(rec.contributions, name))[:, :g]
            state, target = rec.state[:, :g], teacher[:, :g]
            voted = vote(raw, model.cfg.norm)
            pred, err, hinge_value = voted[0], None, None
            if positive:
                err = self.positive_error(pred, state, target)
                if push_mask is not None:
                    err = err * push_mask[:, :g, :, None].to(err.dtype)
            if other is not None:
                hinge_value, hinge_err = hinge_terms(pred, other[:, :g], self.margin)
                hinge_err = hinge_err * self.negative_weight
                err = hinge_err if err is None else err + hinge_err
            if positive and push_mask is None and (self.variance_weight > 0 or self.decorrelation_weight > 0):
                stats = self._statistics.update(name, pred)
                everywhere = self.anticollapse_levels == "decorrelate_all"  # decorrelation at every level
                spread = anticollapse_error(pred, *stats, self.variance_weight,
                                            0.0 if everywhere else self.decorrelation_weight)
                if self._spread_levels is not None:
                    spread = spread * self._spread_levels[:g].to(spread.dtype)[None, :, None, None]
                if everywhere and self.decorrelation_weight > 0:
                    spread = spread + anticollapse_error(pred, *stats, 0.0, self.decorrelation_weight)
                err = spread if err is None else err + spread
            if err is None:  # neither term: a zero update, as before
                err = torch.zeros_like(raw)
            err = through_norm(raw, err, model.cfg.norm, voted=voted)
            log_precision = rec.log_precisions[i]
            if log_precision is not None:  # precision consensus: the nets also learn how sure to be
                e_lp = self.precision_error(pred, target, log_precision[:, :g], positive and push_mask is None)
                if precision_mask is not None:
                    e_lp = e_lp * precision_mask[:, :g, :, None].to(e_lp.dtype)
                err = torch.cat([err, e_lp], -1)
            if measures is not None:
                measures.check(rec, err, name)
            h = self._update_net(model, name, sources[name], err * scale, rec.hidden and rec.hidden[i])
            if measures is not None:
                measures.record(model, rec, i, name, raw, pred, state, target, hinge_value, h, positive)

    @staticmethod
    def precision_error(pred: torch.Tensor, teacher: torch.Tensor, log_precision: torch.Tensor,
                        positive: bool) -> torch.Tensor:
        """The local update of a vote's log-precision ``lambda = log pi`` (``consensus=
        "precision"``, paper 9.1): the gradient of the Gaussian negative log-likelihood of the
        teacher under the student's vote, ``1/2 (pi (s* - f)^2 - lambda)``, per dimension:

            e_lambda = 1/2 (pi (s* - f)^2 - 1)

        zero where ``lambda`` sits at the clamp of :class:`~bioglom.columns.ColumnNets` (+-10)
        and pushes further out. A student learns to be sure where it predicts its teacher
        well and unsure where it does not, from its own error alone. Zero outside the positive
        phase (a negative phase has no teacher to predict)."""
        if not positive:
            return torch.zeros_like(log_precision)
        err = 0.5 * (log_precision.exp() * (teacher - pred) ** 2 - 1.0)
        stuck = ((log_precision >= 10.0) & (err < 0)) | ((log_precision <= -10.0) & (err > 0))
        return torch.where(stuck, torch.zeros_like(err), err)

    # ---- one update ---------------------------------------------------------------------
    def accumulate(self, model: Glom, batch: Batch, generator: torch.Generator | None = None,
                   phase: str = "both") -> RuleOutput:
        """Settle ``batch.corrupted`` and add this rule's update (:meth:`step_update` at every
        step, as a gradient to descend) to every parameter's ``.grad``; return the rule's own
        loss, metrics and the trajectory (first and last state only). Modifies neither the
        batch nor the weights."""
        check_phase(phase)
        self.check(model, batch)
        cfg = model.cfg
        video = batch.corrupted
        frames = video.shape[1] if video.dim() == 5 else 1
        positive, negative = phase in ("both", "positive"), phase in ("both", "negative") and self.negative_weight > 0
        n_terms = frames * self.steps
        measures = StepMeasures(cfg, n_terms, self.steps, self.measure_alignment)
        settled = {}  # frame -> last state, for near-frame negatives
        groups = batch.groups.to(model.device) if self.teacher in ("segment", "island") else None
        if groups is not None and self.static_segment:  # at levels with segments, the unsegmented columns are one more
            grouped = (groups > 0).flatten(2).any(-1, keepdim=True)  # b L 1
            groups = torch.where(grouped, groups + 1, groups)
        self._spread_levels = None
        if self.anticollapse_levels in ("ungrouped", "decorrelate_all") and batch.groups is not None:
            self._spread_levels = ~(batch.groups.to(model.device) > 0).flatten(2).any(-1).any(0)  # L
        # a negative phase's island push (negative_island): the island term's negatives alone
        push = self.negative_island > 0 and phase == "negative" and groups is not None
        fixed_target = None
        if self.teacher == "island" and self.island_at == "settled" and not push:
            fixed_target = self._settled_island_target(model, video, generator, groups)
        if self.teacher == "island" and self.island_at == "nudged" and not push:
            return self._accumulate_nudged(model, batch, video, generator, groups, positive, negative)

        def on_step(rec: StepRecord) -> None:
            teacher, taught = rec.new, None  # taught: where the island teacher applies
            other = None
            if negative and self.negative == "other_image":
                other = other_image(rec.new)
            elif negative and rec.frame >= self.near_gap:
                other = settled[rec.frame - self.near_gap]
            b, _, _, d = rec.state.shape
            scale = 1.0 / (n_terms * b * cfg.n_columns * d)  # all columns: a shard's update is its part of the whole
            if rec.step == self.steps - 1:
                settled[rec.frame] = rec.new
            if push:
                target, pushed = self._island_target(model, rec.new, groups, push=self.negative_island)
                self.step_update(model, rec, target, other, scale, True, measures, push_mask=pushed)
                return
            if self.teacher == "no_lateral":
                w = rec.weights.clone()
                w[3] = 0.0
                teacher = normalise(combine(rec.contributions, w), cfg.norm)
            elif self.teacher == "segment":  # a segment's mean, normalised as every state is
                teacher = normalise(segment_mean(rec.new, groups), cfg.norm)
            elif fixed_target is not None:
                taught = fixed_target[1]
                teacher = torch.where(taught[..., None], fixed_target[0], rec.new)
            elif self.teacher == "island" and (self.island_at == "every" or rec.step == self.steps - 1):
                target, taught = self._island_target(model, rec.new, groups)
                teacher = torch.where(taught[..., None], target, rec.new)
            if self.teacher == "island" and self.precision_where == "island":
                taught = taught if taught is not None else torch.zeros_like(rec.new[..., 0], dtype=torch.bool)
            else:
                taught = None
            self.step_update(model, rec, teacher, other, scale, positive, measures, taught)

        with torch.no_grad():
            traj = model.settle(video, self.steps, generator=generator, detach=True, on_step=on_step, record=False)
        ae = torch.zeros(())
        if positive and self.frontend == "autoencoder":
            ae = self._autoencoder(model, batch, traj.final[:, 0])
        totals = {k: v / n_terms for k, v in measures.totals.items()}
        # the loss both rules report: the delta objective (which temporal_derivative estimates)
        own = totals["agreement"] + self.negative_weight * totals["hinge"]
        metrics = {"loss": own, **totals, "autoencoder": float(ae)}
        if self.measure_alignment:
            metrics["alignment"], metrics["alignment_trivial"] = measures.alignment, measures.trivial
        return RuleOutput(torch.tensor(own), metrics, traj)

    def _accumulate_nudged(self, model: Glom, batch: Batch, video: torch.Tensor, generator, groups: torch.Tensor,
                           positive: bool, negative: bool) -> RuleOutput:
        """``island_at="nudged"`` (see the class docstring): one update per frame, at the last
        free step, toward the nudged state."""
        from ..consensus import consensus_weights
        from ..model import settle_step

        cfg = model.cfg
        frames = video.shape[1] if video.dim() == 5 else 1
        measures = StepMeasures(cfg, frames, 1, False)
        last = {}

        def keep(rec: StepRecord) -> None:
            if rec.step == self.steps - 1:
                last[rec.frame] = rec

        with torch.no_grad():
            traj = model.settle(video, self.steps, generator=generator, detach=True, on_step=keep, record=False)
            weights = consensus_weights(cfg, self.steps - 1, self.steps).to(model.device)
            for f in range(frames):  # frames in time order, one update each
                rec = last[f]
                state = rec.new  # the free state
                for _ in range(self.nudge_steps):
                    free = settle_step(model.nets, state, rec.inputs, model.step_neighbourhood(generator),
                                       cfg.beta_end, weights, cfg).new
                    target, taught = self._island_target(model, state, groups)
                    nudged = normalise((1 - self.nudge_weight) * free + self.nudge_weight * target, cfg.norm)
                    state = torch.where(taught[..., None], nudged, free)
                other = other_image(rec.new) if negative and self.negative == "other_image" else None
                b, _, _, d = rec.state.shape
                self.step_update(model, rec, state, other, 1.0 / (frames * b * cfg.n_columns * d), positive,
                                 measures)
        ae = torch.zeros(())
        if positive and self.frontend == "autoencoder":
            ae = self._autoencoder(model, batch, traj.final[:, 0])
        totals = {k: v / frames for k, v in measures.totals.items()}
        own = totals["agreement"] + self.negative_weight * totals["hinge"]
        return RuleOutput(torch.tensor(own), {"loss": own, **totals, "autoencoder": float(ae)}, traj)

    def island_teacher(self, model: Glom, new: torch.Tensor, groups: torch.Tensor,
                       fallback: torch.Tensor | None = None) -> torch.Tensor:
        """The island teacher of the state ``new [b, L, N, D]`` (:func:`~.island_target.island_targets`
        with this rule's options), at the state's own scale and normalised as every state
        is; ``fallback`` (default ``new``, the consensus) where it does not apply."""
        target, applies = self._island_target(model, new, groups)
        return torch.where(applies[..., None], target, new if fallback is None else fallback)

    def _island_target(self, model: Glom, new: torch.Tensor, groups: torch.Tensor, push: float | None = None):
        """The island target of ``new`` and where it applies; with ``push`` (a weight), the
        hinged push alone at that weight (``negative_island``)."""
        form = self.island_form if push is None else "hinged"  # the push alone is the hinged form's push
        unit, applies = island_targets(new, groups, model.neighbourhood, self.island_beta, form=form,
                                       kappa=self.island_kappa, step=self.island_step,
                                       push=self.island_push if push is None else push, margin=self.island_margin,
                                       pull=push is None)
        return normalise(unit * new.norm(dim=-1, keepdim=True), model.cfg.norm), applies

    def _settled_island_target(self, model: Glom, video: torch.Tensor, generator, groups: torch.Tensor):
        """``island_at="settled"``: the island target of the settled state of ``video`` and
        where it applies, from a settling that learns nothing (same neighbourhood draws:
        the generator is copied, not advanced)."""
        gen = None
        if generator is not None:
            gen = torch.Generator(device=generator.device)
            gen.set_state(generator.get_state())
        with torch.no_grad():
            final = model.settle(video, self.steps, generator=gen, detach=True, record=False).final
        return self._island_target(model, final, groups)

    def accumulate_dream(self, model: Glom, dreams: torch.Tensor) -> dict:
        """Negative (sleep) learning on dreamed embeddings ``dreams [b, L, N, D]``: every
        student's prediction from the dream is pushed away, by the hinge, from another
        dream's embedding at the same column and level. The bottom-up net of level 0 reads
        the front end's output for the image decoded from the level-0 dream. Adds the
        update to ``.grad``; returns metrics (``hinge``)."""
        cfg, nets = model.cfg, model.nets
        b, L, n, d = dreams.shape
        with torch.no_grad():
            dreams = dreams.detach()
            inputs = model.frontend(model.decode(dreams[:, 0]))  # the decoded dream is already retinal
        other = other_image(dreams)
        srcs = {"bottom_up": torch.cat([inputs[:, None], dreams[:, :-1]], 1), "top_down": dreams[:, 1:]}
        total = 0.0
        for name in DIRECTIONS:
            g = L if name == "bottom_up" else L - 1
            mlp = nets.bu if name == "bottom_up" else nets.td
            with torch.no_grad():
                raw = mlp(srcs[name], self._location(model, name))
            precision = raw.shape[-1] != d  # consensus="precision": the mean's half, then the log-precision's
            if precision:
                raw = raw[..., :d]
            pred = normalise(raw, cfg.norm)
            total += float(hinge(pred, other[:, :g], self.margin).mean()) * g / L / 2
            err = through_norm(raw, self.negative_weight * hinge_error(pred, other[:, :g], self.margin), cfg.norm)
            if precision:  # sleep has no teacher to predict: the log-precisions do not learn
                err = torch.cat([err, torch.zeros_like(err)], -1)
            if not torch.isfinite(err).all():
                raise NonFiniteError(f"dream, {name} net: non-finite output error")
            self._update_net(model, name, srcs[name], err / (b * cfg.n_columns * d))
        return {"hinge": total}

    @staticmethod
    def _location(model: Glom, name: str):
        """The location input of the ``name`` nets, where they take one (``td_location``, ``bu_location``)."""
        mlp = model.nets.bu if name == "bottom_up" else model.nets.td
        return model.nets.location if mlp.u is not None else None

    def _update_net(self, model: Glom, name: str, src: torch.Tensor, error: torch.Tensor,
                    hidden: tuple | None = None) -> torch.Tensor:
        """Add the local update of the ``name`` nets for output error ``error`` to ``.grad``;
        return their hidden activity (for :func:`output_update`). ``hidden``: their ``(pre,
        h)`` on ``src`` from the settling step, when it kept them."""
        mlp = model.nets.bu if name == "bottom_up" else model.nets.td
        feedback = self.feedback(model)[name] if self.hidden_credit == "feedback_alignment" else None
        update, h = local_update(mlp, src, error, loc=self._location(model, name), credit=self.hidden_credit,
                                 feedback=feedback, hidden=hidden)
        add_update(mlp, update)
        return h

    def _autoencoder(self, model: Glom, batch: Batch, level0: torch.Tensor) -> torch.Tensor:
        """Local learning of the front end and decoder: ``||dec(enc(x)) - x||^2`` (both) plus
        ``||dec(sg(s_T[0])) - x||^2`` (decoder only); mean squared errors, with ``x`` the
        retinal image (the image itself for the uniform retina)."""
        clean = model.retinal(batch.clean if batch.clean.dim() == 4 else batch.clean[:, -1])
        with torch.enable_grad():
            ae = ((model.decode(model.frontend(clean)) - clean) ** 2).mean()
            readout = ((model.decode(level0.detach()) - clean) ** 2).mean()
            (ae + readout).backward()
        return ae.detach()


@register_rule("delta")
@dataclass
class DeltaRule(LocalRule):
    """Every student regresses toward the detached teacher: ``e = f(x_t) - sg(s*_{t+1})``."""

    def positive_error(self, pred, state, teacher):
        return pred - teacher


@register_rule("temporal_derivative")
@dataclass
class TemporalDerivativeRule(LocalRule):
    """Output weights change by presynaptic activity times ``s*_{t+1} - s_t`` (paper 12.3):
    ``e = -(s*_{t+1} - s_t)``. It has no loss of its own (the update is not the gradient
    of any function of the weights); it reports the delta loss ``||f(x_t) - s*_{t+1}||^2 / D``
    whose gradient it estimates, exactly where ``s_t = f(x_t)``."""

    def positive_error(self, pred, state, teacher):
        return state - teacher
