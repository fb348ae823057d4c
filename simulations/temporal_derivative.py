"""Temporal-derivative learning (claims T1-T3 of docs/claims.md; Hinton 2023, sections 7, 12.1, 12.3):
does GLOM learn from local signals -- the consensus, and the rate of change of activity --
and how does that compare with backpropagation through time?

    python simulations/temporal_derivative.py            # 3 seeds, 2-core CPU sized (README: time)
    python simulations/temporal_derivative.py --quick    # seconds, 1 seed
    python simulations/temporal_derivative.py --preset gpu --device cuda
    python simulations/temporal_derivative.py --data scenes --image-size 16 --radius 1,2,4   # the part-whole scenes
    python simulations/temporal_derivative.py --data scenes --image-size 16 --radius 1,2,4 --grouping motion \
        --teacher segment     # every rule and control with motion segments from the pixels (label-free)

On scikit-learn's digits (embedded), for each seed (weights, split and data stream change
with it), trains the same model with the same data and budget under each rule --
``backprop``, ``delta``, and ``temporal_derivative`` with each hidden credit -- with Adam,
and ``temporal_derivative`` again with plain SGD (the column nets change by the rule's
own update, scaled by one learning rate), and measures on held-out digits:

- T1: the cosine between the temporal-derivative and the delta output-layer updates per
  settling step, direction and level (entries equal to 1 by construction left out of the
  claim), and its precondition: does settling improve the decoded image?
- T2: linear-probe accuracy of the top level (standardised, and scale-sensitive so that
  collapse shows) against the untrained network and backprop; the hidden credit is
  chosen on validation digits;
- T3: peak memory of one update at 4 and 32 settling steps, each in its own process.

With ``--data scenes`` the same conditions train on the islands simulation's part-whole
scenes (bioglom.data.scene_task), beside the positive controls trained on the same scenes
with the same budget -- ``backprop`` with the islands recipe (label-free) and ``backprop
label-trained`` (bioglom.learning.controls) -- and quality is the foreground ARI of the
top level's islands against the objects, and the error of filling in a removed part
(bioglom.analysis.scene_quality): T2 is measured on the ARI, Q0-Q3 say how much of the
control's gain each rule reaches, and the hidden credit is chosen on validation scenes.
With ``--grouping motion`` every condition trains on the last frames of two-frame clips
whose motion segments, found from the pixels, say which columns should agree: backprop
adds the island loss against them (the islands simulation's label-free recipe), and with
``--teacher segment`` each local rule's students regress toward their segment's mean
consensus (no gradient crosses a step or a column). Claims are read on still scenes.

Writes ``temporal_derivative.nc``, ``alignment.png``, ``quality.png`` and ``memory.png``.
Every training run checkpoints to ``--out/checkpoints`` and ``--resume`` continues it.

The default budget of 350 updates per run, and what was tried before settling on the
defaults, are in docs/claims.md.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import xarray as xr

from bioglom import Glom, GlomConfig
from bioglom.analysis import stack_datasets
from bioglom.analysis.figures import save_figure
from bioglom.analysis.scene_quality import fraction_table, scene_claims, scene_part
from bioglom.cli import AnticollapseOptions, DataOptions, MaskOptions, defaults, model_option, option, run_identity, run_script, start_run
from bioglom.config import ConfigError, check_positive
from bioglom.jobs import JOBS_HELP, check_jobs, resolve_jobs
from bioglom.data import load_digits, split_indices
from bioglom.experiments.temporal_derivative import (measurements_dataset, memory_claim, memory_dataset,
                                                     temporal_claims, temporal_figures, temporal_measures,
                                                     temporal_table)
from bioglom.experiment import (COMPLETE, attrs_of, over_seeds, report, run_dataset, seeds_of, train, write_partial,
                                write_result)
from bioglom.learning import HIDDEN_CREDITS, Batch, Trainer, build_rule
from bioglom.learning.controls import GROUPING_WEIGHT, LABEL_TRAINED, control_options
from bioglom.learning.local import TEACHERS
from bioglom.learning.profile import peak_resolution
from bioglom.learning.trainer import OPTIMIZERS
from bioglom.seeding import derived_seed

RULES = ("backprop", "delta", "temporal_derivative")
DIGITS = 1797  # scikit-learn's digits


@defaults(out="results/temporal_derivative",
          image_size=model_option("image_size", 12, "canvas side in pixels (digits: the 8x8 digit is centred)"),
          steps=6, updates=option(350, "training updates per run (the same budget for every rule)"),
          batch=option(32, "digits per update"), negative_weight=option(1.0, "weight of the negative hinge (every rule)"))
class Options(DataOptions, MaskOptions, AnticollapseOptions):
    GROUPED_TEACHERS = ("segment", "island")
    # model
    neighbourhood: str = model_option("neighbourhood")
    norm: str = model_option("norm")
    # learning
    rules: tuple[str, ...] = option(RULES, "rules to compare (comma-separated)", choices=RULES)
    hidden_credits: tuple[str, ...] = option(HIDDEN_CREDITS, "hidden credits of temporal_derivative (comma-separated)",
                                             choices=HIDDEN_CREDITS)
    columns: tuple[str, ...] = model_option("columns", ("unshared",), "one run per kind (comma-separated)")
    optimizers: tuple[str, ...] = option(OPTIMIZERS, "optimizers of temporal_derivative (backprop, delta: adam)",
                                         choices=OPTIMIZERS)
    sgd_lr: float = option(10.0, "plain SGD learning rate of temporal_derivative (chosen on validation digits)")
    backprop_lr_scales: tuple[float, ...] = option((0.5, 1.0, 2.0), "digits: backprop's learning rates, as multiples "
                                                   "of --lr; T2b compares the best on validation (as many variants "
                                                   "as temporal_derivative's hidden credits)")
    agreement_weight: float = option(0.1, "backprop: weight of predictions agreeing with the consensus")
    teacher: str = option("full", "local rules: teacher consensus (segment: averaged over the columns of one motion "
                          "segment; needs --grouping motion)", choices=TEACHERS)
    frontend_learning: str = option("autoencoder", "local rules: front end and decoder", choices=("autoencoder", "fixed"))
    few_labels: int = option(10, "digits: labelled digits per class of the few-label probe (T2e)")
    # evaluation
    test_fraction: float = option(0.25, "fraction of the digits held out for test")
    val_fraction: float = option(0.2, "fraction of the other digits held out for validation (hidden credit choice)")
    probe_limit: int = option(0, "digits per split used by the probe (0: all)")
    jobs: int = option(0, JOBS_HELP)
    alignment_batches: int = option(8, "held-out batches of --batch digits on which T1 is measured")
    memory_steps: tuple[int, ...] = option((4, 32), "settling steps at which T3 measures peak memory")
    memory_batch: int = option(64, "batch of the T3 measurement")

    def glom_config(self, columns: str, seed: int | None = None) -> GlomConfig:
        return GlomConfig(**{**self.model_fields(), "columns": columns}, channels=self.channels,
                          seed=self.seed if seed is None else seed)

    def fit_defaults(self, given: set[str]) -> None:
        """As :class:`~bioglom.cli.DataOptions`; and ``--jobs`` left at 0 runs a seed per process."""
        super().fit_defaults(given)
        resolve_jobs(self)

    def validate(self) -> None:
        super().validate()
        check_positive("few_labels", self.few_labels, integer=True)
        for c in self.columns:
            self.glom_config(c)  # raises ConfigError naming the field
        for name in ("memory_batch", "alignment_batches"):
            check_positive(name, getattr(self, name), integer=True)
        check_positive("probe_limit", self.probe_limit, strict=False, integer=True)
        for s in self.memory_steps:
            check_positive("memory_steps", s, integer=True)
        if len(self.memory_steps) < 2 or list(self.memory_steps) != sorted(set(self.memory_steps)):
            raise ConfigError(f"memory_steps={','.join(map(str, self.memory_steps))!r} is not allowed; T3 compares "
                              "peak memory across step counts, so give at least two, increasing (e.g. 4,32)")
        check_positive("sgd_lr", self.sgd_lr)
        check_jobs(self)
        for scale in self.backprop_lr_scales:
            check_positive("backprop_lr_scales", scale)
        if len(set(self.backprop_lr_scales)) != len(self.backprop_lr_scales):
            raise ConfigError(f"backprop_lr_scales={self.backprop_lr_scales} is not allowed; give each scale once")
        check_positive("agreement_weight", self.agreement_weight, strict=False)
        for name in ("test_fraction", "val_fraction"):
            if not 0 < getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)!r} is not allowed; it must lie in (0, 1)")
        for c in self.conditions():
            build_rule(c.rule, **c.options)
        n_test = round(DIGITS * self.test_fraction) if self.data == "digits" else self.test_scenes
        n_test = min(n_test, self.probe_limit) if self.probe_limit and self.data == "digits" else n_test
        if self.alignment_batches * self.batch > n_test:
            raise ConfigError(f"alignment_batches={self.alignment_batches} is not allowed; {self.alignment_batches} "
                              f"batches of {self.batch} need more than the {n_test} test {self.data}")

    def conditions(self) -> list["Condition"]:
        """Every trained condition, in report order: backprop and delta (Adam), then
        temporal_derivative with each hidden credit (Adam), then with plain SGD and the
        hidden credit chosen on validation among the Adam runs (or the first given)."""
        out = []
        if self.data == "scenes":  # the positive controls, trained on the same scenes with the same budget
            grouping = GROUPING_WEIGHT if self.grouping != "none" else 0.0
            out += [Condition(name, "backprop", "", "adam", control_options(name, self.steps, grouping))
                    for name in ("backprop", LABEL_TRAINED)]
        elif "backprop" in self.rules:
            out += [Condition("backprop" if scale == 1 else f"backprop lr x{scale:g}", "backprop", "", "adam", dict(
                steps=self.steps, agreement_weight=self.agreement_weight, negative_weight=self.negative_weight,
                margin=self.margin), lr_scale=scale) for scale in self.backprop_lr_scales]
        common = dict(steps=self.steps, negative_weight=self.negative_weight, margin=self.margin,
                      teacher=self.teacher, frontend=self.frontend_learning, **self.anticollapse_options())
        if "delta" in self.rules:
            out.append(Condition("delta", "delta", "", "adam", common))
        if "temporal_derivative" in self.rules:
            if "adam" in self.optimizers:
                out += [Condition(f"temporal_derivative {h}", "temporal_derivative", h, "adam",
                                  dict(common, hidden_credit=h)) for h in self.hidden_credits]
            if "sgd" in self.optimizers:  # with the hidden credit Adam's runs choose on validation
                out.append(Condition("temporal_derivative sgd", "temporal_derivative", CHOSEN, "sgd", common))
        return out


@dataclass
class Condition:
    """One trained condition: its name (the ``condition`` coordinate), rule, hidden credit,
    optimizer and rule options."""

    name: str
    rule: str
    hidden_credit: str
    optimizer: str
    options: dict
    lr_scale: float = 1.0


UNTRAINED = Condition("untrained", "untrained", "", "", {})
CHOSEN = "chosen on validation"

PRESETS = {
    "quick": dict(seeds=1, backprop_lr_scales=(1.0, 2.0), updates=6, batch=8, steps=2, dim=8, hidden=16, levels=2, radius=(1, 5), memory_steps=(2, 4),
                  probe_limit=200, alignment_batches=2, memory_batch=4, checkpoint_every=3),
    "gpu": dict(levels=4, dim=64, hidden=256, image_size=16, radius=(1, 2, 4, 7), updates=4000, batch=128,
                steps=8, memory_batch=256, columns=("shared", "unshared"), seeds=5, alignment_batches=3),
}


def evaluate(model: Glom, cond: Condition, opts: Options, source, held_out: Batch) -> dict:
    """bioglom.experiments.temporal_derivative.measures's per-sample measurements of one model, T1 for temporal_derivative."""
    # held-out scenes carry no motion segments, so T1 reads the segment-trained rules with the full teacher
    teacher = "full" if opts.teacher in ("segment", "island") else opts.teacher
    probe = build_rule("temporal_derivative", steps=opts.steps, negative_weight=0.0, teacher=teacher,
                       frontend="fixed", hidden_credit=cond.hidden_credit, measure_alignment=True
                       ) if cond.rule == "temporal_derivative" else None
    return temporal_measures(model, opts.steps, source, held_out, alignment_rule=probe,
                             alignment_batches=opts.alignment_batches, batch=opts.batch, few_labels=opts.few_labels)


def run_seed(opts: Options, seed: int, device, out: Path) -> tuple[tuple, str]:
    """Train and evaluate every condition of one seed: ``((results, histories), status)``."""
    if opts.data == "scenes":
        task = opts.task()
        source = task.held_out(seed, opts.patch_size)
        held_out = Batch(source.test.images, source.corrupted, source.keep)

        def batch_source(cond: Condition):
            labels = (opts.patch_size, opts.levels) if cond.options.get("supervision", 0) > 0 else None
            groups = (opts.patch_size, opts.levels) if opts.grouping != "none" else None
            return lambda u: Batch(*task.batch(seed, u, opts.batch, labels_for=labels, groups_for=groups))
    else:
        data = load_digits(opts.image_size)
        rest, test = split_indices(len(data.labels), opts.test_fraction, seed)
        train_idx, val = (rest[i] for i in split_indices(len(rest), opts.val_fraction, derived_seed(seed, "split")))
        limit = opts.probe_limit or None  # the probe's digits; training draws from the whole training split
        val, test = val[:limit], test[:limit]
        source = (data, {"train": train_idx[:limit], "val": val, "test": test})
        held_out = Batch(data.images[test], *opts.masked_test(data.images[test], seed))

        def batch_source(cond: Condition):
            return opts.masked_batches(data.images, train_idx, seed)

    results, histories = {}, {}
    identity = run_identity(opts, ("seed", "seeds", "updates", "rules", "hidden_credits", "columns", "optimizers",
                                   "memory_steps", "memory_batch"))
    for columns in opts.columns:
        cfg = opts.glom_config(columns, seed)
        results[(columns, "untrained")] = evaluate(Glom(cfg).to(device), UNTRAINED, opts, source, held_out)
        for cond in opts.conditions():
            if cond.hidden_credit == CHOSEN:
                cond = with_chosen_credit(cond, opts, {n: r for (c, n), r in results.items() if c == columns})
                results[(columns, "chosen_credit")] = cond.hidden_credit
            model = Glom(cfg).to(device)
            trainer = Trainer(model, build_rule(cond.rule, **cond.options), batch_source(cond), updates=opts.updates,
                              lr=opts.lr * cond.lr_scale if cond.optimizer == "adam" else opts.sgd_lr, seed=seed,
                              optimizer=cond.optimizer, frontend_lr=opts.lr, checkpoint_every=opts.checkpoint_every,
                              checkpoint=out / "checkpoints" / f"seed{seed}-{columns}-{cond.name.replace(' ', '-')}.pt",
                              progress=opts.progress, label=f"seed {seed} {columns} {cond.name}", data=identity)
            status = train(trainer, opts, f"seed {seed} {columns} {cond.name}")
            histories[(seed, columns, cond.name)] = run_dataset(trainer)
            if status != COMPLETE:
                return (results, histories), status
            results[(columns, cond.name)] = evaluate(model, cond, opts, source, held_out)
    return (results, histories), COMPLETE


def with_chosen_credit(cond: Condition, opts: Options, results: dict) -> Condition:
    """``cond`` with the hidden credit whose Adam run has the best validation accuracy."""
    adam = [c for c in opts.conditions() if c.rule == "temporal_derivative" and c.optimizer == "adam"]
    scored = [(results[c.name]["val_accuracy"], c.hidden_credit) for c in adam if c.name in results]
    credit = max(scored, key=lambda x: x[0])[1] if scored else opts.hidden_credits[0]  # the first of equals
    return dataclasses.replace(cond, hidden_credit=credit, options=dict(cond.options, hidden_credit=credit))


def claims_of(ds: xr.Dataset, opts: Options) -> list:
    """The claims of a result over ``seed`` (this run's, or per-seed runs merged by ``python
    -m bioglom.claims temporal_derivative``): T1-T2 per columns (on scenes from object ARI,
    then Q0-Q3 of every condition), then T3 from the peak memory measured on the device
    the result names."""
    scenes = opts.data == "scenes"
    trained = [c.name for c in opts.conditions() if c.name != LABEL_TRAINED]
    claims = []
    for columns in opts.columns:
        if scenes:
            rows = temporal_claims(ds, columns, quality="object_ari", quality_raw=None)
            quality = scene_part(ds.sel(columns=columns).drop_vars("columns"))
            rows += scene_claims(quality, "condition", trained, "untrained", LABEL_TRAINED)
        else:
            rows = temporal_claims(ds, columns, quality="probe_correct", quality_raw="probe_correct_raw")
        claims += [r._replace(id=f"{r.id} {columns}") for r in rows] if len(opts.columns) > 1 else rows
    device = ds.attrs.get("memory_device", "cpu")
    return claims + [memory_claim(ds.peak_memory, resolution=peak_resolution(device))]


def scenes_tables(ds: xr.Dataset, opts: Options) -> list[str]:
    """Per columns, each condition's share of the positive controls' gain (a scene result)."""
    return [f"{c} columns:\n" + fraction_table(scene_part(ds.sel(columns=c).drop_vars("columns")), "condition",
                                                "untrained", ["backprop", LABEL_TRAINED]) for c in opts.columns]


def main(argv=None) -> int:
    opts, device, out = start_run(Options, argv, description=__doc__.split("\n\n")[0], presets=PRESETS)
    if opts.jobs > 1:
        import sys

        from bioglom.jobs import run_seeds_as_jobs

        def summarise(merged):  # the table and pictures of the merged result, as one process prints and draws them
            print("\n".join(scenes_tables(merged, opts)) if opts.data == "scenes" else temporal_table(merged))
            for name, fig in temporal_figures(merged).items():
                save_figure(fig, out / name, merged.attrs.get("git_commit"))

        return run_seeds_as_jobs(Path(__file__), "temporal_derivative", opts,
                                 sys.argv[1:] if argv is None else list(argv), out, summarise)
    conds = [UNTRAINED] + opts.conditions()
    done, status = over_seeds(opts, lambda seed: run_seed(opts, seed, device, out))
    attrs = attrs_of(opts, model_config=opts.glom_config(opts.columns[0]).to_json())
    hist = stack_datasets({k: v for _, h in done for k, v in h.items()}, ("seed", "columns", "condition"))
    if status != COMPLETE:  # keep what was measured so far
        return write_partial(hist, out / "temporal_derivative.nc", attrs, status)

    seeds = seeds_of(opts)
    ds = measurements_dataset([r for r, _ in done], seeds, opts.columns, conds)
    memory = memory_dataset({c: opts.glom_config(c) for c in opts.columns}, opts.memory_steps, opts.memory_batch,
                            device)
    ds = xr.merge([ds, memory, hist], join="outer", combine_attrs="drop_conflicts").reindex(
        condition=[c.name for c in conds])
    claims = claims_of(ds.assign_attrs(memory_device=str(device)), opts)
    path = write_result(ds, claims, out / "temporal_derivative.nc", {**attrs, "memory_device": str(device)})
    for name, fig in temporal_figures(ds).items():
        save_figure(fig, out / name)
    scenes = opts.data == "scenes"
    return report(f"Temporal-derivative learning on {opts.data}: {len(seeds)} seeds, {opts.updates} updates of "
                  f"{opts.batch} per run, {opts.steps} steps; means over seeds "
                  + ("and scenes (settled)" if scenes else "(probe: standardised / as they are; denoise: settled)"),
                  *(scenes_tables(ds, opts) if scenes else [temporal_table(ds)]), claims=claims, path=path)


if __name__ == "__main__":
    raise SystemExit(run_script(main))
