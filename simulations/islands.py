"""Islands (claims I1-I5 of docs/claims.md; Hinton 2023, sections 3.4, 6, 7 and 11): does
GLOM, trained by backprop without labels, settle still scenes of familiar objects into
islands that are the parse -- parts at level 0, objects above -- when motion seen in
training, computed from the pixels, decides which columns should agree (section 7: a
location "needs to decide which other locations its level-L embedding should be similar
to")?

    python simulations/islands.py             # 3 seeds, 2-core CPU sized (see the README for the time)
    python simulations/islands.py --quick     # seconds, 1 seed
    python simulations/islands.py --sweep     # the variants of bioglom.experiments.islands.sweep, 2 seeds each -> sweep.nc
    python simulations/islands.py --grouping-weight 0 --supervision 3 --out results/islands_control   # label-trained
    python simulations/islands.py --preset gpu --device cuda
    python simulations/islands.py --preset local    # a local rule (section 12) beside backprop: claims L1-L3
    python simulations/islands.py --preset textured # patterned parts on clutter, parts that sway (parts from motion)
    python simulations/islands.py --preset harder   # the same with twelve kinds overlapping in depth order

Scenes (bioglom.data.wholes): 2-3 objects of distinct familiar kinds on a noise
background; each kind is a fixed arrangement of 2-4 coloured parts, and every colour
occurs in at least two kinds, so the kind follows only from the arrangement. Training
sees two-frame clips of such scenes in which each object moves rigidly with its own
velocity; per column, the displacement that best explains the next frame (block matching
on the pixels, bioglom.data.motion) gives motion segments, and the model learns on each
clip's last frame as a still image: columns of one segment are the island loss's
positives, columns that move differently its negatives (--grouping motion). The input
also loses one one-colour region, found from the pixels (with --grouping none: one whole
part), filled with a colour no scene has; the loss reconstructs the
clean scene from the settled level 0, trains every bottom-up and top-down prediction
toward the detached consensus, and pushes predictions away from consensus vectors of
other images and of locations the location attends to little. No ground-truth label is
used in training, except in the label-trained control (--supervision W > 0), which asks
the settled attention to bind exactly the columns of each ground-truth part (level 0) and
object (above). Islands are measured on still test scenes, against the strongest
model-free baseline (connected components of the foreground, among others).

For each seed, on held-out scenes (island thresholds chosen on validation scenes): the
foreground ARI of every level and settling step against parts and objects, beside the
model-free baselines (bioglom.analysis.baselines; the strongest on validation is the
reference), step 0, the model with lateral attention switched off (I5) and the
ground-truth parts; on held-out clips, the islands beside the clips' motion segments;
island sizes; the consensus shares; an object-kind probe before and after settling; the
error of filling in a removed part. Claims come with 95 % intervals over seeds and
scenes and verdicts held / not held / undecided. Writes
islands.nc, islands.png, ari_by_step.png, attention.png, attention_maps.png and clips.png to
--out.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import torch
import xarray as xr

from bioglom import GlomConfig
from bioglom.analysis import foreground_ari
from bioglom.analysis.pair_statistics import count_pairs
from bioglom.cli import AnticollapseOptions, check_left_at_default, defaults, model_option, option, run_script, start_run
from bioglom.config import ConfigError, check_between, check_count, check_positive
from bioglom.data import (BASIC_KINDS, WHOLE_KINDS, column_labels, make_moving_scenes, make_scenes, make_whole_scenes,
                          mask_parts, mask_regions)
from bioglom.data.clips import segmented_clips
from bioglom.data.wholes import BACKGROUNDS, TEXTURES
from bioglom.data.motion import part_and_object_segments
from bioglom.data.scene_task import GROUPINGS
from bioglom.data.scenes import scene_bytes
from bioglom.experiment import Stopped, attrs_of, report, seeds_of, write_result
from bioglom.experiments.islands import island_claims, island_table, local_claims, local_table
from bioglom.experiments.islands.run import CLAIM_SEED, KEEPS, SELECTION_SEEDS, draw_figures, run_seed
from bioglom.experiments.islands.sweep import run_sweep
from bioglom.jobs import JOBS_HELP, check_jobs, resolve_jobs
from bioglom.learning import HIDDEN_CREDITS, build_rule
from bioglom.learning.trainer import LR_SCHEDULES
from bioglom.learning.anticollapse import ANTICOLLAPSE_OPTIONS
from bioglom.learning.island_target import ISLAND_FORMS, ISLAND_STEPS
from bioglom.learning.pairs import check_pair_sample, pair_entries
from bioglom.learning.local import ISLAND_AT, PRECISION_WHERE, TEACHERS
from bioglom.learning.backprop import NEGATIVE_SCOPES, NEGATIVES, RECONS


ISLAND_RULES = ("backprop", "delta", "temporal_derivative")
# what a recipe chooses (the backprop reference of a local rule takes the defaults of these)
RECIPE = ("rule", "reference", "lr", "lr_schedule", "consensus", "negative_weight", "margin", "hidden_credit", "teacher", "island_form",
          "island_kappa", "island_step", "island_push", "island_margin", "island_at", "variance_weight",
          "decorrelation_weight", "stats_window", "stats_per", "anticollapse_levels", "precision_where", "static_segment", "nudge_weight",
          "nudge_steps", "sleep_push", "sleep_block", "weights_end", "beta_start", "beta_end", "norm",
          "normalise_votes",
          "agreement_weight", "negatives", "negative_scope", "recon", "field_weight", "supervision",
          "scene_contrast", "grouping_weight", "colour_parts", "similarity", "neighbourhood", "frontend",
          "bu_location", "td_location", "oscillator_group", "oscillator_rate", "omega", "columns", "column_init")


# the local rules' own options (backprop reads none of them; sleep_push has a check of its own)
LOCAL_ONLY = ("hidden_credit", "teacher", "island_form", "island_kappa", "island_step", "island_push", "island_margin",
              "island_at", "nudge_weight", "nudge_steps", "sleep_block", "static_segment", "precision_where")


@defaults(out="results/islands", seeds=option(3, "seeds run (seed, seed+1, ...): model and data stream change with "
                                                "each"),
          seed=option(CLAIM_SEED, "first seed: weights, data streams and evaluation sets derive from it (claims: "
                                  f"{CLAIM_SEED}, apart from the sweeps' seeds; --sweep without --seed: the sweep's own, "
                                  "SELECTION_SEEDS)"),
          image_size=model_option("image_size", 16, "scene side in pixels"), radius=(1, 2, 4), steps=8, lr=5e-4,
          updates=option(600, "training updates per seed"), batch=option(32, "scenes per update"),
          negative_weight=0.1, variance_weight=0.0, decorrelation_weight=0.0, stats_per="level")
class Options(AnticollapseOptions):
    jobs: int = option(0, JOBS_HELP)
    lr_schedule: str = option("constant", "learning rate over the updates: constant, or cosine (from --lr down to 0 at "
                              "the last update)", choices=LR_SCHEDULES)
    sweep: bool = option(False, "run every variant of --sweep-set (bioglom.experiments.islands.sweep), --sweep-seeds "
                         "seeds each, and write sweep.nc and sweep.csv instead")
    shard: tuple[int, ...] = option((0, 1), "with --sweep: K,N runs the variants whose index is K modulo N (N "
                                    "processes share a sweep; each caches its variants, and only N=1 writes sweep.nc)")
    # scenes
    scenes: str = option("wholes", "scene family: familiar kinds of ambiguous parts, or the plain two-part scenes",
                         choices=("wholes", "plain"))
    kinds: tuple[str, ...] = option(BASIC_KINDS, "object kinds of the wholes scenes (comma-separated; twelve exist, "
                                    "with six appearances each in two kinds or more)", choices=tuple(WHOLE_KINDS))
    parts_min: int = option(2, "fewest parts of a kind used (2-4)")
    parts_max: int = option(4, "most parts of a kind used (2-4)")
    objects_min: int = option(2, "fewest objects per scene")
    objects_max: int = option(3, "most objects per scene")
    background: str = option("noise", "background of the wholes scenes: per-pixel noise, black, or structured clutter "
                             "(patterned rectangles of any colour over the noise)", choices=BACKGROUNDS)
    texture: str = option("flat", "parts of the wholes scenes: one flat colour, or patterned (stripes, checks or a "
                          "gradient by appearance, moving with the part)", choices=TEXTURES)
    min_gap: int = option(0, "pixels kept between objects of the static scenes (0: objects may touch; >= patch_size: "
                          "no two objects' columns are adjacent, so connectivity alone separates them)")
    occlusion: float = option(0.0, "largest fraction of an object of the wholes scenes and clips that objects in front "
                              "of it may hide (depth order: the first placed at the back; 0: objects do not overlap)")
    # the label-free grouping signal
    grouping: str = option("motion", "label-free signal of which columns agree: none, or motion (train on clips in which "
                           "each object moves rigidly; columns that move together, found from the pixels, are the "
                           "island loss's positives, columns that move differently its negatives; the model learns on "
                           "each clip's last frame as a still image)", choices=GROUPINGS)
    grouping_weight: float = option(3.0, "weight of the grouping island loss (with --grouping motion)")
    colour_parts: bool = option(False, "with --grouping motion: level 0's columns agree within each one-colour region "
                                "of the frame (found from the pixels, label-free), as motion cannot tell parts apart")
    frames: int = option(2, "frames per training and held-out clip (>= 2)")
    articulation: float = option(0.0, "probability that a part of a clip's object sways: one pixel off its place in "
                                 "odd frames, at it in even ones (motion at two time scales: parts and objects)")
    part_motion: bool = option(False, "with --grouping motion and --frames >= 3: level 0 learns from the part-scale "
                               "motion segments (last two frames) and the levels above from the object-scale ones (the "
                               "last frame and the one two before it), hierarchical common fate")
    speed: int = option(1, "largest velocity component of a clip's objects, pixels per frame")
    share_velocity: float = option(0.1, "probability that an object of a clip (not the first) moves with the velocity "
                                   "of one placed before it: motion cannot tell them apart (0 with --still 0: every "
                                   "velocity nonzero and distinct, motion segments nearly the objects)")
    still: float = option(0.05, "probability that an object of a clip stands still (no motion segment)")
    clip_scenes: int = option(128, "held-out clips per seed (and as many validation clips) on which islands are "
                              "measured beside the clips' motion segments (0: none; wholes scenes on noise only)")
    pair_clips: int = option(1024, "training clips (the first of each seed's stream) from whose motion segments the "
                             "same-signal baseline counts its pair statistics (with --grouping motion; 0: not measured)")
    # masking
    mask: str = option("parts", "what training inputs lose: whole parts, or rectangular blocks", choices=("parts", "blocks"))
    mask_count: int = option(1, "parts or blocks removed from each input")
    mask_min: int = option(4, "smallest block side (pixels; blocks only)")
    mask_max: int = option(6, "largest block side (pixels; blocks only)")
    fill: str = option("token", "what removed pixels become", choices=("token", "noise", "zero"))
    # model: each option sets the GlomConfig field of its name (its help is the field's documentation)
    columns: str = model_option("columns")
    column_init: str = model_option("column_init")
    neighbourhood: str = model_option("neighbourhood")
    similarity: str = model_option("similarity")
    beta_start: float = model_option("beta_start", help="at the first step")
    beta_end: float = model_option("beta_end", help="at the last step")
    weights_end: tuple[float, ...] = model_option("weights_end", (0.3, 1.0, 1.0, 2.0), "at the last step")
    consensus: str = model_option("consensus", "precision", "precision for backprop; with a local rule and no "
                                  "--consensus given, mean (the local rules learn the mean only)")
    norm: str = model_option("norm")
    normalise_votes: bool = model_option("normalise_votes")
    oscillator_group: int = model_option("oscillator_group")
    oscillator_rate: float = model_option("oscillator_rate")
    omega: float = model_option("omega")
    frontend: str = model_option("frontend")
    bu_location: bool = model_option("bu_location")
    td_location: bool | None = model_option("td_location")
    # learning
    agreement_weight: float = option(0.1, "weight of predictions agreeing with the detached consensus")
    negatives: str = option("both", "where negatives come from", choices=NEGATIVES)
    negative_scope: str = option("image", "same-image negatives from the whole image or only beyond the level's "
                                 "attention window", choices=NEGATIVE_SCOPES)
    pair_sample: int = option(0, "columns each column is compared with in the same-image negatives and the island loss, "
                              "drawn anew each update from its image (0: every other column; memory [steps, batch, "
                              "levels, N, N] against N x K with K drawn, for large images)")
    recon: str = option("balanced", "reconstruction error: mean over pixels, or removed and kept pixels weighted "
                        "equally", choices=RECONS)
    field_weight: float = option(0.0, "weight of the top level predicting, as a neural field, the level below "
                                 "wherever it attends (label-free)")
    supervision: float = option(0.0, "weight of the supervised island loss (label-trained control; 0: label-free)")
    scene_contrast: float = option(0.0, "weight of scene-level contrast: the settled top level of a scene must pick out "
                                   "that of a random view of it among the batch's other scenes (label-free)")
    # local rules (--rule delta or temporal_derivative; section 12)
    rule: str = option("backprop", "learning rule: backprop through every settling step, or a local rule (no gradient "
                       "crosses a step or a column) trained beside backprop's default recipe on the same clips, budget "
                       "and seeds (claims L1-L3)", choices=ISLAND_RULES)
    hidden_credit: str = option("local_backprop", "local rules: how hidden layers learn", choices=HIDDEN_CREDITS)
    teacher: str = option("island", "local rules: the teacher (island: a target that pulls a column to its motion "
                          "segment and pushes it from other segments until they separate; segment: the segment's "
                          "mean; full: the consensus)", choices=TEACHERS)
    island_form: str = option("hinged", "island teacher: hinged (the segment's mean minus the push), projected (the "
                              "segment's mean turned away from the push until their cosine is --island-margin) or gradient (a "
                              "step down the column's own island loss)", choices=ISLAND_FORMS)
    island_kappa: float = option(1.0, "island teacher, gradient form: step length on the unit sphere")
    island_step: str = option("constant", "island teacher, gradient form: a constant step, or one scaled by the "
                              "attention still given outside the segment", choices=ISLAND_STEPS)
    island_push: float = option(1.0, "island teacher, hinged form: weight of the push (lambda)")
    island_margin: float = option(0.3, "island teacher, hinged form: neighbours of other segments are pushed "
                                  "while their cosine exceeds this (mu)")
    island_at: str = option("every", "island teacher: every step from its consensus, the last step only, or every "
                            "step toward the target of the settled state", choices=ISLAND_AT)
    reference: str = option("", "local rules: a finished backprop islands run (its folder) on the same seeds whose "
                            "per-seed results are the reference of L1-L3, instead of training it here (its options "
                            "must be this run's reference recipe)")
    nudge_weight: float = option(0.5, "local rules, island teacher at nudged: how far each nudged step moves toward "
                                 "the island target")
    nudge_steps: int = option(2, "local rules, island teacher at nudged: settling steps of the nudged phase")
    sleep_push: float = option(0.0, "local rules, island teacher: weight of the island push learnt alone in sleep "
                               "blocks on training scenes spliced along their motion segments, alternating with wake "
                               "blocks of --sleep-block updates each (0: no sleep, every update awake)")
    sleep_block: int = option(10, "with --sleep-push: updates per wake block and per sleep block")
    static_segment: bool = option(False, "local rules, island teacher: the columns motion leaves out (static "
                                  "background) are one more segment")
    precision_where: str = option("everywhere", "local rules with --consensus precision: where a vote's "
                                  "log-precision learns (everywhere, or only where the island teacher applies)",
                                  choices=PRECISION_WHERE)
    # evaluation
    islands: str = option("connected", "islands the claims read: threshold (columns whose vectors agree, anywhere) or "
                          "connected (and joined by adjacent columns of the island, as the paper draws them); both are "
                          "measured", choices=("threshold", "connected"))
    sweep_seeds: int = option(2, "with --sweep: seeds per variant")
    sweep_set: str = option("grouping", "with --sweep: the variants of the label-free grouping with backprop "
                            "(VARIANTS, sweep.nc) or of the local rules (LOCAL_VARIANTS, sweep_local.nc, each beside "
                            "backprop's default recipe on the same seeds)", choices=("grouping", "local"))
    test_scenes: int = option(256, "held-out test scenes per seed")
    val_scenes: int = option(128, "validation scenes per seed (island thresholds, kind probe)")
    eval_every: int = option(50, "updates between measurements of the attention similarity of pair kinds and of the "
                             "training curve on tracked validation scenes")
    keep: str = option("last", "weights the test scenes measure: the last update's, or the best of the training curve "
                       "(settled top-level ARI on the tracked validation scenes, every --eval-every updates: a "
                       "training length chosen on validation; a local rule's backprop reference keeps the same)",
                       choices=KEEPS)

    def glom_config(self, seed: int = 0) -> GlomConfig:
        return GlomConfig(channels=3, seed=seed, **self.model_fields())

    def fit_defaults(self, given: set[str]) -> None:
        """A local rule with no ``--consensus`` given combines the votes by their mean: the
        local rules learn no precisions unless asked (``--consensus precision``). A sweep
        with no ``--seed`` given runs on its selection seeds (:data:`SELECTION_SEEDS`)."""
        if self.local and "consensus" not in given:
            self.consensus = "mean"
        if self.sweep and "seed" not in given:  # a sweep chooses on its own seeds, never the claims'
            self.seed = SELECTION_SEEDS[self.sweep_set][0]
        resolve_jobs(self, allowed=not self.sweep)

    @property
    def local(self) -> bool:
        return self.rule != "backprop"

    def build_rule(self):
        """The rule this run trains, with its options."""
        if self.local:
            return build_rule(self.rule, **self.local_rule_options())
        return build_rule("backprop", **self.rule_options())

    def local_rule_options(self) -> dict:
        return dict(steps=self.steps, hidden_credit=self.hidden_credit, teacher=self.teacher,
                    negative_weight=self.negative_weight, margin=self.margin, island_form=self.island_form,
                    island_kappa=self.island_kappa, island_step=self.island_step, island_push=self.island_push,
                    island_margin=self.island_margin, island_beta=self.beta_end, island_at=self.island_at,
                    **self.anticollapse_options(), precision_where=self.precision_where, static_segment=self.static_segment,
                    nudge_weight=self.nudge_weight, nudge_steps=self.nudge_steps, negative_island=self.sleep_push)

    def schedule(self):
        """The wake/sleep schedule of a run with sleep (``sleep_push > 0``): blocks of
        ``sleep_block`` updates awake (positive and negative learning on the clips) and
        asleep (the island push on spliced training scenes), repeated; None without sleep."""
        if self.sleep_push <= 0:
            return None
        from bioglom.learning.schedule import Period, WakeSleepSchedule

        return WakeSleepSchedule((Period("both", self.sleep_block), Period("sleep", self.sleep_block)),
                                 repeat=True).check()

    def reference_options(self) -> "Options":
        """Backprop's default recipe on this run's clips, budget, model size and seeds: the
        reference of claims L1-L3. The rule, its options and learning rate, and the settling
        dynamics a recipe chooses (:data:`RECIPE`) go back to their defaults."""
        base = {f.name: f.default for f in dataclasses.fields(Options)}
        return dataclasses.replace(self, **{n: base[n] for n in RECIPE})

    def validate(self) -> None:
        super().validate()
        if not self.local:
            check_left_at_default(self, ANTICOLLAPSE_OPTIONS + LOCAL_ONLY, "rule='backprop'",
                                  "which does not read it (it is the local rules'; --rule delta or temporal_derivative)")
        self.glom_config()  # raises ConfigError naming the field
        check_jobs(self, "sweep=True" if self.sweep else "", "split a sweep with --shard K,N")
        for name in ("test_scenes", "val_scenes", "eval_every", "mask_count", "clip_scenes", "sweep_seeds", "pair_clips"):
            check_positive(name, getattr(self, name), integer=True,
                           strict=name not in ("mask_count", "clip_scenes", "pair_clips"))
        # every held-out scene keeps its settled states until measured: a count too large for this
        # machine is refused now, not after training
        cfg = self.glom_config()
        per_scene = 4 * (self.steps + 1) * self.levels * cfg.n_columns * self.dim + scene_bytes(self.image_size, 3,
                                                                                                self.frames)
        for name in ("test_scenes", "val_scenes", "clip_scenes", "pair_clips"):
            check_count(name, getattr(self, name), per_scene, f"{getattr(self, name)} scenes' settled states")
        # one update keeps, per scene, settling step, level and column, the pairs of the training losses between
        # columns of one image (same-image negatives, island loss: N, or K drawn) at about 13 bytes each, and the
        # attention's gathered neighbours (slots x dim) at about 11 bytes each: fitted to the peak resident memory
        # at 64 px, 1024 columns, radius 4 (1.0 GB more per scene with every pair, 0.70 GB with 64 drawn); dense
        # attention keeps [N, N] weights instead, counted here as pairs (not measured apart)
        check_pair_sample(self.pair_sample, cfg.n_columns)
        pairs = pair_entries(cfg.n_columns, self.pair_sample)
        slots = cfg.attention_slots()
        neighbours = 11 * slots * cfg.dim if slots < cfg.n_columns else 13 * slots
        check_count("batch", self.batch, self.steps * self.levels * cfg.n_columns * (13 * pairs // cfg.n_columns + neighbours),
                    f"one update's pair tensors and gathered neighbours for the {cfg.n_columns} columns of each scene "
                    f"(image_size={self.image_size}, [steps, batch, levels, N, {'K' if self.pair_sample else 'N'}])")
        check_between("share_velocity", self.share_velocity, 0.0, 1.0)  # before any training, not at the first clip
        check_between("still", self.still, 0.0, 1.0)
        check_between("articulation", self.articulation, 0.0, 1.0)
        if self.articulation > 0 and self.frames < 3:  # the last frame, the still image learnt from, would sway
            raise ConfigError(f"articulation={self.articulation} is not allowed with frames={self.frames}; a part "
                              "sways in odd frames and is back in place two frames later, so give frames >= 3")
        if self.part_motion and (self.grouping != "motion" or self.frames < 3 or self.colour_parts):
            raise ConfigError(f"part_motion=True is not allowed with grouping={self.grouping!r}, frames={self.frames}, "
                              f"colour_parts={self.colour_parts}; it needs grouping='motion', frames >= 3 and no "
                              "colour_parts (level 0 learns from one signal)")
        if len(self.shard) != 2 or not 0 <= self.shard[0] < self.shard[1]:
            raise ConfigError(f"shard={self.shard!r} is not allowed; give K,N with 0 <= K < N")
        if tuple(self.shard) != (0, 1) and not self.sweep:  # it would run a whole run, silently
            raise ConfigError(f"shard={','.join(map(str, self.shard))!r} is not allowed without sweep=True; "
                              "--shard splits a sweep's variants")
        for name in ("agreement_weight", "supervision", "field_weight", "grouping_weight", "scene_contrast"):
            check_positive(name, getattr(self, name), strict=False)
        if not 1 <= self.mask_min <= self.mask_max <= self.image_size:
            raise ConfigError(f"mask_min={self.mask_min}, mask_max={self.mask_max} are not allowed; need "
                              f"1 <= mask_min <= mask_max <= image_size ({self.image_size})")
        if self.scenes == "plain" and self.mask == "parts" and self.fill == "zero":
            raise ConfigError("fill='zero' is not allowed with scenes='plain' and mask='parts': it draws the background")
        if self.scenes == "plain" and self.occlusion > 0:  # the plain scenes' objects never overlap
            raise ConfigError(f"occlusion={self.occlusion!r} is not allowed with scenes='plain'; objects overlap in "
                              "depth order in the wholes scenes, so use scenes='wholes'")
        self.scene_batch(1, 0, 0)  # kinds, parts, objects, min_gap: one clear line, before any work
        if self.grouping == "motion" or self.clip_scenes:
            if self.grouping == "motion" and (self.scenes != "wholes" or self.background == "black"):
                raise ConfigError(f"grouping='motion' is not allowed with scenes={self.scenes!r}, background="
                                  f"{self.background!r}: motion is found against a static textured background; use "
                                  "scenes='wholes' with background='noise' or 'clutter'")
            if self.uses_clips:
                self.clip_batch(1, 0, 0)  # frames, speed: one clear line
        if self.reference and not self.local:
            raise ConfigError(f"reference={self.reference!r} is not allowed with rule='backprop'; it names the backprop "
                              "run a local rule is compared with")
        if self.reference and not Path(self.reference).is_dir():
            raise ConfigError(f"reference={self.reference!r} is not a folder; give the --out folder of a finished "
                              "backprop islands run")
        if self.local and self.teacher in ("segment", "island") and self.grouping == "none":
            raise ConfigError(f"teacher={self.teacher!r} is not allowed with grouping='none'; its segments come from "
                              "the grouping signal, so use grouping='motion'")
        check_positive("sleep_push", self.sleep_push, strict=False)
        check_positive("sleep_block", self.sleep_block, integer=True)
        if "sleep_block" in getattr(self, "given", ()) and self.sleep_push <= 0:  # it would do nothing
            raise ConfigError(f"sleep_block={self.sleep_block!r} is not allowed with sleep_push={self.sleep_push!r}; "
                              "there is no sleep without a push, so give --sleep-push W > 0")
        if self.sleep_push > 0 and (not self.local or self.teacher != "island"):
            raise ConfigError(f"sleep_push={self.sleep_push!r} is not allowed with rule={self.rule!r}, teacher="
                              f"{self.teacher!r}; sleep learns the island teacher's push, so use a local rule with "
                              "teacher='island'")
        if self.local and self.consensus not in ("mean", "precision"):
            raise ConfigError(f"consensus={self.consensus!r} is not allowed with rule={self.rule!r}; local rules learn "
                              "the mean or the precision-weighted mean, so use consensus='mean' or 'precision'")
        if self.local and self.pair_sample:  # it would be ignored: the island teacher reads only the window
            raise ConfigError(f"pair_sample={self.pair_sample} is not allowed with rule={self.rule!r}; a local rule's "
                              "island teacher reads only the attention window, so give pair_sample=0 (a backprop "
                              "reference with drawn pairs runs on its own and is read with --reference)")
        if self.local and self.norm == "groups":
            raise ConfigError(f"norm='groups' is not allowed with rule={self.rule!r}; local rules carry errors through "
                              "the layer, l2 or no normalisation only")
        self.build_rule()

    @property
    def uses_clips(self) -> bool:
        """Whether clips are drawn (for training or for the held-out clip measures)."""
        return self.grouping == "motion" or (self.clip_scenes > 0 and self.scenes == "wholes"
                                              and self.background != "black")

    def rule_options(self) -> dict:
        return dict(steps=self.steps, agreement_weight=self.agreement_weight, negative_weight=self.negative_weight,
                    margin=self.margin, negatives=self.negatives, negative_beta=self.beta_end,
                    negative_scope=self.negative_scope, supervision=self.supervision, recon=self.recon,
                    field_weight=self.field_weight, scene_contrast=self.scene_contrast,
                    grouping=self.grouping_weight if self.grouping != "none" else 0.0, pair_sample=self.pair_sample)

    def scene_batch(self, n: int, seed: int, start: int):
        if self.scenes == "plain":
            return make_scenes(n, image_size=self.image_size, objects=(self.objects_min, self.objects_max),
                               seed=seed, start=start)
        return make_whole_scenes(n, image_size=self.image_size, kinds=self.kinds, parts=(self.parts_min, self.parts_max),
                                 objects=(self.objects_min, self.objects_max), background=self.background,
                                 min_gap=self.min_gap, texture=self.texture, occlusion=self.occlusion, seed=seed,
                                 start=start)

    def clip_batch(self, n: int, seed: int, start: int):
        """Clips ``start .. start + n - 1`` of the stream ``seed`` (objects may touch)."""
        return make_moving_scenes(n, frames=self.frames, speed=self.speed, image_size=self.image_size,
                                  kinds=self.kinds, parts=(self.parts_min, self.parts_max),
                                  objects=(self.objects_min, self.objects_max), background=self.background,
                                  share=self.share_velocity, still=self.still, articulation=self.articulation,
                                  texture=self.texture, occlusion=self.occlusion, seed=seed, start=start)

    def training_signal(self, seed: int):
        """What the first ``pair_clips`` training clips of ``seed`` (the clips the model
        learns from) give: the same-signal baseline's counts
        (:func:`~bioglom.analysis.pair_statistics.count_pairs`), and, to measure the
        teacher, the foreground ARI of each clip's motion segments against its objects and
        whether one of its objects shares a velocity or stands still, and with
        ``part_motion`` the foreground ARI of its part-scale segments against its parts
        and the counts of level 0's same-signal baseline, from those part-scale segments
        (else None, None). ``(None,) * 5`` without the motion grouping or with
        ``pair_clips`` 0."""
        if self.grouping != "motion" or not self.pair_clips:
            return None, None, None, None, None
        # the segments motion_batch teaches: with part_motion, [B, 2, N] (level 0's, the levels above's)
        both = (lambda video, p: torch.stack(part_and_object_segments(video, p), 1)) if self.part_motion else None
        # the motion residuals of a chunk of clips are the cost: 256 clips of 16 x 16 pixels at a time, as many
        # pixels on larger images (at 64 px the default chunk took about 6 GB)
        clips, segments = segmented_clips(lambda n, start: self.clip_batch(n, seed, start), self.pair_clips,
                                          self.patch_size, chunk=max(1, 256 * 16 * 16 // self.image_size ** 2),
                                          segmenter=both)
        part_segments, segments = (segments[:, 0], segments[:, 1]) if self.part_motion else (None, segments)
        last = clips.frame(-1)
        table = count_pairs(last.images, segments, self.glom_config().grid, self.patch_size)
        labels = column_labels(last, self.patch_size, 2)  # scoring the teacher only
        objects = labels[:, 1]
        present = clips.kinds >= 0
        v = clips.velocities
        still = ((v == 0).all(-1) & present).any(1)
        same = ((v[:, :, None] == v[:, None]).all(-1) & present[:, :, None] & present[:, None]
                & ~torch.eye(v.shape[1], dtype=torch.bool)).any(-1).any(-1)
        part_ari = part_table = None
        if part_segments is not None:
            part_ari = foreground_ari(labels[:, 0], part_segments, labels[:, 0] > 0)
            part_table = count_pairs(last.images, part_segments, self.glom_config().grid, self.patch_size)
        return table, foreground_ari(objects, segments, objects > 0), still | same, part_ari, part_table

    def masked(self, scenes, generator):
        if self.mask == "parts":
            return mask_parts(scenes.images, scenes.parts, self.mask_count, generator, fill=self.fill)
        return mask_regions(scenes.images, self.mask_count, self.mask_min, self.mask_max, generator, fill=self.fill)


# the local rule chosen by the local sweep (LOCAL_VARIANTS, seeds 100-101, selection scenes), then
# the best validation point, the static segment and its push, and the top-down weight at the last
# step (0.3: the top level's blur fed back down is what kept level 1 from separating) by single
# runs on seeds 100-102 (README): python simulations/islands.py --preset local (--rule delta for the delta rule)
LOCAL_RECIPE = dict(rule="temporal_derivative", teacher="island", island_form="hinged", island_at="every",
                    negative_weight=1.0, lr=2e-3, td_location=False, variance_weight=1.0, decorrelation_weight=1.0,
                    anticollapse_levels="ungrouped", keep="best", static_segment=True, island_push=0.75,
                    weights_end=(0.3, 0.3, 1.0, 2.0))
PRESETS = {
    "quick": dict(seed=0, seeds=1, updates=20, batch=8, steps=3, test_scenes=24, val_scenes=16, checkpoint_every=10,
                  eval_every=10, dim=16, hidden=32, clip_scenes=16, pair_clips=128),
    "local": dict(LOCAL_RECIPE, out="results/islands_local"),
    # scenes that are not flat colours on noise: patterned parts on structured clutter, parts
    # that sway (motion at two time scales teaches level 0), so no colour or brightness
    # threshold finds the parts or the foreground
    "textured": dict(texture="patterned", background="clutter", frames=3, articulation=1.0, part_motion=True,
                     out="results/islands_textured"),
    # and more of them: twelve kinds of six appearances, overlapping in depth order
    "harder": dict(texture="patterned", background="clutter", frames=3, articulation=1.0, part_motion=True,
                   kinds=tuple(WHOLE_KINDS), occlusion=0.3, out="results/islands_harder"),
    "gpu": dict(levels=4, dim=64, hidden=256, image_size=32, radius=(1, 2, 4, 8), updates=6000, batch=64,
                steps=8, test_scenes=1024, val_scenes=512, mask_min=6, mask_max=10, seeds=5),
}

def claims_of(ds: xr.Dataset, opts: Options) -> list:
    """The claims of a result over ``seed`` (this run's, or per-seed runs merged by
    ``python -m bioglom.claims islands``): I1-I5, and for a local rule L1-L3."""
    rows = island_claims(ds, islands=opts.islands)
    return rows + local_claims(ds, islands=opts.islands) if opts.local else rows


def main(argv=None) -> int:
    opts, device, out = start_run(Options, argv, description=__doc__.split("\n\n")[0], presets=PRESETS)
    if opts.sweep:
        return run_sweep(opts, device, out)
    if opts.jobs > 1:
        from bioglom.jobs import run_seeds_as_jobs

        def summarise(merged):  # the table and pictures of the merged result, as one process prints and draws them
            print(island_table(merged, opts.islands) + ("\n" + local_table(merged, opts.islands) if opts.local else ""))
            draw_figures(merged, opts, out)

        return run_seeds_as_jobs(Path(__file__), "islands", opts, sys.argv[1:] if argv is None else list(argv), out,
                                 summarise)
    seeds = seeds_of(opts)
    try:
        ds = xr.concat([run_seed(opts, s, device, out / "checkpoints").expand_dims(seed=[s]) for s in seeds], "seed",
                       data_vars="minimal", coords="minimal", compat="override")
    except Stopped as e:
        # islands writes no partial islands.nc: say what is kept instead of the generic status
        print(f"{str(e).replace('partial results written, ', 'no islands.nc written, ')}; the seeds done are kept in "
              f"{out / 'checkpoints'}", file=sys.stderr)
        return 1
    claims = claims_of(ds, opts)
    path = write_result(ds, claims, out / "islands.nc", attrs_of(opts, model_config=opts.glom_config(opts.seed).to_json(),
                                                                 rule=opts.rule, seeds=seeds))
    draw_figures(ds, opts, out)
    signal = "motion segments of clips" if opts.grouping == "motion" else "no grouping signal"
    table = island_table(ds, opts.islands)
    if opts.local:
        table += "\n" + local_table(ds, opts.islands)
    return report(f"Islands on {opts.test_scenes} held-out scenes x {len(seeds)} seeds ({opts.scenes} scenes, "
                  f"{opts.columns} columns, {opts.updates} {opts.rule} updates per seed, {signal}; mask changes "
                  f"{float(ds.mask_fraction.mean()):.1%} of pixels)", table, claims=claims, path=path)


if __name__ == "__main__":
    raise SystemExit(run_script(main))
