"""Temporal-derivative learning (claims T1-T3 of docs/claims.md; Hinton 2023, sections 7, 12.1, 12.3):
does GLOM learn from local signals -- the consensus, and the rate of change of activity --
and how does that compare with backpropagation through time?

    python simulations/temporal_derivative.py            # 3 seeds, 2-core CPU sized (README: time)
    python simulations/temporal_derivative.py --quick    # seconds, 1 seed
    python simulations/temporal_derivative.py --preset gpu --device cuda
    python simulations/temporal_derivative.py --data scenes --image-size 16 --radius 1,2,4   # the part-whole scenes

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

Writes ``temporal_derivative.nc``, ``alignment.png``, ``quality.png`` and ``memory.png``.
Every training run checkpoints to ``--out/checkpoints`` and ``--resume`` continues it.

The default budget is 350 updates per run so that 3 seeds fit about 15 minutes on 2 CPU
cores (400 took about 16.5). What was tried before settling on the defaults (400 updates,
the other options as here):
the student's vote is normalised before it is compared (bioglom.learning.local explains
why); local rules use ``negative_weight=1``: without negatives delta collapses to a
constant embedding (tests/test_local_learning.py drives its agreement to ~0 in 200
updates on scenes), and ``--negative-weight 4`` was worse for every rule on digits
(shared columns: backprop 0.633, delta 0.575, temporal_derivative/feedback_alignment
0.508 probe accuracy). The plain-SGD learning rate, 10, had the best validation accuracy
of 0.3, 1, 3 and 10 (seed 0, 400 updates; analysis/samples/temporal_derivative_sgd_lr.csv).
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
from bioglom.analysis import (bootstrap, claims_dataset, effective_rank, format_claims, history_dataset, linear_probe,
                              mean_norm, mean_of, memory_claim, run_attrs, settled_features, stack_datasets,
                              temporal_claims, write_netcdf)
from bioglom.analysis.figures import save_figure
from bioglom.cli import ModelOptions, option, run_identity, run_script, start_run, stopped_status
from bioglom.config import ConfigError, check_choice, check_positive
from bioglom.analysis.scene_quality import fraction_table, scene_claims, scene_quality
from bioglom.data import SceneTask, load_digits, mask_regions, masked_batch, split_indices
from bioglom.learning import HIDDEN_CREDITS, Batch, NonFiniteError, Trainer, build_rule
from bioglom.seeding import derived_seed, generator
from bioglom.learning.controls import LABEL_TRAINED, control_options
from bioglom.learning.profile import measure_in_subprocess
from bioglom.learning.trainer import OPTIMIZERS

RULES = ("backprop", "delta", "temporal_derivative")
DIGITS = 1797  # scikit-learn's digits


@dataclass
class Options(ModelOptions):
    out: str = option("results/temporal_derivative", "output folder")
    seeds: int = option(3, "seeds run (seed, seed+1, ...): weights, split and data stream change with each")
    data: str = option("digits", "scikit-learn's digits (probe accuracy), or the part-whole scenes (island ARI, "
                       "fill-in, beside the positive controls)", choices=("digits", "scenes"))
    test_scenes: int = option(256, "--data scenes: held-out test scenes per seed")
    val_scenes: int = option(128, "--data scenes: validation scenes per seed (thresholds, hidden credit)")
    # model
    image_size: int = option(12, "canvas side in pixels (digits: the 8x8 digit is centred)")
    neighbourhood: str = option("window", "lateral attention neighbourhood", choices=("full", "window", "gaussian"))
    radius: tuple[int, ...] = option((1, 2, 5), "window radius per level (comma-separated)")
    norm: str = option("layer", "normalisation of embeddings", choices=("layer", "l2", "none"))
    # learning
    rules: tuple[str, ...] = option(RULES, "rules to compare (comma-separated)")
    hidden_credits: tuple[str, ...] = option(HIDDEN_CREDITS, "hidden credits of temporal_derivative (comma-separated)")
    columns: tuple[str, ...] = option(("unshared",), "column kinds (comma-separated: shared, unshared)")
    optimizers: tuple[str, ...] = option(OPTIMIZERS, "optimizers of temporal_derivative (backprop, delta: adam)")
    steps: int = option(6, "settling steps")
    updates: int = option(350, "training updates per run (the same budget for every rule)")
    batch: int = option(32, "digits per update")
    lr: float = option(2e-3, "Adam learning rate")
    sgd_lr: float = option(10.0, "plain SGD learning rate of temporal_derivative (chosen on validation digits)")
    negative_weight: float = option(1.0, "weight of the negative hinge (every rule)")
    margin: float = option(1.0, "hinge margin (squared distance per dimension)")
    agreement_weight: float = option(0.1, "backprop: weight of predictions agreeing with the consensus")
    teacher: str = option("full", "local rules: teacher consensus", choices=("full", "no_lateral"))
    frontend_learning: str = option("autoencoder", "local rules: front end and decoder", choices=("autoencoder", "fixed"))
    mask_regions: int = option(1, "regions removed from each input")
    mask_min: int = option(2, "smallest removed region side (pixels)")
    mask_max: int = option(4, "largest removed region side (pixels)")
    checkpoint_every: int = option(100, "updates between checkpoints")
    # evaluation
    test_fraction: float = option(0.25, "fraction of the digits held out for test")
    val_fraction: float = option(0.2, "fraction of the other digits held out for validation (hidden credit choice)")
    probe_limit: int = option(0, "digits per split used by the probe (0: all)")
    alignment_batches: int = option(8, "held-out batches of --batch digits on which T1 is measured")
    memory_steps: tuple[int, ...] = option((4, 32), "settling steps at which T3 measures peak memory")
    memory_batch: int = option(64, "batch of the T3 measurement")
    progress: bool = option(True, "show a progress bar")

    def glom_config(self, columns: str, seed: int | None = None) -> GlomConfig:
        return GlomConfig(levels=self.levels, dim=self.dim, hidden=self.hidden, image_size=self.image_size,
                          patch_size=self.patch_size, channels=SceneTask.channels if self.data == "scenes" else 1,
                          columns=columns, neighbourhood=self.neighbourhood,
                          radius=self.radius, norm=self.norm, seed=self.seed if seed is None else seed)

    def task(self) -> SceneTask:
        return SceneTask(image_size=self.image_size, val_scenes=self.val_scenes, test_scenes=self.test_scenes)

    def validate(self) -> None:
        if self.data == "scenes":
            self.task().check()
        for c in self.columns:
            check_choice("columns", c, ("shared", "unshared"))
            self.glom_config(c)  # raises ConfigError naming the field
        for r in self.rules:
            check_choice("rules", r, RULES)
        for h in self.hidden_credits:
            check_choice("hidden_credits", h, HIDDEN_CREDITS)
        for o in self.optimizers:
            check_choice("optimizers", o, OPTIMIZERS)
        if self.image_size < 8 and self.data == "digits":
            raise ConfigError(f"image_size={self.image_size} is not allowed; the digits are 8x8, so it must be >= 8")
        for name in ("seeds", "updates", "batch", "steps", "checkpoint_every", "memory_batch", "probe_limit",
                     "alignment_batches", "test_scenes", "val_scenes"):
            check_positive(name, getattr(self, name), integer=True, strict=name not in ("updates", "probe_limit"))
        for s in self.memory_steps:
            check_positive("memory_steps", s, integer=True)
        check_positive("lr", self.lr)
        check_positive("sgd_lr", self.sgd_lr)
        for name in ("negative_weight", "margin", "agreement_weight"):
            check_positive(name, getattr(self, name), strict=False)
        if not 1 <= self.mask_min <= self.mask_max <= self.image_size or self.mask_regions < 0:
            raise ConfigError(f"mask_min={self.mask_min}, mask_max={self.mask_max} are not allowed; "
                              "need 1 <= min <= max <= image_size")
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
            out += [Condition(name, "backprop", "", "adam", control_options(name, self.steps))
                    for name in ("backprop", LABEL_TRAINED)]
        elif "backprop" in self.rules:
            out.append(Condition("backprop", "backprop", "", "adam", dict(
                steps=self.steps, agreement_weight=self.agreement_weight, negative_weight=self.negative_weight,
                margin=self.margin)))
        common = dict(steps=self.steps, negative_weight=self.negative_weight, margin=self.margin,
                      teacher=self.teacher, frontend=self.frontend_learning)
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


UNTRAINED = Condition("untrained", "untrained", "", "", {})
CHOSEN = "chosen on validation"

PRESETS = {
    "quick": dict(seeds=1, updates=6, batch=8, steps=2, dim=8, hidden=16, levels=2, radius=(1, 5), memory_steps=(2, 4),
                  probe_limit=200, alignment_batches=2, memory_batch=4, checkpoint_every=3),
    "gpu": dict(levels=4, dim=64, hidden=256, image_size=16, radius=(1, 2, 4, 7), updates=4000, batch=128,
                steps=8, memory_batch=256, columns=("shared", "unshared"), seeds=5),
}


def evaluate(model: Glom, cond: Condition, opts: Options, source, held_out: Batch) -> dict:
    """Per-sample measurements of one model (see bioglom.analysis.temporal_claims): on digits
    ``source = (data, split)`` and quality is the probe; on scenes ``source`` is the
    :class:`~bioglom.data.HeldOutScenes` and quality is bioglom.analysis.scene_quality's."""
    model.eval()
    if opts.data == "scenes":
        out = scene_quality(model, opts.steps, source)
        out["val_accuracy"] = out.pop("val_object_ari")  # what chooses the hidden credit
        test = settled_features(model, source.test.images, opts.steps)
    else:
        data, split = source
        feats = {k: settled_features(model, data.images[v], opts.steps) for k, v in split.items()}
        labels = {k: data.labels[v] for k, v in split.items()}
        out = {"val_accuracy": linear_probe(feats["train"], labels["train"], feats["val"], labels["val"])}
        for key, standardise in (("probe_correct", True), ("probe_correct_raw", False)):
            out[key] = linear_probe(feats["train"], labels["train"], feats["test"], labels["test"],
                                    return_correct=True, standardise=standardise).double().numpy()
        test = feats["test"]
    out["norm"], out["spread"] = mean_norm(test), mean_norm(test - test.mean(0))  # collapse: spread toward 0
    out["effective_rank"] = effective_rank(test, centre=True)
    with torch.no_grad():
        states = model.settle(held_out.corrupted.to(model.device), opts.steps).states
        out["denoise_error"] = np.stack([((model.decode(states[k][:, 0]).cpu() - held_out.clean) ** 2)
                                         .flatten(1).mean(1).double().numpy() for k in (0, -1)])  # moment sample
    shape = (opts.alignment_batches, opts.steps, 2, opts.levels)
    out["alignment"], out["alignment_trivial"] = np.full(shape, np.nan), np.zeros(shape, bool)
    if cond.rule == "temporal_derivative":  # T1 on held-out batches, weights unchanged
        probe = build_rule("temporal_derivative", steps=opts.steps, negative_weight=0.0, teacher=opts.teacher,
                           frontend="fixed", hidden_credit=cond.hidden_credit, measure_alignment=True)
        for i in range(opts.alignment_batches):
            part = slice(i * opts.batch, (i + 1) * opts.batch)
            m = probe.accumulate(model, Batch(held_out.clean[part], held_out.corrupted[part],
                                              held_out.keep[part]).to(model.device), phase="positive").metrics
            out["alignment"][i], out["alignment_trivial"][i] = m["alignment"].numpy(), m["alignment_trivial"].numpy()
        model.zero_grad(set_to_none=True)
    return out


def run_seed(opts: Options, seed: int, device, out: Path) -> tuple[dict, dict, str]:
    """Train and evaluate every condition of one seed: ``(results, histories, status)``."""
    if opts.data == "scenes":
        task = opts.task()
        source = task.held_out(seed)
        held_out = Batch(source.test.images, source.corrupted, source.keep)

        def batch_source(cond: Condition):
            labels = (opts.patch_size, opts.levels) if cond.options.get("supervision", 0) > 0 else None
            return lambda u: Batch(*task.batch(seed, u, opts.batch, labels_for=labels))
    else:
        data = load_digits(opts.image_size)
        rest, test = split_indices(len(data.labels), opts.test_fraction, seed)
        train, val = (rest[i] for i in split_indices(len(rest), opts.val_fraction, derived_seed(seed, "split")))
        limit = opts.probe_limit or None  # the probe's digits; training draws from the whole training split
        val, test = val[:limit], test[:limit]
        source = (data, {"train": train[:limit], "val": val, "test": test})
        corrupted, keep = mask_regions(data.images[test], opts.mask_regions, opts.mask_min, opts.mask_max,
                                       generator(seed, "test_masks"))
        held_out = Batch(data.images[test], corrupted, keep)

        def batch_source(cond: Condition):
            return lambda u: Batch(*masked_batch(data.images, train, u, batch=opts.batch, regions=opts.mask_regions,
                                                 min_size=opts.mask_min, max_size=opts.mask_max, seed=seed))

    results, histories = {}, {}
    for columns in opts.columns:
        cfg = opts.glom_config(columns, seed)
        results[(columns, "untrained")] = evaluate(Glom(cfg).to(device), UNTRAINED, opts, source, held_out)
        for cond in opts.conditions():
            if cond.hidden_credit == CHOSEN:
                cond = with_chosen_credit(cond, opts, {n: r for (c, n), r in results.items() if c == columns})
                results[(columns, "chosen_credit")] = cond.hidden_credit
            model = Glom(cfg).to(device)
            lr = opts.lr if cond.optimizer == "adam" else opts.sgd_lr
            trainer = Trainer(model, build_rule(cond.rule, **cond.options), batch_source(cond), updates=opts.updates, lr=lr,
                              seed=seed, optimizer=cond.optimizer, frontend_lr=opts.lr,
                              checkpoint_every=opts.checkpoint_every,
                              checkpoint=out / "checkpoints" / f"seed{seed}-{columns}-{cond.name.replace(' ', '-')}.pt",
                              progress=opts.progress, label=f"seed {seed} {columns} {cond.name}",
                              data=run_identity(opts, ("seed", "seeds", "updates", "rules", "hidden_credits", "columns",
                                                       "optimizers", "memory_steps", "memory_batch")))
            try:
                trainer.run(resume=opts.resume)
            except (NonFiniteError, KeyboardInterrupt) as e:
                status = stopped_status(e, f"seed {seed} {columns} {cond.name}")
                print(f"error: {status}", file=sys.stderr)
                return results, histories, status
            finally:
                histories[(columns, cond.name)] = history_dataset(trainer.history)
            results[(columns, cond.name)] = evaluate(model, cond, opts, source, held_out)
    return results, histories, "complete"


def with_chosen_credit(cond: Condition, opts: Options, results: dict) -> Condition:
    """``cond`` with the hidden credit whose Adam run has the best validation accuracy."""
    adam = [c for c in opts.conditions() if c.rule == "temporal_derivative" and c.optimizer == "adam"]
    scored = [(results[c.name]["val_accuracy"], c.hidden_credit) for c in adam if c.name in results]
    credit = max(scored, key=lambda x: x[0])[1] if scored else opts.hidden_credits[0]  # the first of equals
    return dataclasses.replace(cond, hidden_credit=credit, options=dict(cond.options, hidden_credit=credit))


def measure_memory(opts: Options, device) -> xr.Dataset:
    """T3: peak memory of one update per rule, column kind and number of steps, each in its own process."""
    rules = [("backprop", "backprop", {}), ("delta", "delta", {}),
             ("temporal_derivative", "temporal_derivative", {"hidden_credit": "local_backprop"})]
    peak = np.zeros((len(rules), len(opts.columns), len(opts.memory_steps)))
    seconds = np.zeros_like(peak)
    for i, (_, rule, extra) in enumerate(rules):
        for j, columns in enumerate(opts.columns):
            for k, steps in enumerate(opts.memory_steps):
                m = measure_in_subprocess({"config": opts.glom_config(columns).to_dict(), "rule": rule,
                                           "rule_options": {"steps": steps, **extra}, "batch": opts.memory_batch,
                                           "device": str(device)})
                peak[i, j, k], seconds[i, j, k] = m["peak_bytes"], m["seconds_per_update"]
    coords = {"memory_rule": [r[0] for r in rules], "columns": list(opts.columns), "memory_steps": list(opts.memory_steps)}
    dims = ("memory_rule", "columns", "memory_steps")
    return xr.Dataset({"peak_memory": (dims, peak), "seconds_per_update": (dims, seconds)}, coords=coords)


def main(argv=None) -> int:
    opts, device, out = start_run(Options, argv, description=__doc__.split("\n\n")[0], presets=PRESETS)
    seeds = list(range(opts.seed, opts.seed + opts.seeds))
    conds = [UNTRAINED] + opts.conditions()
    per_seed, histories, status = [], {}, "complete"
    for seed in seeds:
        results, hist, status = run_seed(opts, seed, device, out)
        histories.update({(seed, *k): v for k, v in hist.items()})
        if status != "complete":
            break
        per_seed.append(results)

    attrs = run_attrs(dataclasses.asdict(opts), opts.seed, model_config=opts.glom_config(opts.columns[0]).to_json())
    hist = stack_datasets(histories, ("seed", "columns", "condition"))
    hist = hist.rename({k: f"train_{k}" for k in hist.data_vars})
    if status != "complete":  # keep what was measured so far
        write_netcdf(hist.assign_attrs(attrs, status=status), out / "temporal_derivative.nc")
        return 1

    ds = measurements_dataset(per_seed, seeds, opts.columns, conds)
    memory = measure_memory(opts, device)
    claims = []
    scenes = opts.data == "scenes"
    for columns in opts.columns:
        rows = temporal_claims(ds, columns, quality="object_ari" if scenes else "probe_correct",
                               quality_raw=None if scenes else "probe_correct_raw")
        if scenes:
            trained = [c.name for c in conds[1:] if c.name != LABEL_TRAINED]
            rows += scene_claims(ds.sel(columns=columns), "condition", trained, "untrained", LABEL_TRAINED)
        claims += [r._replace(id=f"{r.id} {columns}") for r in rows] if len(opts.columns) > 1 else rows
    claims.append(memory_claim(memory.peak_memory))
    ds = xr.merge([claims_dataset(claims), ds, memory, hist], join="outer", combine_attrs="drop_conflicts").reindex(
        condition=[c.name for c in conds])
    ds.attrs.update(attrs, status=status, memory_device=str(device))
    path = write_netcdf(ds, out / "temporal_derivative.nc")
    figures(ds, out)

    print(f"\nTemporal-derivative learning on {opts.data}: {len(seeds)} seeds, {opts.updates} updates of {opts.batch} per "
          f"run, {opts.steps} steps; means over seeds "
          + ("and scenes (settled)" if scenes else "(probe: standardised / as they are; denoise: settled)"))
    if scenes:
        for c in opts.columns:
            print(f"{c} columns:\n" + fraction_table(ds.sel(columns=c), "condition", "untrained",
                                                     ["backprop", LABEL_TRAINED]))
    else:
        print(summary_table(ds))
    print(format_claims(claims))
    print(f"wrote {path}")
    return 0


def measurements_dataset(per_seed: list[dict], seeds: list[int], columns, conds: list[Condition]) -> xr.Dataset:
    """Stack each seed's per-condition measurements over ``seed, columns, condition``."""
    keys = per_seed[0][(columns[0], "untrained")].keys()
    arrays = {k: np.stack([np.stack([np.stack([np.asarray(r[(c, cond.name)][k]) for cond in conds]) for c in columns])
                           for r in per_seed]) for k in keys}
    chosen = [[r.get((c, "chosen_credit"), "") for c in columns] for r in per_seed]
    dims = ("seed", "columns", "condition")
    extra = {"probe_correct": ("sample",), "probe_correct_raw": ("sample",), "denoise_error": ("moment", "sample"),
             "object_ari": ("moment", "sample"), "part_ari": ("moment", "sample"), "fill_error": ("moment", "sample"),
             "raw_pixels_ari": ("sample",),
             "alignment": ("batch", "step", "direction", "level"),
             "alignment_trivial": ("batch", "step", "direction", "level")}
    ds = xr.Dataset({k: (dims + extra.get(k, ()), v) for k, v in arrays.items()},
                      coords={"seed": seeds, "columns": list(columns), "condition": [c.name for c in conds],
                              "rule": ("condition", [c.rule for c in conds]),
                              "hidden_credit": ("condition", [c.hidden_credit for c in conds]),
                              "optimizer": ("condition", [c.optimizer for c in conds]),
                              "moment": ["bottom_up_pass", "settled"], "direction": ["bottom_up", "top_down"]})
    ds.alignment.attrs.update(long_name="T1: cosine between the temporal-derivative and the delta output-layer "
                              "updates", units="1")
    ds["sgd_hidden_credit"] = (("seed", "columns"), np.array(chosen, dtype=str),
                               {"long_name": "hidden credit of the plain-SGD run, chosen on validation among the Adam "
                                "runs", "units": "1"})
    return ds


def summary_table(ds: xr.Dataset) -> str:
    m = ds.mean("seed")
    head = f"{'condition':<42}" + "".join(f"{c:>34}" for c in ds.columns.values)
    rows = [head, f"{'':<42}" + "".join(f"{'probe  raw  denoise spread rank':>34}" for _ in ds.columns.values)]
    for n in ds.condition.values:
        cells = []
        for c in ds.columns.values:
            x = m.sel(columns=c, condition=n)
            cells.append(f"{float(x.probe_correct.mean()):>8.3f}{float(x.probe_correct_raw.mean()):>6.3f}"
                         f"{float(x.denoise_error.sel(moment='settled').mean()):>9.4f}{float(x.spread):>7.3f}"
                         f"{float(x.effective_rank):>5.1f}")
        rows.append(f"{n:<42}" + "".join(f"{c:>34}" for c in cells))
    return "\n".join(rows)


def figures(ds: xr.Dataset, out: Path) -> None:
    import matplotlib.pyplot as plt

    td = [n for n, r, o in zip(ds.condition.values, ds.rule.values, ds.optimizer.values)
          if r == "temporal_derivative" and o == "adam"]
    fig, axes = plt.subplots(1, max(len(td), 1), figsize=(4 * max(len(td), 1), 3.2), squeeze=False, sharey=True)
    for ax, n in zip(axes[0], td):
        a = ds.alignment.sel(condition=n, columns=ds.columns.values[0])
        a = a.where(~ds.alignment_trivial.sel(condition=n, columns=ds.columns.values[0]).astype(bool))
        for d in ds.direction.values:
            for l in ds.level.values:
                v = a.sel(direction=d, level=l).mean(("seed", "batch"))
                if v.notnull().any():
                    ax.plot(ds.step.values, v.values, marker="o", label=f"{str(d).replace('_', '-')}, level {l}")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_title(str(n).replace("temporal_derivative ", "TD, "), fontsize=9)
        ax.set_xlabel("settling step")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("cosine(TD update, delta update)")
    fig.suptitle("T1 (entries equal to 1 by construction left out)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, out / "alignment.png")

    scenes = "object_ari" in ds
    quality = ds.object_ari.sel(moment="settled") if scenes else ds.probe_correct
    fig, ax = plt.subplots(figsize=(8, 3.8))
    x = np.arange(len(ds.condition))
    width = 0.8 / len(ds.columns)
    for i, c in enumerate(ds.columns.values):
        iv = [bootstrap(mean_of, quality.sel(columns=c, condition=n).transpose("seed", "sample").values,
                        resamples=500) for n in ds.condition.values]
        ax.bar(x + width * (i - (len(ds.columns) - 1) / 2), [v.value for v in iv], width=width, label=f"{c} columns",
               yerr=np.array([[v.value - v.low for v in iv], [v.high - v.value for v in iv]]), capsize=2)
    ax.set_xticks(x, [str(n).replace("temporal_derivative", "TD") for n in ds.condition.values], rotation=30, ha="right")
    ax.set_ylabel("object ARI, held-out scenes" if scenes else "probe accuracy, held-out digits")
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title("T2: quality per rule (95 % intervals over seeds and digits)")
    fig.tight_layout()
    save_figure(fig, out / "quality.png")

    fig, ax = plt.subplots(figsize=(5, 3.2))
    for r in ds.memory_rule.values:
        for c in ds.columns.values:
            ax.plot(ds.memory_steps.values, ds.peak_memory.sel(memory_rule=r, columns=c).values / 2**20, marker="o",
                    label=f"{r}, {c} columns")
    ax.set_xlabel("settling steps")
    ax.set_ylabel("peak memory of one update (MiB)")
    ax.set_title("T3")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out / "memory.png")


if __name__ == "__main__":
    raise SystemExit(run_script(main))
