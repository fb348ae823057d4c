"""The giant distillery (claims D1-D5 of docs/claims.md; Hinton 2023, section 12.1): can
columns that each own their nets, trained by co-distillation toward the consensus, do
what weight sharing does -- and do they cope better with a foveated retina?

    python simulations/distillery.py            # 2-core CPU sized: about eight minutes
    python simulations/distillery.py --quick    # seconds
    python simulations/distillery.py --preset gpu --device cuda

On scikit-learn's centred digits (embedded), with one region masked out of each input,
trains the same model with the same data, budget and seed in each condition --
``shared``, ``unshared`` (nothing passes between columns) and ``distilled``
(co-distillation toward the consensus), as bioglom.learning.conditions defines them --
each under the ``delta`` and ``temporal_derivative`` rules, ``shared`` also under
``backprop`` as the reference, on a uniform and on a foveated retina
(bioglom/retina.py), and for D5 ``distilled`` once more with a location input to its
top-down nets. Every ``--eval-every`` updates it measures: linear-probe accuracy of the
top level (columns averaged) on held-out digits, denoising error (decoded last level-0
state against the retinal image), functional dispersion of the bottom-up and top-down
nets on common inputs, and the ensemble gain of islands (bioglom.analysis.distillery).
Writes ``distillery.nc``, ``quality.png``, ``dispersion.png`` and ``gap.png``; every run
checkpoints to ``--out/checkpoints`` and ``--resume`` continues it to the same result.

Quality "against the number of training images" is recorded against updates with the
coordinate ``images`` = updates x batch: each update draws a fresh batch from the
training split. Island ARI on procedural scenes is not measured here (digits only).
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
from bioglom.analysis import (Claim, accuracy_stderr, claims_dataset, evaluations_dataset, extract_islands, format_claims,
                              history_dataset, linear_probe, run_attrs, write_netcdf)
from bioglom.analysis.distillery import column_outputs, dispersion, ensemble_gain
from bioglom.analysis.figures import save_figure
from bioglom.cli import ModelOptions, option, run_identity, run_script, start_run
from bioglom.config import RETINAS, ConfigError, check_choice, check_positive
from bioglom.consensus import normalise
from bioglom.data import load_digits, mask_regions, masked_batch, split_indices
from bioglom.learning import HIDDEN_CREDITS, Batch, NonFiniteError, Trainer, build_rule
from bioglom.learning.conditions import CONDITIONS, condition_config, condition_teacher

LOCAL_RULES = ("delta", "temporal_derivative")


@dataclass
class Options(ModelOptions):
    out: str = option("results/distillery", "output folder")
    stop_after: int = option(0, "stop every run after this many updates of this invocation, as a kill would (0: never)")
    # model
    image_size: int = option(12, "canvas side in pixels (the 8x8 digit is centred)")
    radius: tuple[int, ...] = option((1, 2, 5), "window radius per level (comma-separated)")
    retinas: tuple[str, ...] = option(RETINAS, "retinas to compare (comma-separated)")
    fixation: tuple[float, ...] = option((), "foveated retina: fixation (row, column) of the column grid; empty: centre")
    foveation: float = option(2.0, "foveated retina: warp exponent (>= 1; 1 is uniform)")
    aberration: float = option(0.0, "foveated retina: radial channel shift in pixels at the edge (0: none)")
    # conditions and learning
    conditions: tuple[str, ...] = option(CONDITIONS, "conditions (comma-separated)")
    rules: tuple[str, ...] = option(LOCAL_RULES, "local rules (comma-separated); every condition runs under each")
    backprop: bool = option(True, "also train shared columns by backprop, the reference")
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
    eval_every: int = option(50, "updates between evaluations")
    probe_limit: int = option(0, "digits per split used by the probe (0: all)")
    probe_inputs: int = option(64, "common inputs on which dispersion compares the column nets")
    checkpoint_every: int = option(100, "updates between checkpoints")
    progress: bool = option(True, "show a progress bar")

    def glom_config(self, retina: str, condition: str, location: bool | None = None) -> GlomConfig:
        base = GlomConfig(levels=self.levels, dim=self.dim, hidden=self.hidden, image_size=self.image_size,
                          patch_size=self.patch_size, channels=1, radius=self.radius, seed=self.seed,
                          td_location=location, retina=retina, fixation=tuple(self.fixation) or None,
                          foveation=self.foveation, aberration=self.aberration if retina == "foveated" else 0.0)
        return condition_config(base, condition)

    def runs(self) -> list[tuple[str, str, str, str, dict]]:
        """(name, retina, condition, rule, extra) per training run, in report order."""
        out = []
        for retina in self.retinas:
            for cond in self.conditions:
                for rule in self.rules:
                    out.append((f"{retina}/{cond}/{rule}", retina, cond, rule, {}))
                if cond == "shared" and self.backprop:
                    out.append((f"{retina}/shared/backprop", retina, "shared", "backprop", {}))
            if retina == self.retinas[0] and self.location_check and "distilled" in self.conditions:
                for rule in self.rules:
                    out.append((f"{retina}/distilled+location/{rule}", retina, "distilled", rule, {"location": True}))
        return out

    def rule_options(self, rule: str, condition: str) -> dict:
        common = dict(steps=self.steps, negative_weight=self.negative_weight, margin=self.margin)
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
        if self.image_size < 8:
            raise ConfigError(f"image_size={self.image_size} is not allowed; the digits are 8x8, so it must be >= 8")
        for name in ("steps", "updates", "batch", "eval_every", "probe_inputs", "checkpoint_every"):
            check_positive(name, getattr(self, name), integer=True)
        for name in ("stop_after", "probe_limit", "mask_regions"):
            check_positive(name, getattr(self, name), strict=False, integer=True)
        check_positive("lr", self.lr)
        if not 1 <= self.mask_min <= self.mask_max <= self.image_size:
            raise ConfigError(f"mask_min={self.mask_min}, mask_max={self.mask_max} are not allowed; "
                              f"need 1 <= mask_min <= mask_max <= image_size ({self.image_size})")
        for rule in self.rules:
            build_rule(rule, **self.rule_options(rule, "distilled"))


PRESETS = {
    "quick": dict(updates=4, eval_every=2, probe_limit=80, dim=8, hidden=16, levels=2, radius=(1, 5), batch=4,
                  steps=2, checkpoint_every=2, probe_inputs=8),
    "gpu": dict(levels=4, dim=64, hidden=256, image_size=16, radius=(1, 2, 4, 7), batch=128, steps=6, updates=4000,
                eval_every=250),
}

def main(argv=None) -> int:
    opts, device, out = start_run(Options, argv, description=__doc__.split("\n\n")[0], presets=PRESETS)

    data = load_digits(opts.image_size)
    train, test = split_indices(len(data.labels), 0.25, opts.seed)
    probe_train, probe_test = (train[:opts.probe_limit], test[:opts.probe_limit]) if opts.probe_limit else (train, test)

    def batches(u: int) -> Batch:
        return Batch(*masked_batch(data.images, train, u, batch=opts.batch, regions=opts.mask_regions,
                                   min_size=opts.mask_min, max_size=opts.mask_max, seed=opts.seed))

    eval_images = data.images[test[:128]]
    eval_corrupted, _ = mask_regions(eval_images, opts.mask_regions, opts.mask_min, opts.mask_max,
                                     torch.Generator().manual_seed(opts.seed + 1))
    probe_inputs = normalise(torch.randn(opts.probe_inputs, opts.dim, generator=torch.Generator().manual_seed(opts.seed + 2)),
                             "layer")

    def evaluate(model: Glom) -> dict:
        return measure(model, opts, data, probe_train, probe_test, eval_images, eval_corrupted, probe_inputs)

    status, trainers = "complete", {}
    for name, retina, cond, rule, extra in opts.runs():
        model = Glom(opts.glom_config(retina, cond, extra.get("location"))).to(device)
        trainer = Trainer(model, build_rule(rule, **opts.rule_options(rule, cond)), batches, updates=opts.updates,
                          lr=opts.lr, seed=opts.seed, checkpoint=out / "checkpoints" / f"{name.replace('/', '-')}.pt",
                          checkpoint_every=opts.checkpoint_every, progress=opts.progress,
                          data=run_identity(opts, ("updates", "conditions", "rules", "retinas", "backprop")),
                          label=f"distillery {name}")
        try:
            trainer.run(resume=opts.resume, stop_after=opts.stop_after or None, evaluate=lambda u: evaluate(model),
                        evaluate_every=opts.eval_every)
        except NonFiniteError as e:
            status = f"stopped: {name}: {e}"
            print(f"error: {status}", file=sys.stderr)
        trainers[name] = trainer
        if status != "complete":
            break
        if trainer.update < opts.updates:
            status = f"stopped after {trainer.update} of {opts.updates} updates of {name} (--stop-after); continue with --resume"

    names = list(trainers)
    evals = xr.concat([evaluations_dataset(trainers[n].evaluations).expand_dims(run=[n]) for n in names], "run",
                      join="outer")
    hist = xr.concat([history_dataset(trainers[n].history).reset_coords(drop=True).expand_dims(run=[n]) for n in names],
                     "run", join="outer")
    hist = hist.rename({k: f"train_{k}" for k in hist.data_vars}).rename({"update": "train_update"})
    parts = [n.split("/") for n in names]
    ds = xr.merge([evals, hist], join="outer").assign_coords(
        retina=("run", [p[0] for p in parts]), condition=("run", [p[1] for p in parts]),
        rule=("run", [p[2] for p in parts]), images=("update", evals["update"].values * opts.batch))
    attrs = run_attrs(dataclasses.asdict(opts), opts.seed, model_config=opts.glom_config(opts.retinas[0], "distilled").to_json())
    if status != "complete":
        write_netcdf(ds.assign_attrs(attrs, status=status), out / "distillery.nc")
        print(status, file=sys.stderr)
        return 1

    claims = claims_from(opts, ds, len(probe_test))
    ds = xr.merge([claims_dataset(claims), ds], join="outer")
    ds.attrs.update(attrs, status=status, probe_test=len(probe_test))
    path = write_netcdf(ds, out / "distillery.nc")
    figures(ds, out)

    print(f"\nThe giant distillery on digits ({opts.updates} updates of {opts.batch}, {opts.steps} steps)")
    print(f"{'run':<48}{'acc start':>10}{'acc end':>9}{'denoise':>9}{'disp bu':>9}{'disp td':>9}{'ens. gain':>10}")
    for n in names:
        e = ds.sel(run=n)
        print(f"{n:<48}{float(e.accuracy[0]):>10.3f}{float(e.accuracy[-1]):>9.3f}{float(e.denoise_mse[-1]):>9.4f}"
              f"{float(e.dispersion_bottom_up[-1]):>9.3f}{float(e.dispersion_top_down[-1]):>9.3f}"
              f"{float(e.ensemble_gain[-1]):>10.3f}")
    print(format_claims(claims))
    print(f"wrote {path}")
    return 0


@torch.no_grad()
def measure(model: Glom, opts: Options, data, probe_train, probe_test, eval_images, eval_corrupted, probe_inputs) -> dict:
    """Probe accuracy, denoising error, dispersion per direction and ensemble gain of one model."""
    model.eval()
    feats = []
    for idx in (probe_train, probe_test):
        chunks = [model.settle(data.images[idx[i:i + 256]].to(model.device), opts.steps, record=False).final[:, -1]
                  .mean(1).cpu() for i in range(0, len(idx), 256)]
        feats.append(torch.cat(chunks))
    acc = linear_probe(feats[0], data.labels[probe_train], feats[1], data.labels[probe_test])
    traj = model.settle(eval_corrupted.to(model.device), opts.steps, record=False)
    recon = model.decode(traj.final[:, 0])
    denoise = float(((recon - model.retinal(eval_images.to(model.device))) ** 2).mean())
    disp = {d: dispersion(column_outputs(model, probe_inputs, d)).cpu() for d in ("bottom_up", "top_down")}
    final = traj.final  # b l n d
    predictions = normalise(traj.bottom_up[-1], model.cfg.norm)  # the students' last votes
    islands = extract_islands(final)  # b l n
    gains = ensemble_gain(predictions, final, islands).tolist()  # per level
    model.train()
    return {"accuracy": acc, "denoise_mse": denoise,
            "dispersion_bottom_up": float(disp["bottom_up"].mean()), "dispersion_top_down": float(disp["top_down"].mean()),
            "ensemble_gain": float(np.mean(gains)),
            **{f"dispersion_bottom_up_level{l}": float(v) for l, v in enumerate(disp["bottom_up"])},
            **{f"ensemble_gain_level{l}": g for l, g in enumerate(gains)}}


def claims_from(opts: Options, ds: xr.Dataset, n_test: int) -> list[Claim]:
    """D1-D5 (docs/claims.md) from the final evaluations; a claim whose runs are missing is
    reported with value NaN, not held. Comparisons are within one retina and one rule."""
    have = set(ds.run.values.tolist())
    r0 = opts.retinas[0]

    def final(name, var="accuracy"):
        return float(ds[var].sel(run=name).dropna("update")[-1])

    def first(name, var):
        return float(ds[var].sel(run=name).dropna("update")[0])

    se = accuracy_stderr(0.8, n_test) * np.sqrt(2)  # of a difference of two accuracies near 0.8

    def d1():  # per rule: distilled ends below its start and below unshared
        ratios, ok = [], True
        for rule in opts.rules:
            dis, uns = f"{r0}/distilled/{rule}", f"{r0}/unshared/{rule}"
            mean = lambda n, at: np.mean([at(n, f"dispersion_{d}") for d in ("bottom_up", "top_down")])  # noqa: E731
            ratios.append(mean(dis, final) / mean(uns, final))
            ok &= mean(dis, final) < mean(dis, first) and ratios[-1] < 1
        return max(ratios), ok

    def d2():
        gains = [final(f"{r0}/distilled/{rule}", "ensemble_gain") for rule in opts.rules]
        return max(gains), max(gains) < 1

    def gap(retina, cond, rule):
        return final(f"{retina}/shared/{rule}") - final(f"{retina}/{cond}/{rule}")

    def d3():
        diffs = [gap(r0, "distilled", rule) - gap(r0, "unshared", rule) for rule in opts.rules]
        return max(diffs), max(diffs) < 0

    def d4():  # loss from the uniform to the foveated retina, distilled minus shared
        loss = lambda cond, rule: final(f"uniform/{cond}/{rule}") - final(f"foveated/{cond}/{rule}")  # noqa: E731
        diffs = [loss("distilled", rule) - loss("shared", rule) for rule in opts.rules]
        return max(diffs), max(diffs) < 0

    def d5():
        diffs = [abs(final(f"{r0}/distilled+location/{rule}") - final(f"{r0}/distilled/{rule}")) for rule in opts.rules]
        return max(diffs), max(diffs) <= 2 * se

    runs = lambda conds, retinas=(r0,): {f"{r}/{c}/{rule}" for r in retinas for c in conds for rule in opts.rules}  # noqa: E731
    table = [
        ("D1", d1, runs(["distilled", "unshared"]),
         "co-distilled columns converge: dispersion of the column nets (mean of bottom-up and top-down) falls during "
         "training and ends below the unshared control's, under every rule (value: largest distilled/unshared ratio)"),
        ("D2", d2, runs(["distilled"]),
         "ensemble effect: island-averaged bottom-up predictions are closer to the consensus than the individual "
         "ones, ratio of errors < 1 under every rule (value: largest ratio)"),
        ("D3", d3, runs(["shared", "unshared", "distilled"]),
         "co-distillation narrows the gap to shared weights: probe-accuracy gap(shared - distilled) < gap(shared - "
         f"unshared) under every rule (value: largest difference of gaps; s.e. of one accuracy difference ~{se:.3f})"),
        ("D4", d4, runs(["shared", "distilled"], ("uniform", "foveated")),
         "a foveated retina costs distilled columns less probe accuracy than shared ones, relative to a uniform retina, "
         f"under every rule (value: largest loss(distilled) - loss(shared); s.e. ~{se * np.sqrt(2):.3f})"),
        ("D5", d5, runs(["distilled", "distilled+location"]),
         f"unshared top-down nets need no location input: probe accuracy with and without it within 2 s.e. "
         f"({2 * se:.3f}) under every rule (value: largest difference)"),
    ]
    claims = []
    for cid, fn, needs, criterion in table:
        if needs <= have:
            value, held = fn()
            claims.append(Claim(cid, float(value), bool(held), criterion))
        else:
            claims.append(Claim(cid, float("nan"), False, criterion + " [not measured: runs missing]"))
    return claims


def figures(ds: xr.Dataset, out: Path) -> None:
    import matplotlib.pyplot as plt

    retinas = list(dict.fromkeys(ds.retina.values.tolist()))
    fig, axes = plt.subplots(len(retinas), 2, figsize=(10, 3.2 * len(retinas)), squeeze=False)
    for row, retina in zip(axes, retinas):
        for n in ds.run.values[ds.retina.values == retina]:
            e = ds.sel(run=n).dropna("update", subset=["accuracy"])
            ls = "--" if "delta" in n else (":" if "backprop" in n else "-")
            row[0].plot(e["images"], e.accuracy, ls=ls, marker=".", label=n.split("/", 1)[1])
            row[1].plot(e["images"], e.denoise_mse, ls=ls, marker=".")
        row[0].set_ylabel(f"{retina}: probe accuracy")
        row[1].set_ylabel(f"{retina}: denoising MSE")
        row[0].legend(fontsize=6)
    for ax in axes[-1]:
        ax.set_xlabel("training images")
    fig.tight_layout()
    save_figure(fig, out / "quality.png")

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    for ax, d in zip(axes, ("bottom_up", "top_down")):
        for n in ds.run.values:
            if "/shared/" in n:
                continue  # exactly 0 (bottom-up) by construction
            e = ds.sel(run=n).dropna("update", subset=["accuracy"])
            ax.plot(e["update"], e[f"dispersion_{d}"], marker=".", label=n, ls="--" if "delta" in n else "-")
        ax.set_title(f"dispersion of the {d.replace('_', '-')} nets")
        ax.set_xlabel("update")
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    save_figure(fig, out / "dispersion.png")

    fig, ax = plt.subplots(figsize=(5, 3.2))
    rules = [r for r in dict.fromkeys(ds.rule.values.tolist()) if r != "backprop"]
    width = 0.8 / max(len(retinas) * 2, 1)
    for i, retina in enumerate(retinas):
        for j, cond in enumerate(("unshared", "distilled")):
            gaps = []
            for rule in rules:
                names = (f"{retina}/shared/{rule}", f"{retina}/{cond}/{rule}")
                have = all(n in ds.run.values for n in names)
                gaps.append(float(ds.accuracy.sel(run=names[0]).dropna("update")[-1]
                                  - ds.accuracy.sel(run=names[1]).dropna("update")[-1]) if have else np.nan)
            ax.bar(np.arange(len(rules)) + (2 * i + j) * width, gaps, width, label=f"{retina} {cond}")
    ax.set_xticks(np.arange(len(rules)) + width * (len(retinas) - 0.5), rules)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_ylabel("probe accuracy gap to shared")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out / "gap.png")


if __name__ == "__main__":
    raise SystemExit(run_script(main))
