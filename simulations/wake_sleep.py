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
intervals over seeds and digits (bioglom.analysis.sleep_claims).

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
accuracy on digits, so they are not measured on scenes.

Tuning (issue 4 asks for a fair chance before judging). Each row is one ``--schedules
interleaved`` run of 300 updates with the option shown, probe accuracy untrained -> final.
On 12x12 videos (digits wander 4 pixels per axis), no setting lifted the top level above
the untrained network:

    12x12 defaults (temporal_derivative / feedback_alignment, unshared)   0.370 -> 0.273
    --rule delta                                                           0.370 -> 0.250
    --columns shared                                                       0.370 -> 0.240
    --negative near_frame                                                  0.370 -> 0.257
    --negative-weight 3 --margin 2                                         0.370 -> 0.227
    --lr 5e-4                                                              0.370 -> 0.293
    --hidden-credit local_backprop                                         0.370 -> 0.277
    --speed 0 (static digits at random positions)                          0.370 -> 0.300
    --steps 6 --batch 32                                                   0.397 -> 0.237
    --speed 0 --steps 6 --batch 32 --frames 1                              0.397 -> 0.297
    --probe-train 1200 --probe-test 500 (a larger probe)                   0.390 -> 0.282
    --init-state bottom_up (collapses: effective rank 1.03)                0.370 -> 0.300

Where the digit's position varies less, the same rule does learn:

    --image-size 8 --radius 1,2,3 (centred, no motion)                     0.573 -> 0.810
    --image-size 10 --radius 1,2,4 (the default: 2 pixels of travel)       0.347 -> 0.453
    --image-size 10 --radius 1,2,4 --speed 0.5                             0.347 -> 0.390

So the defaults are 10x10 videos, the smallest canvas on which the digits still move.
What fails at 12x12 is translation invariance of the top level: the probe reads the top
level averaged over columns, and a digit anywhere in a larger field is harder to read.

"Representation size" for W2 is the spread of the probe features,
``sqrt(mean_i ||x_i - mean(x)||^2)``: the states are layer-normalised, so the plain mean
norm cannot shrink; collapse shows as a vanishing spread.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from bioglom import Glom, GlomConfig
from bioglom.analysis import (alignment, claims_dataset, dimension_std, effective_rank, evaluations_dataset,
                              format_claims, history_dataset, linear_probe, mean_norm, run_attrs, settled_features,
                              uniformity, write_netcdf)
from bioglom.analysis.claim_rows import missing
from bioglom.analysis.scene_quality import fraction_table, scene_claims, scene_dataset, scene_quality
from bioglom.analysis.sleep_claims import final_readout, find_schedule, sleep_claims
from bioglom.analysis.figures import save_figure
from bioglom.cli import ModelOptions, option, run_identity, run_script, start_run, stopped_status
from bioglom.config import ConfigError, check_choice, check_positive
from bioglom.data import SceneTask, load_digits, load_mnist, mnist_sizes, moving_images, split_indices
from bioglom.learning import HIDDEN_CREDITS, Batch, NonFiniteError, Trainer, build_rule
from bioglom.seeding import derived_seed
from bioglom.learning.controls import LABEL_TRAINED, POSITIVE_CONTROLS, control_options
from bioglom.learning.schedule import PRESETS as SCHEDULES, preset
from bioglom.learning.wake_sleep import SLEEP_INPUTS, WakeSleepTrainer


@dataclass
class Options(ModelOptions):
    out: str = option("results/wake_sleep", "output folder")
    seeds: int = option(3, "seeds run (seed, seed+1, ...): weights, split and data stream change with each")
    stop_after: int = option(0, "stop every run after this many updates of this invocation, as a kill would (0: never)")
    # model
    image_size: int = option(10, "video side in pixels (8x8 digits, or 28x28 MNIST digits, move inside it)")
    columns: str = option("unshared", "column nets", choices=("shared", "unshared"))
    init_state: str = option("previous", "state a frame starts from", choices=("previous", "bottom_up", "zeros"))
    radius: tuple[int, ...] = option((1, 2, 4), "window radius per level (comma-separated)")
    # data
    data: str = option("digits", "videos of scikit-learn's digits (embedded), of MNIST from --data-dir, or static "
                       "videos of the part-whole scenes (island ARI, fill-in, beside the positive controls)",
                       choices=("digits", "mnist", "scenes"))
    test_scenes: int = option(256, "--data scenes: held-out test scenes per seed")
    val_scenes: int = option(128, "--data scenes: validation scenes per seed (island thresholds)")
    data_dir: str = option("", "folder with the MNIST IDX files (--data mnist); nothing is downloaded")
    frames: int = option(4, "frames per training video")
    speed: float = option(1.0, "digit speed in pixels per frame")
    # learning
    rule: str = option("temporal_derivative", "local learning rule", choices=("delta", "temporal_derivative"))
    hidden_credit: str = option("feedback_alignment", "hidden credit of the rule", choices=HIDDEN_CREDITS)
    steps: int = option(3, "settling steps per frame")
    batch: int = option(16, "videos per update")
    lr: float = option(2e-3, "Adam learning rate")
    negative: str = option("other_image", "wake negatives: other videos or a near frame", choices=("other_image", "near_frame"))
    near_gap: int = option(2, "frames between a frame and its near-frame negative")
    negative_weight: float = option(1.0, "weight of the negative hinge")
    margin: float = option(1.0, "hinge margin (squared distance per dimension)")
    sleep_input: str = option("dream", "what sleep learns on", choices=SLEEP_INPUTS)
    dream_noise: float = option(0.3, "noise added to remembered top-level states before dreaming")
    # schedules
    schedules: tuple[str, ...] = option(SCHEDULES, "schedules to run (comma-separated); a claim that needs a missing "
                                        "one is undecided")
    updates: int = option(300, "updates of the interleaved, day-night, sleep-first and control runs")
    blocks: tuple[int, ...] = option((1, 10, 100), "day-night block lengths to sweep (W1)")
    sleep_first_block: int = option(10, "block length of sleep-first")
    pre: int = option(100, "deprivation: interleaved updates first")
    deprived: int = option(300, "deprivation: wake-only updates")
    recovery: int = option(60, "deprivation: sleep updates after deprivation")
    # evaluation
    eval_every: int = option(10, "updates between evaluations")
    probe_train: int = option(500, "digits the probe is fitted on")
    probe_test: int = option(300, "held-out digits the probe is scored on")
    checkpoint_every: int = option(50, "updates between checkpoints")
    progress: bool = option(True, "show a progress bar")

    def glom_config(self, seed: int | None = None) -> GlomConfig:
        return GlomConfig(levels=self.levels, dim=self.dim, hidden=self.hidden, image_size=self.image_size,
                          patch_size=self.patch_size, channels=SceneTask.channels if self.data == "scenes" else 1,
                          columns=self.columns, radius=self.radius,
                          init_state=self.init_state, seed=self.seed if seed is None else seed)

    def rule_options(self) -> dict:
        return dict(steps=self.steps, hidden_credit=self.hidden_credit, negative=self.negative,
                    near_gap=self.near_gap, negative_weight=self.negative_weight, margin=self.margin)

    def validate(self) -> None:
        self.glom_config()
        n_test = int(round(DIGITS * TEST_FRACTION))
        glyph, n_train, n_test = 8, DIGITS - n_test, n_test
        if self.data == "mnist":
            sizes = mnist_sizes(self.data_dir)  # read from the files' headers, not assumed
            glyph, n_train, n_test = 28, sizes["train"], sizes["test"]
        elif self.data_dir:
            raise ConfigError(f"data_dir={self.data_dir!r} is not allowed with data={self.data!r}; it is read with "
                              "data='mnist'")
        if self.data == "scenes":
            self.task().check()
            glyph, n_train, n_test = 1, self.probe_train, self.probe_test  # the probe options are not used
        if self.image_size < glyph:
            raise ConfigError(f"image_size={self.image_size} is not allowed for data={self.data!r}; its digits are "
                              f"{glyph}x{glyph}, so it must be >= {glyph}")
        for name in ("seeds", "frames", "steps", "batch", "updates", "sleep_first_block", "pre", "deprived", "recovery",
                     "eval_every", "probe_train", "probe_test", "checkpoint_every", "test_scenes", "val_scenes"):
            check_positive(name, getattr(self, name), integer=True)
        for b in self.blocks:
            check_positive("blocks", b, integer=True)
        for name in self.schedules:
            check_choice("schedules", name, SCHEDULES)
        check_positive("stop_after", self.stop_after, strict=False, integer=True)
        check_positive("lr", self.lr)
        for name in ("speed", "negative_weight", "margin", "dream_noise"):
            check_positive(name, getattr(self, name), strict=False)
        if self.negative == "near_frame" and not 1 <= self.near_gap < self.frames:
            raise ConfigError(f"near_gap={self.near_gap} is not allowed for videos of {self.frames} frames; "
                              "it must be >= 1 and shorter than the video")
        for name, most in (("probe_train", n_train), ("probe_test", n_test)):
            if getattr(self, name) > most:
                raise ConfigError(f"{name}={getattr(self, name)} is not allowed; the {self.data} split it is drawn "
                                  f"from holds {most} images")
        build_rule(self.rule, **self.rule_options())

    def task(self) -> SceneTask:
        return SceneTask(image_size=self.image_size, val_scenes=self.val_scenes, test_scenes=self.test_scenes)

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
                  probe_train=60, probe_test=40, dim=8, hidden=16, levels=2, radius=(1, 4), batch=4, frames=3,
                  steps=2, checkpoint_every=2),
    "gpu": dict(levels=4, dim=64, hidden=256, image_size=16, radius=(1, 2, 4, 7), batch=128, frames=6, steps=4,
                updates=4000, blocks=(1, 10, 100, 1000), pre=1000, deprived=4000, recovery=400, eval_every=50,
                probe_train=1200, probe_test=597, seeds=5),
}

DIGITS, TEST_FRACTION = 1797, 0.3  # scikit-learn's digits, and the fraction held out for the probe


def main(argv=None) -> int:
    opts, device, out = start_run(Options, argv, description=__doc__.split("\n\n")[0], presets=PRESETS)
    seeds = list(range(opts.seed, opts.seed + opts.seeds))
    runs = opts.runs()
    parts, scenes, status = [], {}, "complete"
    for seed in seeds:
        ds, quality, status = run_seed(opts, seed, runs, device, out)
        parts.append(ds.expand_dims(seed=[seed]))
        scenes.update({(seed, k): v for k, v in quality.items()})
        if status != "complete":
            break
    ds = xr.concat(parts, "seed", join="outer", coords="minimal", compat="override")
    longest = max(r.updates for r in runs)
    phase = np.stack([np.pad(r.schedule.kinds(r.updates), (0, longest - r.updates), constant_values="") for r in runs])
    ds = ds.reindex(schedule=[r.name for r in runs]).assign_coords(
        kind=("schedule", [r.kind for r in runs]), block=("schedule", [r.block for r in runs]),
        cycle=("schedule", [r.cycle for r in runs]), length=("schedule", [r.updates for r in runs]))
    ds["schedule_phase"] = (("schedule", "train_update"), phase[:, :ds.sizes["train_update"]],
                            {"long_name": "wake, sleep or both at each training update"})
    attrs = run_attrs(dataclasses.asdict(opts), opts.seed, model_config=opts.glom_config().to_json(), rule=opts.rule,
                      data=opts.data)
    if status != "complete":
        write_netcdf(ds.assign_attrs(attrs, status=status), out / "wake_sleep.nc")
        print(status, file=sys.stderr)
        return 1

    if opts.data == "scenes":
        names = [r.name for r in runs] + ["untrained", *POSITIVE_CONTROLS]
        quality = scene_dataset(scenes, ("seed", "run"), [(s, n) for s in seeds for n in names])
        claims = [missing("W0-W4", "probe accuracy on digits (--data digits or mnist)")]
        claims += scene_claims(quality, "run", [r.name for r in runs] + ["backprop"], "untrained", LABEL_TRAINED)
        ds = xr.merge([ds, quality.rename(moment="settling")], join="outer", combine_attrs="drop_conflicts")
    else:
        claims = sleep_claims(ds, pre=opts.pre, deprived=opts.deprived, recovery=opts.recovery)
    ds = xr.merge([claims_dataset(claims), ds], join="outer", combine_attrs="drop_conflicts")
    ds.attrs.update(attrs, status=status, probe_test=opts.probe_test)
    path = write_netcdf(ds, out / "wake_sleep.nc")
    figures(ds, opts, out)

    print(f"\nWake and sleep on {'scenes' if opts.data == 'scenes' else 'moving digits'}: {len(seeds)} seeds, {opts.columns} columns, "
          f"{opts.rule}/{opts.hidden_credit}, sleep on {opts.sleep_input}; means over seeds")
    if opts.data == "scenes":
        print(fraction_table(quality, "run", "untrained", list(POSITIVE_CONTROLS)))
    else:
        print(summary_table(ds))
    print(format_claims(claims))
    print(f"wrote {path}")
    return 0


def run_seed(opts: Options, seed: int, runs: list[Run], device, out: Path) -> tuple[xr.Dataset, str]:
    """Every schedule of one seed: evaluations along ``update`` (per-digit ones along
    ``sample``) and training metrics along ``train_update``; on scenes also the final
    scene quality of every schedule, of the untrained network and of the positive
    controls (``{name: scene_quality result}``; empty on digits)."""
    scenes = {}
    if opts.data == "scenes":
        task = opts.task()
        held = task.held_out(seed)

        def scene_batches(labels=None):
            return lambda u: Batch(*task.batch(seed, u, opts.batch, frames=opts.frames, labels_for=labels))

        batches = scene_batches()
        measure = lambda m: evaluate_scenes(m, opts, held)  # noqa: E731
    else:
        glyphs, labels, train_idx, test_idx = video_source(opts, seed)

        def videos(n, frames, stream, indices):
            return moving_images(glyphs, labels, n, frames, opts.image_size, speed=opts.speed, seed=stream,
                                 indices=indices)

        probe_fit = videos(opts.probe_train, 2, derived_seed(seed, "probe_fit"), train_idx[:opts.probe_train])
        probe_eval = videos(opts.probe_test, 2, derived_seed(seed, "probe_eval"), test_idx[:opts.probe_test])

        def batches(u: int) -> Batch:
            rng = np.random.default_rng([seed, u])
            vids = videos(opts.batch, opts.frames, int(rng.integers(2**31)), rng.choice(train_idx, opts.batch)).images
            return Batch(vids, vids, torch.ones_like(vids))

        measure = lambda m: evaluate(m, opts, probe_fit, probe_eval)  # noqa: E731

    data_identity = run_identity(opts, ("seed", "seeds", "updates", "schedules", "blocks", "sleep_first_block", "pre",
                                        "deprived", "recovery"))
    done, status = [], "complete"
    for run in runs:
        model = Glom(opts.glom_config(seed)).to(device)
        trainer = WakeSleepTrainer(model, build_rule(opts.rule, **opts.rule_options()), batches, schedule=run.schedule,
                                   sleep_input=opts.sleep_input, dream_noise=opts.dream_noise, updates=run.updates,
                                   lr=opts.lr, seed=seed, checkpoint=out / "checkpoints" / f"seed{seed}-{run.name}.pt",
                                   checkpoint_every=opts.checkpoint_every, progress=opts.progress, data=data_identity,
                                   label=f"wake_sleep seed {seed} {run.name}")
        try:
            trainer.run(resume=opts.resume, stop_after=opts.stop_after or None,
                        evaluate=lambda u: measure(model), evaluate_every=opts.eval_every)
        except (NonFiniteError, KeyboardInterrupt) as e:
            status = stopped_status(e, f"seed {seed} {run.name}")
            print(f"error: {status}", file=sys.stderr)
        done.append(run_dataset(trainer).expand_dims(schedule=[run.name]))
        if status == "complete" and trainer.update < run.updates:
            status = (f"stopped after {trainer.update} of {run.updates} updates of seed {seed} {run.name} "
                      "(--stop-after); continue with --resume")
        if status != "complete":
            break
        if opts.data == "scenes":
            scenes[run.name] = scene_quality(model, opts.steps, held)
    if opts.data == "scenes" and status == "complete":
        scenes["untrained"] = scene_quality(Glom(opts.glom_config(seed)).to(device), opts.steps, held)
        for name in POSITIVE_CONTROLS:  # the same scenes, model and updates, trained by backprop
            model = Glom(opts.glom_config(seed)).to(device)
            labels = (opts.patch_size, opts.levels) if name == LABEL_TRAINED else None
            trainer = Trainer(model, build_rule("backprop", **control_options(name, opts.steps)), scene_batches(labels),
                              updates=opts.updates, lr=opts.lr, seed=seed, checkpoint_every=opts.checkpoint_every,
                              checkpoint=out / "checkpoints" / f"seed{seed}-{name.replace(' ', '-')}.pt",
                              progress=opts.progress, data=data_identity, label=f"wake_sleep seed {seed} {name}")
            try:
                trainer.run(resume=opts.resume, stop_after=opts.stop_after or None)
            except (NonFiniteError, KeyboardInterrupt) as e:
                return _concat(done), scenes, stopped_status(e, f"seed {seed} {name}")
            if trainer.update < opts.updates:
                return _concat(done), scenes, (f"stopped after {trainer.update} of {opts.updates} updates of seed "
                                               f"{seed} {name} (--stop-after); continue with --resume")
            scenes[name] = scene_quality(model, opts.steps, held)
    return _concat(done), scenes, status


def _concat(parts: list[xr.Dataset]) -> xr.Dataset:
    return xr.concat(parts, "schedule", join="outer", coords="minimal", compat="override")


@torch.no_grad()
def evaluate_scenes(model: Glom, opts: Options, held) -> dict:
    """Means of the scene quality (settled object ARI and fill-in error) and the
    representation metrics of the settled top level on the test scenes, for the curves."""
    q = scene_quality(model, opts.steps, held)
    top = settled_features(model, held.test.images, opts.steps)
    model.train()
    return {"object_ari_mean": float(np.nanmean(q["object_ari"][-1])), "fill_error_mean": float(q["fill_error"][-1].mean()),
            "norm": mean_norm(top), "spread": mean_norm(top - top.mean(0)),
            "effective_rank": effective_rank(top, centre=True)}


def evaluate(model: Glom, opts: Options, probe_fit, probe_eval) -> dict:
    """Probe accuracy per level (standardised) and per digit, the scale-sensitive probe,
    and the representation metrics of the top level's probe features."""
    model.eval()
    with torch.no_grad():
        fit, ev, nxt = (model.settle(v.to(model.device), opts.steps, record=False).final.mean(2).cpu()  # b l d
                        for v in (probe_fit.images[:, 0], probe_eval.images[:, 0], probe_eval.images[:, 1]))
    acc_level = [linear_probe(fit[:, l], probe_fit.labels, ev[:, l], probe_eval.labels) for l in range(opts.levels)]
    top = ev[:, -1]
    correct = linear_probe(fit[:, -1], probe_fit.labels, top, probe_eval.labels, return_correct=True)
    raw = linear_probe(fit[:, -1], probe_fit.labels, top, probe_eval.labels, standardise=False)
    model.train()
    return {"accuracy": acc_level[-1], **{f"accuracy_level{l}": a for l, a in enumerate(acc_level)},
            "accuracy_raw": raw, "norm": mean_norm(top), "spread": mean_norm(top - top.mean(0)),
            "dimension_std": float(dimension_std(top).mean()), "effective_rank": effective_rank(top, centre=True),
            "alignment": alignment(top, nxt[:, -1]), "uniformity": uniformity(top),
            "probe_correct": correct.double().numpy(),
            "centred_norm": (top - top.mean(0)).double().norm(dim=1).numpy()}


PER_DIGIT = ("probe_correct", "centred_norm")


def run_dataset(trainer) -> xr.Dataset:
    """A run's evaluations (scalars along ``update``, per-digit ones along ``update, sample``)
    and its training metrics along ``train_update``."""
    evals = trainer.evaluations
    scalars = evaluations_dataset([{k: v for k, v in e.items() if k not in PER_DIGIT} for e in evals])
    per_digit = xr.Dataset({k: (("update", "sample"), np.stack([e[k] for e in evals])) for k in PER_DIGIT
                            if k in evals[0]},
                           coords={"update": scalars["update"]})
    hist = history_dataset(trainer.history).reset_coords(drop=True)  # the phase is kept once, as schedule_phase
    hist = hist.rename({k: f"train_{k}" for k in hist.data_vars}).rename({"update": "train_update"})
    return xr.merge([scalars, per_digit, hist], join="outer")


def summary_table(ds: xr.Dataset) -> str:
    rows = [f"{'schedule':<16}{'updates':>8}{'acc start':>11}{'acc final':>11}{'spread final':>14}{'rank final':>12}"]
    for n in ds.schedule.values:
        final = {v: float(final_readout(ds, n, v).mean()) for v in ("accuracy", "spread", "effective_rank")}
        rows.append(f"{n:<16}{int(ds.length.sel(schedule=n)):>8}"
                    f"{float(ds.accuracy.sel(schedule=n, update=0).mean()):>11.3f}{final['accuracy']:>11.3f}"
                    f"{final['spread']:>14.3f}{final['effective_rank']:>12.2f}")
    return "\n".join(rows) + "\n(final: mean over the last full wake+sleep cycle or 10 % of updates, the longer)"


def video_source(opts: Options, seed: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]:
    """Glyphs ``[m, 1, k, k]``, labels ``[m]`` and the indices of the training and held-out
    split: scikit-learn's digits split 70/30 by the seed, or MNIST's own train and test files."""
    if opts.data == "mnist":
        train, test = load_mnist(opts.data_dir, "train"), load_mnist(opts.data_dir, "test")
        n = len(train.labels)
        return (torch.cat([train.images, test.images]), torch.cat([train.labels, test.labels]), np.arange(n),
                n + np.arange(len(test.labels)))
    digits = load_digits(8)
    train_idx, test_idx = split_indices(len(digits.labels), TEST_FRACTION, seed)
    return digits.images, digits.labels, train_idx, test_idx


def figures(ds: xr.Dataset, opts: Options, out: Path) -> None:
    import matplotlib.pyplot as plt

    names = list(ds.schedule.values)
    n_seeds = ds.sizes["seed"]
    quality = "accuracy" if "accuracy" in ds else "object_ari_mean"
    quality_label = "probe accuracy" if quality == "accuracy" else "object ARI"
    fig, axes = plt.subplots(len(names), 2, figsize=(9, 2.2 * len(names)), squeeze=False)
    for row, n in zip(axes, names):
        e = ds.sel(schedule=n).dropna("update", how="all", subset=[quality])
        ph = ds.schedule_phase.sel(schedule=n).values
        for ax, var, label in zip(row, (quality, "spread"), (quality_label, "spread of the top level")):
            mean = e[var].mean("seed")
            ax.plot(e["update"], mean, marker=".", label=f"mean of {n_seeds} seeds")
            if n_seeds > 1:  # +-1 standard error over seeds
                se = e[var].std("seed") / np.sqrt(n_seeds)
                ax.fill_between(e["update"], mean - se, mean + se, alpha=0.3, lw=0, label="+-1 s.e. over seeds")
            sleep = np.flatnonzero(ph == "sleep")
            if len(sleep):  # shade sleep updates
                starts = sleep[np.r_[True, np.diff(sleep) > 1]]
                ends = sleep[np.r_[np.diff(sleep) > 1, True]]
                for i, (a, b) in enumerate(zip(starts, ends)):
                    ax.axvspan(a, b + 1, color="0.85", lw=0, label="sleep (negative phase)" if i == 0 else None)
            ax.set_ylabel(label)
            ax.set_title(n, fontsize=8)
        row[0].set_ylim(0, 1)
    axes[0, 0].legend(fontsize=6)
    axes[-1, 0].set_xlabel("update")
    axes[-1, 1].set_xlabel("update")
    fig.tight_layout()
    save_figure(fig, out / "curves.png")

    dep, inter = find_schedule(ds, "deprivation"), find_schedule(ds, "interleaved")
    if dep is not None:
        e = ds.sel(schedule=dep).dropna("update", how="all", subset=[quality])
        fig, ax = plt.subplots(figsize=(5, 3))
        mean = e[quality].mean("seed")
        ax.plot(e["update"], mean, marker=".")
        if n_seeds > 1:
            se = e[quality].std("seed") / np.sqrt(n_seeds)
            ax.fill_between(e["update"], mean - se, mean + se, alpha=0.3, lw=0)
        for x in (opts.pre, opts.pre + opts.deprived):
            ax.axvline(x, color="k", lw=0.5)
        ax.set_xlabel("update (both phases | wake only | sleep)")
        ax.set_ylabel(quality_label)
        ax.set_title("deprivation and recovery (+-1 s.e. over seeds)", fontsize=9)
        fig.tight_layout()
        save_figure(fig, out / "recovery.png")

    blocks = [int(b) for b, k in zip(ds.block.values, ds.kind.values) if k == "day-night"]
    if inter is not None and blocks:
        def final(name):
            per_seed = final_readout(ds, name, quality).values
            return per_seed.mean(), per_seed.std() / np.sqrt(len(per_seed)) if len(per_seed) > 1 else 0.0

        fig, ax = plt.subplots(figsize=(4.5, 3))
        acc = [final(find_schedule(ds, "day-night", b)) for b in blocks]
        ax.errorbar(blocks, [a[0] for a in acc], yerr=[a[1] for a in acc], marker="o", capsize=2, label="day-night")
        ax.set_xscale("log")
        ref, ref_se = final(inter)
        ax.axhline(ref, color="k", ls="--", label="interleaved")
        ax.axhspan(ref - ref_se, ref + ref_se, color="k", alpha=0.1, lw=0)
        ax.set_xticks(blocks, [str(b) for b in blocks])
        ax.set_xlabel("updates per phase (block length)")
        ax.set_ylabel(f"final {quality_label}")
        ax.set_title("W1 (+-1 s.e. over seeds)", fontsize=9)
        ax.legend(fontsize=7)
        fig.tight_layout()
        save_figure(fig, out / "block_length.png")


if __name__ == "__main__":
    raise SystemExit(run_script(main))
