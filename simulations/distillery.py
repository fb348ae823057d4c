"""The giant distillery (claims D1-D5 of docs/claims.md; Hinton 2023, section 12.1): can
columns that each own their nets, trained by co-distillation toward the consensus, do
what weight sharing does -- and do they cope better with a foveated retina?

    python simulations/distillery.py            # 5 seeds, 2-core CPU sized (README: time)
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
(bioglom.experiments.distillery.claims). Writes ``distillery.nc``, ``quality.png``,
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

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import xarray as xr

from bioglom import Glom, GlomConfig
from bioglom.analysis import stack_datasets
from bioglom.analysis.figures import save_figure
from bioglom.analysis.scene_quality import fraction_table, scene_claims, scene_dataset, scene_part, scene_quality
from bioglom.cli import AnticollapseOptions, DataOptions, MaskOptions, defaults, model_option, option, run_identity, run_script, start_run
from bioglom.config import RETINAS, ConfigError, check_positive
from bioglom.jobs import JOBS_HELP, check_jobs, resolve_jobs
from bioglom.data import load_digits, split_indices
from bioglom.distributed import ShardedGlom, ShardedRule, checkpoint_path, init_from_environment, plan_shard
from bioglom.experiments.distillery import (DIRECTIONS, distillery_claims, distillery_figures, distillery_finals,
                                            distillery_point, distillery_table)
from bioglom.experiment import (COMPLETE, attrs_of, over_seeds, report, run_dataset, seeds_of, train, write_partial,
                                write_result)
from bioglom.learning import HIDDEN_CREDITS, Batch, Trainer, build_rule
from bioglom.learning.conditions import CONDITIONS, TEACHING, condition_config, teacher_options
from bioglom.learning.controls import GROUPING_WEIGHT, LABEL_TRAINED, POSITIVE_CONTROLS, control_options
from bioglom.seeding import generator

LOCAL_RULES = ("delta", "temporal_derivative")


@defaults(out="results/distillery",
          image_size=model_option("image_size", 12, "canvas side in pixels (digits: the 8x8 digit is centred)"),
          batch=option(32, "digits per update"),
          seeds=option(5, "seeds run (seed, seed+1, ...): weights, split and data stream change with each"),
          variance_weight=option(0.1, "local rules: weight of the Hebbian variance term of latent predictive learning "
                                 "(bioglom.learning.anticollapse; 0: none; with --teacher island shared and distilled "
                                 "columns take the island recipe's terms, unshared ones these)"))
class Options(DataOptions, MaskOptions, AnticollapseOptions):
    GROUPED_TEACHERS = ("island",)
    retinas: tuple[str, ...] = option(RETINAS, "retinas to compare (comma-separated)", choices=RETINAS)
    fixation: tuple[float, ...] = model_option("fixation", (), "empty: the centre")
    foveation: float = model_option("foveation")
    aberration: float = model_option("aberration", help="used by the foveated runs only")
    # conditions and learning
    conditions: tuple[str, ...] = option(CONDITIONS, "conditions (comma-separated)", choices=CONDITIONS)
    rules: tuple[str, ...] = option(("temporal_derivative",), "local rules (comma-separated); each runs every "
                                    "condition", choices=LOCAL_RULES)
    backprop: bool = option(False, "also train shared columns by backprop on the uniform retina, a reference")
    location_check: bool = option(True, "D5: also train distilled columns with a location input to top-down nets")
    hidden_credit: str = option("feedback_alignment", "hidden credit of temporal_derivative", choices=HIDDEN_CREDITS)
    teacher: str = option("consensus", "local rules: consensus (the full consensus, for unshared without its lateral "
                          "term), or island (shared and distilled columns learn toward the island target of their "
                          "motion segments, the islands simulation's local recipe; unshared columns keep the "
                          "consensus without its lateral term); needs --grouping motion", choices=TEACHING)
    # evaluation
    eval_every: int = option(100, "updates between evaluations of the curves")
    probe_limit: int = option(0, "digits per split used by the probe (0: all)")
    probe_inputs: int = option(64, "common inputs from the data on which dispersion compares the column nets")
    jobs: int = option(0, JOBS_HELP)
    distributed: bool = option(False, "shard every run's columns by rows of the grid across the processes that "
                               "torchrun starts (bioglom.distributed): torchrun --nproc-per-node K "
                               "simulations/distillery.py --distributed --no-backprop; local rules on digits only")

    def glom_config(self, retina: str, condition: str, location: bool | None = None, seed: int | None = None
                    ) -> GlomConfig:
        base = GlomConfig(**{**self.model_fields(), "fixation": tuple(self.fixation) or None,
                             "aberration": self.aberration if retina == "foveated" else 0.0},
                          channels=self.channels, seed=self.seed if seed is None else seed,
                          td_location=location or None, retina=retina)
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

    def rule_options(self, rule: str, condition: str) -> dict:
        common = dict(steps=self.steps, negative_weight=self.negative_weight, margin=self.margin)
        if self.data == "scenes" and rule in POSITIVE_CONTROLS:
            return control_options(rule, self.steps, GROUPING_WEIGHT if self.grouping != "none" else 0.0)
        if rule == "backprop":
            return common
        extra = {"hidden_credit": self.hidden_credit} if rule == "temporal_derivative" else {}
        # under the island teacher the recipe's terms replace these where it teaches (not unshared)
        return {**common, **self.anticollapse_options(), **teacher_options(condition, self.teacher), **extra}

    def validate(self) -> None:
        super().validate()
        if self.fixation and len(self.fixation) != 2:
            raise ConfigError(f"fixation={self.fixation!r} is not allowed; give two numbers, row and column")
        for retina in self.retinas:
            for cond in self.conditions:
                self.glom_config(retina, cond)  # raises ConfigError naming the field
        for name in ("eval_every", "probe_inputs"):
            check_positive(name, getattr(self, name), integer=True)
        check_positive("probe_limit", self.probe_limit, strict=False, integer=True)
        for rule in self.rules:
            build_rule(rule, **self.rule_options(rule, "distilled"))
        if self.distributed and (self.backprop or self.data == "scenes"):
            bad = "backprop=True" if self.backprop else f"data={self.data!r}"
            raise ConfigError(f"distributed=True is not allowed with {bad}: that run learns by backprop through time, "
                              "which does not cross processes; give --no-backprop and --data digits")
        check_jobs(self, "distributed=True" if self.distributed else "")

    def fit_defaults(self, given: set[str]) -> None:
        """As :class:`~bioglom.cli.DataOptions`; and ``--jobs`` left at 0 runs a seed per
        process, one process with ``--distributed``."""
        super().fit_defaults(given)
        resolve_jobs(self, allowed=not self.distributed)


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


def claims_of(ds: xr.Dataset, opts: Options, scenes: xr.Dataset | None = None) -> list:
    """The claims of a result over ``seed`` (this run's, or per-seed runs merged by ``python
    -m bioglom.claims distillery``): D1-D5 per rule; on scenes D3-D5 read the settled
    object ARI of ``scenes`` (default: the scene quality the result holds,
    :func:`~bioglom.analysis.scene_quality.scene_part`), then Q0-Q3 of every run."""
    if opts.data == "scenes" and scenes is None:
        scenes = scene_part(ds, settling="moment", scene_run="run")
    quality = None if scenes is None else scenes.object_ari.sel(moment="settled", run=ds.run.values)
    claims = []
    for rule in opts.rules:
        rows = distillery_claims(ds, rule, quality=quality)
        claims += [c._replace(id=f"{c.id} {rule}") for c in rows] if len(opts.rules) > 1 else rows
    if scenes is not None:
        runs = opts.runs()
        trained = [r.name for r in runs if r.rule != LABEL_TRAINED]
        control = next(r.name for r in runs if r.rule == LABEL_TRAINED)
        claims += scene_claims(scenes, "run", trained, "untrained", control)
    return claims


def scenes_table(ds: xr.Dataset, opts: Options) -> str:
    """Each run's share of the positive controls' gain (a scene result)."""
    return fraction_table(scene_part(ds, settling="moment", scene_run="run"), "run", "untrained",
                          [r.name for r in opts.runs() if r.rule in POSITIVE_CONTROLS])


def main(argv=None) -> int:
    opts, device, out = start_run(Options, argv, description=__doc__.split("\n\n")[0], presets=PRESETS)
    if opts.jobs > 1:
        import sys

        from bioglom.jobs import run_seeds_as_jobs

        def summarise(merged):  # the table and pictures of the merged result, as one process prints and draws them
            print(distillery_table(merged))
            if opts.data == "scenes":
                print(scenes_table(merged, opts))
            for name, fig in distillery_figures(merged).items():
                save_figure(fig, out / name, merged.attrs.get("git_commit"))

        return run_seeds_as_jobs(Path(__file__), "distillery", opts, sys.argv[1:] if argv is None else list(argv),
                                 out, summarise)
    runs = opts.runs()
    rank, world = 0, 1
    if opts.distributed:
        rank, world = init_from_environment()
        for run in runs:  # a world size that does not divide the grid's rows stops every process here
            plan_shard(opts.glom_config(run.retina, run.condition, run.location), rank, world)
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(device)
    results, status = over_seeds(opts, lambda seed: run_seed(opts, seed, runs, device, out, rank, world))
    if rank != 0:  # every process trained its rows and took part in the evaluations; process 0 reports
        return 0 if status == COMPLETE else 1

    along, directions = {"dispersion": ("direction",)}, {"direction": list(DIRECTIONS)}
    curves = stack_datasets({(s, n): run_dataset(t, along, directions) for s, trainers, _ in results
                             for n, t in trainers.items()}, ("seed", "run"))
    curves = curves.assign_coords(images=("update", curves["update"].values * opts.batch))
    attrs = attrs_of(opts, model_config=opts.glom_config(opts.retinas[0], "distilled").to_json())
    if status != COMPLETE:
        return write_partial(curves, out / "distillery.nc", attrs, status)

    seeds = seeds_of(opts)
    finals = [r[2] for r in results]
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
    claims = claims_of(ds, opts, scenes)
    tables = []
    if scenes is not None:
        # along "settling": the bottom-up pass and after settling ("moment" is before and after training here)
        ds = xr.merge([ds, scenes.rename(moment="settling", run="scene_run")], join="outer",
                      combine_attrs="drop_conflicts")
        tables.append(scenes_table(ds, opts))
    path = write_result(ds, claims, out / "distillery.nc", attrs)
    for name, fig in distillery_figures(ds).items():
        save_figure(fig, out / name)
    return report(f"The giant distillery on {opts.data}: {len(seeds)} seeds, {opts.updates} updates of {opts.batch} "
                  f"per run, {opts.steps} steps; means over seeds", distillery_table(ds), *tables, claims=claims, path=path)


def run_seed(opts: Options, seed: int, runs: list[Run], device, out: Path, rank: int = 0, world: int = 1):
    """Train every run of one seed; return ``((seed, trainers, final measurements), status)``;
    on scenes the final measurements are ``(dataset, {run: scene quality})``, the untrained
    network (the first run's config at its initial weights) under ``"untrained"``. With
    ``--distributed`` this process trains its rows of the columns (rank of world) and every
    process evaluates the assembled model."""
    if opts.data == "scenes":
        task = opts.task()
        held = task.held_out(seed, opts.patch_size)
        split = dict(held=held, images=held.test.images, corrupted=held.corrupted)

        def batch_source(run: Run):
            labels = (opts.patch_size, opts.levels) if run.rule == LABEL_TRAINED else None
            groups = (opts.patch_size, opts.levels) if opts.grouping != "none" else None
            return lambda u: Batch(*task.batch(seed, u, opts.batch, labels_for=labels, groups_for=groups))
    else:
        data = load_digits(opts.image_size)
        train_idx, test = split_indices(len(data.labels), 0.25, seed)
        limit = opts.probe_limit or None  # the probe's digits; training draws from the whole training split
        test = test[:limit]
        corrupted, _ = opts.masked_test(data.images[test], seed)
        split = dict(data=data, train=train_idx[:limit], test=test, corrupted=corrupted, images=data.images[test])

        def batch_source(run: Run):
            return opts.masked_batches(data.images, train_idx, seed)

    finals, scenes, trainers = [], {}, {}
    if opts.data == "scenes":
        first = runs[0]
        untrained = Glom(opts.glom_config(first.retina, first.condition, first.location, seed)).to(device)
        scenes["untrained"] = scene_quality(untrained, opts.steps, held)
    identity = run_identity(opts, ("seed", "seeds", "updates", "conditions", "rules", "retinas", "backprop",
                                   "location_check"))
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
        trainers[run.name] = trainer = Trainer(
            trained, rule, batch_source(run), updates=opts.updates, lr=opts.lr, seed=seed,
            checkpoint_every=opts.checkpoint_every, checkpoint=checkpoint, progress=opts.progress and rank == 0,
            label=f"distillery seed {seed} {run.name}", data=identity)

        def whole() -> Glom:  # what evaluations read: the model, its shards gathered when distributed
            return trained.assemble(model) if opts.distributed else model

        status = train(trainer, opts, f"seed {seed} {run.name}",
                       lambda u: distillery_point(whole(), split, opts.steps, opts.probe_inputs), opts.eval_every)
        if status != COMPLETE:
            return (seed, trainers, None), status
        start = Glom(cfg).to(device)  # the same config and seed: the run's initial weights
        final = distillery_finals(whole(), start, split, opts.steps, opts.probe_inputs,
                                  lambda: generator(seed, "net_inputs"))
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
    return (seed, trainers, (final, scenes) if opts.data == "scenes" else final), COMPLETE


if __name__ == "__main__":
    raise SystemExit(run_script(main))
