"""The giant distillery (claims D1-D5 of docs/claims.md; Hinton 2023, section 12.1): can
columns that each own their nets, trained by co-distillation toward the consensus, do
what weight sharing does -- and do they cope better with a foveated retina?

    python simulations/distillery.py            # 3 seeds, 2-core CPU sized (README: time)
    python simulations/distillery.py --quick    # seconds, 1 seed
    python simulations/distillery.py --preset gpu --device cuda
    python simulations/distillery.py --data scenes --image-size 16 --radius 1,2,4   # the part-whole scenes

On scikit-learn's centred digits (embedded), with one region masked out of each input,
for each seed (weights, split and data stream change with it), trains the same model
with the same data and budget in each condition -- ``shared``, ``unshared`` and
``distilled``, which differ from ``unshared`` in the teacher only (bioglom.learning.conditions)
-- under ``temporal_derivative`` (``--rules`` adds ``delta``): on a uniform retina all
three, and ``distilled`` once more with a location input to its top-down nets (D5); on a
foveated retina (bioglom/retina.py) ``shared`` and ``unshared`` (D4). ``--backprop`` adds
``shared`` under backprop as a reference. Every ``--eval-every`` updates it records the
probe accuracy, denoising error and dispersion curves; at the end, per held-out digit:
the linear probe's correctness, the dispersion of the column nets on common inputs drawn
from the data (before and after training) and the ensemble ratio on each digit's ink
columns. D1-D5 come with 95 % intervals over seeds and samples
(bioglom.analysis.distillery_claims). Writes ``distillery.nc``, ``quality.png``,
``dispersion.png`` and ``gap.png``; every run checkpoints to ``--out/checkpoints`` and
``--resume`` continues it to the same result.

With ``--data scenes`` the conditions train on the islands simulation's part-whole scenes
(bioglom.data.scene_task) beside the positive controls trained on the same scenes with
the same budget (shared columns: ``backprop`` with the islands recipe, label-free, and
``backprop label-trained``; bioglom.learning.controls); quality is the settled top
level's foreground ARI against the objects (D3-D5 compare it), with the error of filling
in a removed part, D2's objects are the scenes' ground-truth objects, and Q0-Q3 say how
much of the control's gain each condition reaches (bioglom.analysis.scene_quality).

Quality "against the number of training images" is recorded against updates with the
coordinate ``images`` = updates x batch: each update draws a fresh batch from the
training split.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from bioglom import Glom, GlomConfig
from bioglom.analysis import (claims_dataset, column_outputs, dispersion, distillery_claims, evaluations_dataset,
                              format_claims, history_dataset, ink_columns, linear_probe, net_inputs,
                              object_ensemble_ratio, run_attrs, settled_features, stack_datasets, write_netcdf)
from bioglom.analysis.figures import save_figure
from bioglom.cli import ModelOptions, option, run_identity, run_script, start_run, stopped_status
from bioglom.config import RETINAS, ConfigError, check_choice, check_positive
from bioglom.consensus import normalise
from bioglom.analysis.scene_quality import fraction_table, scene_claims, scene_dataset, scene_quality
from bioglom.distributed import ShardedGlom, ShardedRule, checkpoint_path, init_from_environment, plan_shard
from bioglom.data import SceneTask, column_labels, load_digits, mask_regions, masked_batch, split_indices
from bioglom.learning import HIDDEN_CREDITS, Batch, NonFiniteError, Trainer, build_rule
from bioglom.seeding import generator
from bioglom.learning.conditions import CONDITIONS, condition_config, condition_teacher
from bioglom.learning.controls import LABEL_TRAINED, POSITIVE_CONTROLS, control_options

LOCAL_RULES = ("delta", "temporal_derivative")
DIRECTIONS = ("bottom_up", "top_down")


@dataclass
class Options(ModelOptions):
    out: str = option("results/distillery", "output folder")
    seeds: int = option(3, "seeds run (seed, seed+1, ...): weights, split and data stream change with each")
    stop_after: int = option(0, "stop every run after this many updates of this invocation, as a kill would (0: never)")
    data: str = option("digits", "scikit-learn's digits (probe accuracy), or the part-whole scenes (island ARI, "
                       "fill-in, beside the positive controls)", choices=("digits", "scenes"))
    test_scenes: int = option(256, "--data scenes: held-out test scenes per seed")
    val_scenes: int = option(128, "--data scenes: validation scenes per seed (island thresholds)")
    # model
    image_size: int = option(12, "canvas side in pixels (digits: the 8x8 digit is centred)")
    radius: tuple[int, ...] = option((1, 2, 5), "window radius per level (comma-separated)")
    retinas: tuple[str, ...] = option(RETINAS, "retinas to compare (comma-separated)")
    fixation: tuple[float, ...] = option((), "foveated retina: fixation (row, column) of the column grid; empty: centre")
    foveation: float = option(2.0, "foveated retina: warp exponent (>= 1; 1 is uniform)")
    aberration: float = option(0.0, "foveated retina: radial channel shift in pixels at the edge (0: none)")
    # conditions and learning
    conditions: tuple[str, ...] = option(CONDITIONS, "conditions (comma-separated)")
    rules: tuple[str, ...] = option(("temporal_derivative",), "local rules (comma-separated); each runs every condition")
    backprop: bool = option(False, "also train shared columns by backprop on the uniform retina, a reference")
    location_check: bool = option(True, "D5: also train distilled columns with a location input to top-down nets")
    hidden_credit: str = option("feedback_alignment", "hidden credit of temporal_derivative", choices=HIDDEN_CREDITS)
    steps: int = option(4, "settling steps")
    updates: int = option(300, "training updates per run (the same budget in every condition)")
    batch: int = option(32, "digits per update")
    lr: float = option(2e-3, "Adam learning rate")
    negative_weight: float = option(1.0, "weight of the negative hinge")
    margin: float = option(1.0, "hinge margin (squared distance per dimension)")
    mask_regions: int = option(1, "regions removed from each input")
    mask_min: int = option(2, "smallest removed region side (pixels)")
    mask_max: int = option(4, "largest removed region side (pixels)")
    # evaluation
    eval_every: int = option(100, "updates between evaluations of the curves")
    probe_limit: int = option(0, "digits per split used by the probe (0: all)")
    probe_inputs: int = option(64, "common inputs from the data on which dispersion compares the column nets")
    checkpoint_every: int = option(100, "updates between checkpoints")
    progress: bool = option(True, "show a progress bar")
    distributed: bool = option(False, "shard every run's columns by rows of the grid across the processes that "
                               "torchrun starts (bioglom.distributed): torchrun --nproc-per-node K "
                               "simulations/distillery.py --distributed --no-backprop; local rules on digits only")

    def glom_config(self, retina: str, condition: str, location: bool | None = None, seed: int | None = None
                    ) -> GlomConfig:
        base = GlomConfig(levels=self.levels, dim=self.dim, hidden=self.hidden, image_size=self.image_size,
                          patch_size=self.patch_size, channels=SceneTask.channels if self.data == "scenes" else 1,
                          radius=self.radius,
                          seed=self.seed if seed is None else seed, td_location=location or None, retina=retina,
                          fixation=tuple(self.fixation) or None, foveation=self.foveation,
                          aberration=self.aberration if retina == "foveated" else 0.0)
        return condition_config(base, condition)

    def runs(self) -> list["Run"]:
        """Every training run of a seed, in report order."""
        out = []
        for retina in self.retinas:
            conds = self.conditions if retina == self.retinas[0] else [c for c in self.conditions if c != "distilled"]
            for cond in conds:
                out += [Run(retina, cond, rule) for rule in self.rules]
                if cond == "shared" and self.backprop and retina == self.retinas[0]:
                    out.append(Run(retina, "shared", "backprop"))
            if retina == self.retinas[0] and self.location_check and "distilled" in self.conditions:
                out += [Run(retina, "distilled", rule, True) for rule in self.rules]
            if retina == self.retinas[0] and self.data == "scenes":  # the positive controls, shared columns
                out += [Run(retina, "shared", c) for c in POSITIVE_CONTROLS if not (c == "backprop" and self.backprop)]
        return out

    def task(self) -> SceneTask:
        return SceneTask(image_size=self.image_size, val_scenes=self.val_scenes, test_scenes=self.test_scenes)

    def rule_options(self, rule: str, condition: str) -> dict:
        common = dict(steps=self.steps, negative_weight=self.negative_weight, margin=self.margin)
        if self.data == "scenes" and rule in POSITIVE_CONTROLS:
            return control_options(rule, self.steps)
        if rule == "backprop":
            return common
        extra = {"hidden_credit": self.hidden_credit} if rule == "temporal_derivative" else {}
        return dict(common, teacher=condition_teacher(condition), **extra)

    def validate(self) -> None:
        if self.fixation and len(self.fixation) != 2:
            raise ConfigError(f"fixation={self.fixation!r} is not allowed; give two numbers, row and column")
        for name, values, allowed in (("retinas", self.retinas, RETINAS), ("conditions", self.conditions, CONDITIONS),
                                      ("rules", self.rules, LOCAL_RULES)):
            if not values:
                raise ConfigError(f"{name}=() is not allowed; give at least one of {list(allowed)}")
            for v in values:
                check_choice(name, v, allowed)
        for retina in self.retinas:
            for cond in self.conditions:
                self.glom_config(retina, cond)  # raises ConfigError naming the field
        if self.image_size < 8 and self.data == "digits":
            raise ConfigError(f"image_size={self.image_size} is not allowed; the digits are 8x8, so it must be >= 8")
        if self.data == "scenes":
            self.task().check()
        for name in ("seeds", "steps", "updates", "batch", "eval_every", "probe_inputs", "checkpoint_every",
                     "test_scenes", "val_scenes"):
            check_positive(name, getattr(self, name), integer=True)
        for name in ("stop_after", "probe_limit", "mask_regions"):
            check_positive(name, getattr(self, name), strict=False, integer=True)
        check_positive("lr", self.lr)
        if not 1 <= self.mask_min <= self.mask_max <= self.image_size:
            raise ConfigError(f"mask_min={self.mask_min}, mask_max={self.mask_max} are not allowed; "
                              f"need 1 <= mask_min <= mask_max <= image_size ({self.image_size})")
        for rule in self.rules:
            build_rule(rule, **self.rule_options(rule, "distilled"))
        if self.distributed and (self.backprop or self.data == "scenes"):
            raise ConfigError(f"distributed=True is not allowed with backprop={self.backprop} or data={self.data!r}: "
                              "those runs learn by backprop through time, which does not cross processes; "
                              "give --no-backprop and --data digits")


@dataclass(frozen=True)
class Run:
    """One training run of a seed: retina, condition, rule, and whether the top-down nets
    take a location input. ``name`` labels it along the ``run`` dimension."""

    retina: str
    condition: str
    rule: str
    location: bool = False

    @property
    def name(self) -> str:
        return f"{self.retina} {self.condition}{' +location' if self.location else ''} {self.rule}"


PRESETS = {
    "quick": dict(seeds=1, updates=4, eval_every=2, probe_limit=80, dim=8, hidden=16, levels=2, radius=(1, 5),
                  batch=4, steps=2, checkpoint_every=2, probe_inputs=8, rules=LOCAL_RULES, backprop=True),
    "gpu": dict(levels=4, dim=64, hidden=256, image_size=16, radius=(1, 2, 4, 7), batch=128, steps=6, updates=4000,
                eval_every=250, seeds=5, rules=LOCAL_RULES, backprop=True),
}


def main(argv=None) -> int:
    opts, device, out = start_run(Options, argv, description=__doc__.split("\n\n")[0], presets=PRESETS)
    seeds = list(range(opts.seed, opts.seed + opts.seeds))
    runs = opts.runs()
    rank, world = 0, 1
    if opts.distributed:
        rank, world = init_from_environment()
        for run in runs:  # a world size that does not divide the grid's rows stops every process here
            plan_shard(opts.glom_config(run.retina, run.condition, run.location), rank, world)
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(device)
    finals, trainers, status = [], {}, "complete"
    for seed in seeds:
        result, done, status = run_seed(opts, seed, runs, device, out, rank, world)
        trainers.update({(seed, k): v for k, v in done.items()})
        if status != "complete":
            break
        finals.append(result)
    if rank != 0:  # every process trained its rows and took part in the evaluations; process 0 reports
        return 0 if status == "complete" else 1

    curves = stack_datasets({k: run_curves(t) for k, t in trainers.items()}, ("seed", "run"))
    curves = curves.assign_coords(images=("update", curves["update"].values * opts.batch))
    attrs = run_attrs(dataclasses.asdict(opts), opts.seed,
                      model_config=opts.glom_config(opts.retinas[0], "distilled").to_json())
    if status != "complete":
        write_netcdf(curves.assign_attrs(attrs, status=status), out / "distillery.nc")
        print(status, file=sys.stderr)
        return 1

    scenes = None
    if opts.data == "scenes":
        names = ["untrained"] + [r.name for r in runs]
        scenes = scene_dataset({(s, n): f[1][n] for s, f in zip(seeds, finals) for n in names}, ("seed", "run"),
                               [(s, n) for s in seeds for n in names])
        finals = [f[0] for f in finals]
    ds = xr.merge([xr.concat(finals, "seed").assign_coords(seed=seeds), curves], join="outer",
                  combine_attrs="drop_conflicts").reindex(run=[r.name for r in runs])
    ds = ds.assign_coords(retina=("run", [r.retina for r in runs]), condition=("run", [r.condition for r in runs]),
                          rule=("run", [r.rule for r in runs]), location=("run", [r.location for r in runs]))
    claims = []
    quality = None if scenes is None else scenes.object_ari.sel(moment="settled", run=ds.run.values)
    for rule in opts.rules:
        rows = distillery_claims(ds, rule, quality=quality)
        claims += [c._replace(id=f"{c.id} {rule}") for c in rows] if len(opts.rules) > 1 else rows
    if scenes is not None:
        trained = [r.name for r in runs if r.rule != LABEL_TRAINED]
        control = next(r.name for r in runs if r.rule == LABEL_TRAINED)
        claims += scene_claims(scenes, "run", trained, "untrained", control)
        # along "settling": the bottom-up pass and after settling ("moment" is before and after training here)
        ds = xr.merge([ds, scenes.rename(moment="settling", run="scene_run")], join="outer",
                      combine_attrs="drop_conflicts")
    ds = xr.merge([claims_dataset(claims), ds], join="outer", combine_attrs="drop_conflicts")
    ds.attrs.update(attrs, status=status)
    path = write_netcdf(ds, out / "distillery.nc")
    figures(ds, out)

    print(f"\nThe giant distillery on {opts.data}: {len(seeds)} seeds, {opts.updates} updates of {opts.batch} per run, "
          f"{opts.steps} steps; means over seeds")
    print(summary_table(ds))
    if scenes is not None:
        controls = [r.name for r in runs if r.rule in POSITIVE_CONTROLS]
        print(fraction_table(scenes, "run", "untrained", controls))
    print(format_claims(claims))
    print(f"wrote {path}")
    return 0


def run_curves(trainer: Trainer) -> xr.Dataset:
    """A run's evaluations along ``update`` and its training metrics along ``train_update``."""
    hist = history_dataset(trainer.history).reset_coords(drop=True)
    hist = hist.rename({k: f"train_{k}" for k in hist.data_vars}).rename({"update": "train_update"})
    return xr.merge([evaluations_dataset(trainer.evaluations), hist], join="outer")


def run_seed(opts: Options, seed: int, runs: list[Run], device, out: Path, rank: int = 0, world: int = 1):
    """Train every run of one seed; return ``(final measurements, trainers, status)``; on
    scenes the final measurements are ``(dataset, {run: scene quality})``, the untrained
    network (the first run's config at its initial weights) under ``"untrained"``. With
    ``--distributed`` this process trains its rows of the columns (rank of world) and every
    process evaluates the assembled model."""
    if opts.data == "scenes":
        task = opts.task()
        held = task.held_out(seed)
        split = dict(held=held, images=held.test.images, corrupted=held.corrupted)

        def batch_source(run: Run):
            labels = (opts.patch_size, opts.levels) if run.rule == LABEL_TRAINED else None
            return lambda u: Batch(*task.batch(seed, u, opts.batch, labels_for=labels))
    else:
        data = load_digits(opts.image_size)
        train, test = split_indices(len(data.labels), 0.25, seed)
        limit = opts.probe_limit or None  # the probe's digits; training draws from the whole training split
        test = test[:limit]
        corrupted, _ = mask_regions(data.images[test], opts.mask_regions, opts.mask_min, opts.mask_max,
                                    generator(seed, "test_masks"))
        split = dict(data=data, train=train[:limit], test=test, corrupted=corrupted, images=data.images[test])

        def batch_source(run: Run):
            return lambda u: Batch(*masked_batch(data.images, train, u, batch=opts.batch, regions=opts.mask_regions,
                                                 min_size=opts.mask_min, max_size=opts.mask_max, seed=seed))

    finals, scenes, trainers = [], {}, {}
    if opts.data == "scenes":
        first = runs[0]
        untrained = Glom(opts.glom_config(first.retina, first.condition, first.location, seed)).to(device)
        scenes["untrained"] = scene_quality(untrained, opts.steps, held)
    for run in runs:
        cfg = opts.glom_config(run.retina, run.condition, run.location, seed)
        model = Glom(cfg).to(device)
        rule = build_rule("backprop" if run.rule in POSITIVE_CONTROLS else run.rule,
                          **opts.rule_options(run.rule, run.condition))
        trained = model
        if opts.distributed:
            trained, rule = ShardedGlom(model, rank, world), ShardedRule(rule)
        checkpoint = checkpoint_path(out / "checkpoints", f"seed{seed}-{run.name.replace(' ', '-')}", rank, world,
                                     opts.distributed, opts.resume)
        trainer = Trainer(trained, rule, batch_source(run),
                          updates=opts.updates, lr=opts.lr, seed=seed, checkpoint_every=opts.checkpoint_every,
                          checkpoint=checkpoint,
                          progress=opts.progress and rank == 0, label=f"distillery seed {seed} {run.name}",
                          data=run_identity(opts, ("seed", "seeds", "updates", "conditions", "rules", "retinas",
                                                   "backprop", "location_check")))
        trainers[run.name] = trainer

        def whole() -> Glom:  # what evaluations read: the model, its shards gathered when distributed
            return trained.assemble(model) if opts.distributed else model

        try:
            trainer.run(resume=opts.resume, stop_after=opts.stop_after or None,
                        evaluate=lambda u: curve_point(whole(), opts, split), evaluate_every=opts.eval_every)
        except (NonFiniteError, KeyboardInterrupt) as e:
            status = stopped_status(e, f"seed {seed} {run.name}")
            print(f"error: {status}", file=sys.stderr)
            return None, trainers, status
        if trainer.update < opts.updates:
            return None, trainers, (f"stopped after {trainer.update} of {opts.updates} updates of seed {seed} "
                                    f"{run.name} (--stop-after); continue with --resume")
        start = Glom(cfg).to(device)  # the same config and seed: the run's initial weights
        final = final_measures(whole(), start, opts, split, seed)
        if opts.distributed:
            sent = trained.bytes_per_step()
            final["halo_bytes_per_step"] = sent
            if rank == 0:
                print(f"{run.name}, seed {seed}: {world} processes sent {sent:,.0f} bytes per settling step (halo rows)")
        finals.append(final.expand_dims(run=[run.name]))
        if opts.data == "scenes":
            model.eval()
            scenes[run.name] = scene_quality(model, opts.steps, held)
    final = xr.concat(finals, "run")
    return (final, scenes) if opts.data == "scenes" else final, trainers, "complete"


@torch.no_grad()
def curve_point(model: Glom, opts: Options, split: dict) -> dict:
    """Quality (probe accuracy on digits; settled object ARI and fill-in error on scenes),
    denoising error and pooled dispersion per direction, for the curves."""
    model.eval()
    images = split["images"]
    if "held" in split:
        q = scene_quality(model, opts.steps, split["held"])
        quality = {"object_ari_mean": float(np.nanmean(q["object_ari"][-1])),
                   "fill_error_mean": float(q["fill_error"][-1].mean())}
    else:
        data, train, test = split["data"], split["train"], split["test"]
        quality = {"accuracy": linear_probe(settled_features(model, data.images[train], opts.steps), data.labels[train],
                                            settled_features(model, images, opts.steps), data.labels[test])}
    recon = model.decode(model.settle(split["corrupted"].to(model.device), opts.steps, record=False).final[:, 0])
    denoise = float(((recon - model.retinal(images.to(model.device))) ** 2).mean())
    inputs = net_inputs(model, images[:256], opts.steps, opts.probe_inputs, torch.Generator().manual_seed(0))
    disp = {d: float(dispersion(column_outputs(model, inputs[d], d)).mean()) for d in DIRECTIONS}
    model.train()
    return {**quality, "denoise_mse": denoise, **{f"dispersion_{d}": v for d, v in disp.items()}}


@torch.no_grad()
def final_measures(model: Glom, start: Glom, opts: Options, split: dict, seed: int) -> xr.Dataset:
    """Per-sample measurements of a trained model (and of its initial weights, ``start``,
    for dispersion and the ensemble ratio) that distillery_claims reads."""
    model.eval()
    images = split["images"]
    out = {}
    if "held" in split:
        objects = column_labels(split["held"].test, opts.patch_size, opts.levels)[:, 1]  # b n, 0: background
        members = [objects == k for k in range(1, int(objects.max()) + 1)]  # one mask per object of a scene
    else:
        data, train, test = split["data"], split["train"], split["test"]
        correct = linear_probe(settled_features(model, data.images[train], opts.steps), data.labels[train],
                               settled_features(model, images, opts.steps), data.labels[test], return_correct=True)
        out["probe_correct"] = ("sample", correct.double().numpy())
    recon = model.decode(model.settle(split["corrupted"].to(model.device), opts.steps, record=False).final[:, 0])
    denoise = ((recon - model.retinal(images.to(model.device))) ** 2).flatten(1).mean(1).cpu()
    disp = []
    for m in (start, model):  # the same images and (image, column) positions for both, each model's own states
        inputs = net_inputs(m, images[:256], opts.steps, opts.probe_inputs, generator(seed, "net_inputs"))
        disp.append(torch.stack([dispersion(column_outputs(m, inputs[d], d), per_input=True).mean(1)
                                 for d in DIRECTIONS]).mean(0).cpu())  # input
    ratio = []
    for m in (start, model):
        traj = m.settle(images.to(m.device), opts.steps, record=False)
        predictions = normalise(traj.bottom_up[-1], m.cfg.norm)  # the students' last votes
        if "held" in split:  # every ground-truth object of a scene, then their mean
            per_object = torch.stack([object_ensemble_ratio(predictions, traj.final, k.to(m.device)).cpu()
                                      for k in members]).double().numpy()  # object b l; NaN: absent object
            with warnings.catch_warnings():  # a scene with fewer objects than the most has NaN slots
                warnings.simplefilter("ignore", RuntimeWarning)
                ratio.append(torch.from_numpy(np.nanmean(per_object, 0)))
        else:
            ratio.append(object_ensemble_ratio(predictions, traj.final, ink_columns(m, images)).cpu())
    model.train()
    return xr.Dataset({
        **out,
        "denoise_error": ("sample", denoise.double().numpy()),
        "dispersion_inputs": (("moment", "input"), torch.stack(disp).double().numpy()),
        "ensemble_ratio": (("moment", "sample"), np.nanmean(torch.stack(ratio).double().numpy(), -1)),
    }, coords={"moment": ["start", "end"]})


def final_quality(ds: xr.Dataset) -> xr.DataArray:
    """Per-sample quality of every run: probe correctness on digits, the settled object ARI on scenes."""
    if "probe_correct" in ds:
        return ds.probe_correct
    return ds.object_ari.sel(settling="settled").rename(scene_run="run").sel(run=ds.run.values)


def summary_table(ds: xr.Dataset) -> str:
    m = ds.mean("seed")
    quality = final_quality(ds).mean("seed")
    rows = [f"{'run':<50}{'probe' if 'probe_correct' in ds else 'obj ARI':>7}{'denoise':>9}{'disp start':>11}"
            f"{'disp end':>9}{'ens. ratio':>11}"]
    for n in ds.run.values:
        e = m.sel(run=n)
        rows.append(f"{n:<50}{float(quality.sel(run=n).mean()):>7.3f}{float(e.denoise_error.mean()):>9.4f}"
                    f"{float(e.dispersion_inputs.sel(moment='start').mean()):>11.3f}"
                    f"{float(e.dispersion_inputs.sel(moment='end').mean()):>9.3f}"
                    f"{float(e.ensemble_ratio.sel(moment='end').mean()):>11.3f}")
    return "\n".join(rows)


def figures(ds: xr.Dataset, out: Path) -> None:
    import matplotlib.pyplot as plt

    retinas = list(dict.fromkeys(ds.retina.values.tolist()))
    mean = ds.mean("seed")
    curve = "accuracy" if "accuracy" in ds else "object_ari_mean"
    fig, axes = plt.subplots(len(retinas), 2, figsize=(10, 3.2 * len(retinas)), squeeze=False)
    for row, retina in zip(axes, retinas):
        for n in ds.run.values[ds.retina.values == retina]:
            e = mean.sel(run=n).dropna("update", subset=[curve])
            ls = "--" if "delta" in n else (":" if "backprop" in n else "-")
            row[0].plot(e["images"], e[curve], ls=ls, marker=".", label=n.split(" ", 1)[1])
            row[1].plot(e["images"], e.denoise_mse, ls=ls, marker=".")
        row[0].set_ylabel(f"{retina} retina:\n" + ("probe accuracy" if curve == "accuracy" else "object ARI"))
        row[1].set_ylabel(f"{retina} retina:\ndenoising error (MSE)")
        row[0].legend(fontsize=6)
    for ax in axes[-1]:
        ax.set_xlabel("training images")
    fig.suptitle("mean over seeds", fontsize=9)
    fig.tight_layout()
    save_figure(fig, out / "quality.png")

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    for ax, d in zip(axes, DIRECTIONS):
        for n in ds.run.values:
            if str(ds.condition.sel(run=n).values) == "shared":
                continue  # 0 by construction: one net
            e = mean.sel(run=n).dropna("update", subset=[curve])
            ax.plot(e["update"], e[f"dispersion_{d}"], marker=".", label=n, ls="--" if "delta" in n else "-")
        ax.set_title(f"dispersion of the {d.replace('_', '-')} nets on data inputs", fontsize=9)
        ax.set_xlabel("update")
    axes[0].set_ylabel("spread across columns / mean output norm")
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    save_figure(fig, out / "dispersion.png")

    from bioglom.analysis import find_run

    fig, ax = plt.subplots(figsize=(5, 3.2))
    rules = [r for r in dict.fromkeys(ds.rule.values.tolist()) if r != "backprop"]
    acc = final_quality(ds).mean("sample")  # seed run
    bars = [(retina, cond) for retina in retinas for cond in ("unshared", "distilled")]
    width = 0.8 / len(bars)
    for i, (retina, cond) in enumerate(bars):
        gaps, errs = [], []
        for rule in rules:
            a, b = find_run(ds, retina, "shared", rule), find_run(ds, retina, cond, rule)
            g = (acc.sel(run=a) - acc.sel(run=b)).values if a is not None and b is not None else np.array([np.nan])
            gaps.append(float(np.mean(g)))
            errs.append(float(np.std(g) / np.sqrt(len(g))) if len(g) > 1 else 0.0)
        ax.bar(np.arange(len(rules)) + i * width, gaps, width, yerr=errs, capsize=2, label=f"{retina} retina, {cond}")
    ax.set_xticks(np.arange(len(rules)) + width * (len(bars) - 1) / 2, rules)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_ylabel(("probe accuracy" if curve == "accuracy" else "object ARI") + ": shared minus condition")
    ax.set_title("the gap to shared weights (s.e. over seeds)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out / "gap.png")


if __name__ == "__main__":
    raise SystemExit(run_script(main))
