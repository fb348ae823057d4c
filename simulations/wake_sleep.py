"""Wake and sleep (claims W0-W4 of docs/claims.md; Hinton 2023, section 12.2): does
contrastive learning survive long positive (wake) phases followed by long negative
(sleep) phases, with sleep on top-down generated dreams?

    python simulations/wake_sleep.py            # the main job: 3 seeds, 2-core CPU sized (README: time)
    python simulations/wake_sleep.py --quick    # seconds, 1 seed
    python simulations/wake_sleep.py --preset gpu --device cuda
    python simulations/wake_sleep.py --data scenes --image-size 16   # the part-whole scenes

On moving-digit videos made from scikit-learn's digits (embedded), for each seed (weights,
split and data stream change with it), trains the same model with the same local rule
and data under each schedule -- ``interleaved``, ``day-night`` at several block lengths,
``deprivation`` (interleaved, then wake only, then recovery sleep), ``sleep-first``, and
the controls ``positive-only`` and ``sleep-only`` at equal updates -- and measures,
every ``--eval-every`` updates, the linear-probe accuracy of the top level (columns
averaged) on held-out digits, per digit and per level, the scale-sensitive probe, and
the representation metrics of bioglom.analysis (norm, spread, per-dimension std, centred
effective rank, alignment of adjacent frames, uniformity). W0-W4 come with 95 %
intervals over seeds and digits (bioglom.experiments.wake_sleep.claims).

Wake updates are positive and negative learning on real videos (``interleaved``) or
positive only (``wake``); sleep updates are negative learning on dreams: top-level states
seen awake, with noise, turned into every level by the top-down nets alone (or
``--sleep-input replay``). Writes ``wake_sleep.nc``, ``curves.png``, ``recovery.png`` and
``block_length.png``; every run checkpoints to ``--out/checkpoints`` and ``--resume``
continues it to the same result.

With ``--data scenes`` every schedule trains on the islands simulation's part-whole scenes
(bioglom.data.scene_task; each scene a static video of ``--frames`` frames, one whole part
removed), beside the untrained network and the positive controls trained on the same
scenes with the same updates (``backprop`` with the islands recipe, label-free, and
``backprop label-trained``; bioglom.learning.controls). Quality is the settled top
level's foreground ARI against the objects and the error of filling in the removed part
(bioglom.analysis.scene_quality), recorded along ``update`` as means and at the end per
scene; Q0-Q3 say how much of the control's gain each schedule reaches. W0-W4 read probe
accuracy on digits, so they are not measured on scenes. With ``--grouping motion`` every
run trains on the last frames of two-frame clips as still images, the motion segments
found from the pixels its label-free grouping signal: the ``backprop`` control's island
loss, and with ``--teacher island`` the wake phase's target (the islands simulation's local
recipe, bioglom.learning.conditions.ISLAND_RECIPE); sleep stays negative learning on dreams.

The defaults (10x10 videos) and what else was tried are in docs/claims.md. "Representation
size" for W2 is the spread of the probe features (bioglom.analysis.representation_metrics).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from bioglom import Glom, GlomConfig
from bioglom.analysis.claim_rows import missing
from bioglom.analysis.figures import save_figure
from bioglom.analysis.collapse import COLLAPSE_MEASURES
from bioglom.analysis.scene_quality import fraction_table, scene_claims, scene_dataset, scene_part, scene_quality
from bioglom.cli import AnticollapseOptions, DataOptions, defaults, model_option, option, run_identity, run_script, start_run
from bioglom.config import ConfigError, check_positive
from bioglom.data import digit_glyphs, mnist_sizes, moving_images
from bioglom.experiments.wake_sleep import (ALONG, pixel_probe, probe_point, scene_point, sleep_claims,
                                            sleep_figures, sleep_table)
from bioglom.jobs import JOBS_HELP, check_jobs, resolve_jobs
from bioglom.experiment import COMPLETE, attrs_of, over_seeds, report, run_dataset, train, write_partial, write_result
from bioglom.learning import HIDDEN_CREDITS, Batch, Trainer, build_rule
from bioglom.learning.conditions import ISLAND_RECIPE, TEACHING
from bioglom.learning.controls import GROUPING_WEIGHT, LABEL_TRAINED, POSITIVE_CONTROLS, control_options
from bioglom.learning.schedule import PRESETS as SCHEDULES, preset
from bioglom.learning.wake_sleep import SLEEP_INPUTS, WakeSleepTrainer
from bioglom.seeding import derived_seed


@defaults(out="results/wake_sleep", steps=3, batch=option(16, "videos per update"), checkpoint_every=50,
          radius=(1, 2, 4), updates=option(300, "updates of the interleaved, day-night, sleep-first and control runs"),
          image_size=model_option("image_size", 10, "video side in pixels (8x8 digits, or 28x28 MNIST digits, move "
                                  "inside it)"),
          data=option("digits", "videos of scikit-learn's digits (embedded), of MNIST from --data-dir, or static "
                      "videos of the part-whole scenes (island ARI, fill-in, beside the positive controls)",
                      choices=("digits", "mnist", "scenes")),
          variance_weight=option(0.0, "wake learning: weight of the Hebbian variance term of latent predictive "
                                 "learning (bioglom.learning.anticollapse; 0: none; with --teacher island the "
                                 "recipe's)"),
          decorrelation_weight=option(0.0, "wake learning: weight of the decorrelation term of latent predictive "
                                      "learning (0: none; with --teacher island the recipe's)"))
class Options(DataOptions, AnticollapseOptions):
    GROUPED_TEACHERS = ("island",)
    # model
    columns: str = model_option("columns", "unshared")
    init_state: str = model_option("init_state", "previous")
    # data
    data_dir: str = option("", "folder with the MNIST IDX files (--data mnist); nothing is downloaded")
    frames: int = option(4, "frames per training video")
    speed: float = option(1.0, "digit speed in pixels per frame")
    # learning
    rule: str = option("temporal_derivative", "local learning rule", choices=("delta", "temporal_derivative"))
    hidden_credit: str = option("feedback_alignment", "hidden credit of the rule", choices=HIDDEN_CREDITS)
    negative: str = option("other_image", "wake negatives: other videos or a near frame", choices=("other_image", "near_frame"))
    near_gap: int = option(2, "frames between a frame and its near-frame negative")
    teacher: str = option("consensus", "wake learning's teacher: consensus (the full consensus), or island (the "
                          "island target of the motion segments, the islands simulation's local recipe); needs "
                          "--grouping motion", choices=TEACHING)
    sleep_input: str = option("dream", "what sleep learns on: dreams (top-down from remembered top levels), replay "
                              "of wake batches, or splice (wake scenes spliced along their motion segments, on which "
                              "sleep learns the island term's push alone; needs --teacher island)", choices=SLEEP_INPUTS)
    sleep_push: float = option(0.05, "with --sleep-input splice: weight (lambda) of the island push that sleep learns "
                               "alone (0.05 chosen among 1, 0.25, 0.1, 0.05, 0.02 on seeds 0-2, README)")
    dream_noise: float = option(0.3, "noise added to remembered top-level states before dreaming")
    # schedules
    schedules: tuple[str, ...] = option(SCHEDULES, "schedules to run (comma-separated); a claim that needs a missing "
                                        "one is undecided", choices=SCHEDULES)
    blocks: tuple[int, ...] = option((1, 10, 100), "day-night block lengths to sweep (W1)")
    sleep_first_block: int = option(10, "block length of sleep-first")
    pre: int = option(100, "deprivation: interleaved updates first")
    deprived: int = option(300, "deprivation: wake-only updates")
    recovery: int = option(60, "deprivation: sleep updates after deprivation")
    jobs: int = option(0, JOBS_HELP)
    # evaluation
    eval_every: int = option(10, "updates between evaluations")
    probe_train: int = option(500, "digits the probe is fitted on")
    probe_test: int = option(300, "held-out digits the probe is scored on")
    probe_val: int = option(200, "validation digits, kept out of training and of the test digits, on which the "
                        "probe is scored for choices (val_accuracy)")

    def glom_config(self, seed: int | None = None) -> GlomConfig:
        return GlomConfig(**self.model_fields(), channels=self.channels, seed=self.seed if seed is None else seed)

    def rule_options(self) -> dict:
        return dict(steps=self.steps, hidden_credit=self.hidden_credit, negative=self.negative,
                    near_gap=self.near_gap, negative_weight=self.negative_weight, margin=self.margin,
                    **(dict(ISLAND_RECIPE, negative_island=self.sleep_push if self.sleep_input == "splice" else 0.0)
                       if self.teacher == "island"  # the recipe sets its own terms (validate refuses others)
                       else {"teacher": "full", **self.anticollapse_options()}))

    def validate(self) -> None:
        super().validate()
        if self.teacher == "island":
            self.check_terms_left("teacher='island'")
        self.glom_config()
        n_test = round(DIGITS * TEST_FRACTION)
        glyph, n_train = 8, DIGITS - n_test
        if self.data == "mnist":
            sizes = mnist_sizes(self.data_dir)  # read from the files' headers, not assumed
            glyph, n_train, n_test = 28, sizes["train"], sizes["test"]
        elif self.data_dir:
            raise ConfigError(f"data_dir={self.data_dir!r} is not allowed with data={self.data!r}; it is read with "
                              "data='mnist'")
        if self.data == "scenes":
            glyph, n_train, n_test = 1, self.probe_train, self.probe_test  # the probe options are not used
        if self.image_size < glyph:
            raise ConfigError(f"image_size={self.image_size} is not allowed for data={self.data!r}; its digits are "
                              f"{glyph}x{glyph}, so it must be >= {glyph}")
        for name in ("frames", "updates", "sleep_first_block", "pre", "deprived", "recovery", "eval_every",
                     "probe_train", "probe_test", "probe_val"):
            check_positive(name, getattr(self, name), integer=True)
        for b in self.blocks:
            check_positive("blocks", b, integer=True)
        if len(set(self.blocks)) < len(self.blocks):  # each names a schedule run
            raise ConfigError(f"blocks={','.join(map(str, self.blocks))!r} is not allowed; give each block length "
                              "at most once")
        for name in ("speed", "dream_noise", "sleep_push"):
            check_positive(name, getattr(self, name), strict=False)
        if self.grouping != "none":  # the model learns on still images: a clip's last frame
            if "frames" in getattr(self, "given", ()):
                raise ConfigError(f"frames={self.frames} is not allowed with grouping={self.grouping!r}; the model "
                                  "learns on each clip's last frame as a still image, so leave --frames out")
            if self.negative == "near_frame":
                raise ConfigError(f"negative='near_frame' is not allowed with grouping={self.grouping!r}; still "
                                  "images have no near frame, so use negative='other_image'")
        if "sleep_push" in getattr(self, "given", ()) and self.sleep_input != "splice":  # it would do nothing
            raise ConfigError(f"sleep_push={self.sleep_push!r} is not allowed with sleep_input={self.sleep_input!r}; "
                              "it weighs the push that sleep on spliced scenes learns, so add --sleep-input splice")
        if self.sleep_input == "splice" and self.teacher != "island":  # needs segments, and a push to learn from them
            raise ConfigError(f"sleep_input='splice' is not allowed with teacher={self.teacher!r}; spliced scenes are "
                              "the island term's negatives, so use --grouping motion --teacher island")
        if self.negative == "near_frame" and not 1 <= self.near_gap < self.frames:
            raise ConfigError(f"near_gap={self.near_gap} is not allowed for videos of {self.frames} frames; "
                              "it must be >= 1 and shorter than the video")
        if self.data != "scenes" and self.probe_train + self.probe_val > n_train - self.batch:
            raise ConfigError(f"probe_train={self.probe_train} with probe_val={self.probe_val} is not allowed; the "
                              f"{n_train} training images hold the validation digits, the probe's and more than a "
                              f"batch ({self.batch}) for training, so probe_train + probe_val <= {n_train - self.batch}")
        for name, most in (("probe_train", n_train), ("probe_test", n_test)):
            if getattr(self, name) > most:
                raise ConfigError(f"{name}={getattr(self, name)} is not allowed; the {self.data} split it is drawn "
                                  f"from holds {most} images")
        build_rule(self.rule, **self.rule_options())
        check_jobs(self)

    def fit_defaults(self, given: set[str]) -> None:
        """As :class:`~bioglom.cli.DataOptions`; and ``--jobs`` left at 0 runs a seed per process."""
        super().fit_defaults(given)
        resolve_jobs(self)

    def runs(self) -> list["Run"]:
        """Every run of a seed, in report order."""
        out = [Run("interleaved", "interleaved", 0, preset("interleaved"), self.updates, 1)]
        out += [Run(f"day-night-{b}", "day-night", b, preset("day-night", block=b), self.updates, 2 * b)
                for b in self.blocks]
        out.append(Run("deprivation", "deprivation", 0, preset("deprivation", pre=self.pre, deprived=self.deprived,
                                                                recovery=self.recovery),
                       self.pre + self.deprived + self.recovery, self.pre + self.deprived + self.recovery))
        b = self.sleep_first_block
        out.append(Run("sleep-first", "sleep-first", b, preset("sleep-first", block=b), self.updates, 2 * b))
        out += [Run(k, k, 0, preset(k), self.updates, 1) for k in ("positive-only", "sleep-only")]
        return [r for r in out if r.kind in self.schedules]


@dataclass(frozen=True)
class Run:
    """One schedule run: its name (the ``schedule`` coordinate), preset ``kind``, ``block``
    length (0: none), the schedule, its updates and the updates of one wake+sleep cycle."""

    name: str
    kind: str
    block: int
    schedule: object
    updates: int
    cycle: int


PRESETS = {
    "quick": dict(seeds=1, updates=6, blocks=(1, 3), sleep_first_block=2, pre=2, deprived=4, recovery=2, eval_every=2,
                  probe_train=60, probe_test=40, probe_val=16, dim=8, hidden=16, levels=2, radius=(1, 4), batch=4, frames=3,
                  steps=2, checkpoint_every=2),
    "gpu": dict(levels=4, dim=64, hidden=256, image_size=16, radius=(1, 2, 4, 7), batch=128, frames=6, steps=4,
                updates=4000, blocks=(1, 10, 100, 1000), pre=1000, deprived=4000, recovery=400, eval_every=50,
                probe_train=900, probe_test=539, seeds=5),
}

DIGITS, TEST_FRACTION = 1797, 0.3  # scikit-learn's digits, and the fraction held out for the probe


def claims_of(ds: xr.Dataset, opts: Options, quality: xr.Dataset | None = None) -> list:
    """The claims of a result over ``seed`` (this run's, or per-seed runs merged by ``python
    -m bioglom.claims wake_sleep``): W0-W4 on digits; on scenes Q0-Q3 of every schedule
    and the label-free control, from ``quality`` (default: the scene quality the result
    holds, :func:`~bioglom.analysis.scene_quality.scene_part`)."""
    if opts.data != "scenes":
        return sleep_claims(ds, pre=opts.pre, deprived=opts.deprived, recovery=opts.recovery)
    quality = scene_part(ds, settling="moment") if quality is None else quality
    return [missing("W0-W4", "probe accuracy on digits (--data digits or mnist)"),
            *scene_claims(quality, "run", [r.name for r in opts.runs()] + ["backprop"], "untrained", LABEL_TRAINED)]


def scenes_table(ds: xr.Dataset) -> str:
    """Each schedule's and control's share of the positive controls' gain (a scene result)."""
    return fraction_table(scene_part(ds, settling="moment"), "run", "untrained", list(POSITIVE_CONTROLS))


def main(argv=None) -> int:
    opts, device, out = start_run(Options, argv, description=__doc__.split("\n\n")[0], presets=PRESETS)
    if opts.jobs > 1:
        from bioglom.jobs import run_seeds_as_jobs

        def summarise(merged):  # the table and pictures of the merged result, as one process prints and draws them
            print(scenes_table(merged) if opts.data == "scenes" else sleep_table(merged))
            for name, fig in sleep_figures(merged, opts.pre, opts.deprived).items():
                save_figure(fig, out / name, merged.attrs.get("git_commit"))

        return run_seeds_as_jobs(Path(__file__), "wake_sleep", opts, sys.argv[1:] if argv is None else list(argv), out,
                                 summarise)
    runs = opts.runs()
    results, status = over_seeds(opts, lambda seed: run_seed(opts, seed, runs, device, out))
    seeds = [r[0] for r in results]
    ds = xr.concat([r[1].expand_dims(seed=[r[0]]) for r in results], "seed", join="outer", coords="minimal",
                   compat="override")
    longest = max(r.updates for r in runs)
    period = np.stack([np.pad(r.schedule.kinds(r.updates), (0, longest - r.updates), constant_values="") for r in runs])
    ds = ds.reindex(schedule=[r.name for r in runs]).assign_coords(
        kind=("schedule", [r.kind for r in runs]), block=("schedule", [r.block for r in runs]),
        cycle=("schedule", [r.cycle for r in runs]), length=("schedule", [r.updates for r in runs]))
    ds["schedule_period"] = (("schedule", "train_update"), period[:, :ds.sizes["train_update"]])
    attrs = attrs_of(opts, model_config=opts.glom_config().to_json(), rule=opts.rule, data=opts.data,
                     probe_test=opts.probe_test)
    if status != COMPLETE:
        return write_partial(ds, out / "wake_sleep.nc", attrs, status)

    if opts.data == "scenes":
        names = [r.name for r in runs] + ["untrained", *POSITIVE_CONTROLS]
        quality = scene_dataset({(s, n): q for s, _, scenes in results for n, q in scenes.items()}, ("seed", "run"),
                                [(s, n) for s in seeds for n in names])
        claims = claims_of(ds, opts, quality)
        ds = xr.merge([ds, quality.rename(moment="settling")], join="outer", combine_attrs="drop_conflicts")
        table = scenes_table(ds)
    else:
        claims = claims_of(ds, opts)
        table = sleep_table(ds)
    path = write_result(ds, claims, out / "wake_sleep.nc", attrs)
    for name, fig in sleep_figures(ds, opts.pre, opts.deprived).items():
        save_figure(fig, out / name)
    return report(f"Wake and sleep on {'scenes' if opts.data == 'scenes' else 'moving digits'}: {len(seeds)} seeds, "
                  f"{opts.columns} columns, {opts.rule}/{opts.hidden_credit}, sleep on {opts.sleep_input}; means over "
                  "seeds", table, claims=claims, path=path)


def run_seed(opts: Options, seed: int, runs: list[Run], device, out: Path) -> tuple[tuple, str]:
    """Every schedule of one seed: ``((seed, dataset, scenes), status)`` -- evaluations along
    ``update`` (per-digit ones along ``sample``) and training metrics along
    ``train_update``; on scenes also the final scene quality of every schedule, of the
    untrained network and of the positive controls (``{name: scene_quality result}``)."""
    scenes, status, done = {}, COMPLETE, []
    if opts.data == "scenes":
        task = opts.task()
        held = task.held_out(seed, opts.patch_size)

        groups = (opts.patch_size, opts.levels) if opts.grouping != "none" else None

        def scene_batches(labels=None):  # with the motion grouping, still images (a clip's last frame)
            frames = 0 if groups else opts.frames
            return lambda u: Batch(*task.batch(seed, u, opts.batch, frames=frames, labels_for=labels,
                                               groups_for=groups))

        batches, measure = scene_batches(), lambda m: scene_point(m, opts.steps, held)
    else:
        glyphs, labels, train_idx, test_idx = digit_glyphs(opts.data, opts.data_dir, seed, TEST_FRACTION)

        def videos(n, frames, stream, indices):
            return moving_images(glyphs, labels, n, frames, opts.image_size, speed=opts.speed, seed=stream,
                                 indices=indices)

        # validation digits: the last of the training split, never trained on, never tested on
        train_idx, val_idx = train_idx[:-opts.probe_val], train_idx[-opts.probe_val:]
        probe_fit = videos(opts.probe_train, 2, derived_seed(seed, "probe_fit"), train_idx[:opts.probe_train])
        probe_eval = videos(opts.probe_test, 2, derived_seed(seed, "probe_eval"), test_idx[:opts.probe_test])
        probe_val = videos(opts.probe_val, 2, derived_seed(seed, "validation"), val_idx)

        def batches(u: int) -> Batch:
            rng = np.random.default_rng([seed, u])
            vids = videos(opts.batch, opts.frames, int(rng.integers(2**31)), rng.choice(train_idx, opts.batch)).images
            return Batch(vids, vids, torch.ones_like(vids))

        measure = lambda m: probe_point(m, opts.steps, probe_fit, probe_eval, probe_val)  # noqa: E731

    identity = run_identity(opts, ("seed", "seeds", "updates", "schedules", "blocks", "sleep_first_block", "pre",
                                   "deprived", "recovery"))
    for run in runs:
        model = Glom(opts.glom_config(seed)).to(device)
        trainer = WakeSleepTrainer(model, build_rule(opts.rule, **opts.rule_options()), batches, schedule=run.schedule,
                                   sleep_input=opts.sleep_input, dream_noise=opts.dream_noise, updates=run.updates,
                                   lr=opts.lr, seed=seed, checkpoint=out / "checkpoints" / f"seed{seed}-{run.name}.pt",
                                   checkpoint_every=opts.checkpoint_every, progress=opts.progress, data=identity,
                                   label=f"wake_sleep seed {seed} {run.name}")
        status = train(trainer, opts, f"seed {seed} {run.name}", lambda u: measure(model), opts.eval_every)
        done.append(run_dataset(trainer, along=ALONG, coords={"collapse_measure": list(COLLAPSE_MEASURES)})
                    .expand_dims(schedule=[run.name]))
        if status != COMPLETE:
            break
        if opts.data == "scenes":
            scenes[run.name] = scene_quality(model, opts.steps, held)
    if opts.data == "scenes" and status == COMPLETE:
        scenes["untrained"] = scene_quality(Glom(opts.glom_config(seed)).to(device), opts.steps, held)
        for name in POSITIVE_CONTROLS:  # the same scenes, model and updates, trained by backprop
            model = Glom(opts.glom_config(seed)).to(device)
            labels = (opts.patch_size, opts.levels) if name == LABEL_TRAINED else None
            grouping = GROUPING_WEIGHT if opts.grouping != "none" else 0.0
            trainer = Trainer(model, build_rule("backprop", **control_options(name, opts.steps, grouping)),
                              scene_batches(labels),
                              updates=opts.updates, lr=opts.lr, seed=seed, checkpoint_every=opts.checkpoint_every,
                              checkpoint=out / "checkpoints" / f"seed{seed}-{name.replace(' ', '-')}.pt",
                              progress=opts.progress, data=identity, label=f"wake_sleep seed {seed} {name}")
            status = train(trainer, opts, f"seed {seed} {name}")
            if status != COMPLETE:
                break
            scenes[name] = scene_quality(model, opts.steps, held)
    ds = xr.concat(done, "schedule", join="outer", coords="minimal", compat="override")
    if opts.data != "scenes":  # W0a's model-free reference: the same probe on the first frame's pixels
        ds["raw_pixels_correct"] = ("sample", pixel_probe(probe_fit, probe_eval))
    return (seed, ds, scenes), status


if __name__ == "__main__":
    raise SystemExit(run_script(main))
