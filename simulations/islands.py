"""Islands (claims I1-I4 of docs/claims.md; Hinton 2023, sections 3.4, 6 and 7): does GLOM,
trained by backprop as a denoising autoencoder with agreement and negatives, settle scenes
of familiar objects into islands that are the parse -- parts at level 0, objects above?

    python simulations/islands.py             # 3 seeds, 2-core CPU sized (see the README for the time)
    python simulations/islands.py --quick     # seconds, 1 seed
    python simulations/islands.py --sweep     # every variant of VARIANTS, 1 seed each -> sweep.nc
    python simulations/islands.py --supervision 3 --steps 8 --out results/islands_control   # label-trained control
    python simulations/islands.py --preset gpu --device cuda

Scenes (bioglom.data.wholes): 2-3 objects of distinct familiar kinds on a noise
background; each kind is a fixed arrangement of 2-4 coloured parts, and every colour
occurs in at least two kinds, so the kind follows only from the arrangement. Training
inputs lose one whole part (filled with a colour no scene has); the loss reconstructs the
clean scene from the settled level 0, trains every bottom-up and top-down prediction
toward the detached consensus, and pushes predictions away from consensus vectors of
other images and of locations of the same image that the location attends to little.
No ground-truth label is used in training, except in the label-trained control
(--supervision W > 0), which asks the settled attention to bind exactly the columns of
each ground-truth part (level 0) and object (above): it shows what settling and the
measures can do when the objective demands islands (docs/claims.md).

For each seed, on held-out scenes (island thresholds chosen on validation scenes): the
foreground ARI of every level and settling step against parts and objects, beside the
baselines raw_pixels (identical patches), raw patches through the same thresholded
islands, step 0 and the ground-truth parts; island sizes; an object-kind probe before
and after settling; the error of filling in a removed part. Claims I1-I4 come with
95 % intervals over seeds and scenes and verdicts held / not held / undecided. Writes
islands.nc, islands.png, ari_by_step.png and attention.png to --out.
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import torch
import xarray as xr

from bioglom import Glom, GlomConfig
from bioglom.analysis import (bootstrap, evaluate_parse, island_claims, island_table, mean_of, pair_similarity,
                              run_attrs, write_netcdf)
from bioglom.analysis.figures import ari_band_figure, parse_figure, save_figure, similarity_figure
from bioglom.cli import TrainingOptions, defaults, option, run_identity, run_script, start_run
from bioglom.config import ConfigError, check_positive
from bioglom.data import (WHOLE_KINDS, changed_fraction, column_labels, make_scenes, make_whole_scenes, mask_parts,
                          mask_regions)
from bioglom.experiment import COMPLETE, Stopped, attrs_of, cached, report, run_dataset, seeds_of, train, write_result
from bioglom.learning import Batch, Trainer, build_rule
from bioglom.learning.backprop import NEGATIVE_SCOPES, NEGATIVES, RECONS
from bioglom.seeding import derived_seed, generator


@defaults(out="results/islands", seeds=option(3, "seeds run (seed, seed+1, ...): model and data stream change with "
                                                "each"),
          image_size=option(16, "scene side in pixels"), radius=(1, 2, 4), steps=6,
          updates=option(600, "training updates per seed"), batch=option(32, "scenes per update"),
          negative_weight=0.1)
class Options(TrainingOptions):
    sweep: bool = option(False, "run every variant of VARIANTS with one seed and write sweep.nc instead")
    shard: tuple[int, ...] = option((0, 1), "with --sweep: K,N runs the variants whose index is K modulo N (N "
                                    "processes share a sweep; each caches its variants, and only N=1 writes sweep.nc)")
    # scenes
    scenes: str = option("wholes", "scene family: familiar kinds of ambiguous parts, or the plain two-part scenes",
                         choices=("wholes", "plain"))
    kinds: tuple[str, ...] = option(tuple(WHOLE_KINDS), "object kinds of the wholes scenes (comma-separated)",
                                    choices=tuple(WHOLE_KINDS))
    parts_min: int = option(2, "fewest parts of a kind used (2-4)")
    parts_max: int = option(4, "most parts of a kind used (2-4)")
    objects_min: int = option(2, "fewest objects per scene")
    objects_max: int = option(3, "most objects per scene")
    background: str = option("noise", "background of the wholes scenes", choices=("noise", "black"))
    # masking
    mask: str = option("parts", "what training inputs lose: whole parts, or rectangular blocks", choices=("parts", "blocks"))
    mask_count: int = option(1, "parts or blocks removed from each input")
    mask_min: int = option(4, "smallest block side (pixels; blocks only)")
    mask_max: int = option(6, "largest block side (pixels; blocks only)")
    fill: str = option("token", "what removed pixels become", choices=("token", "noise", "zero"))
    # model
    columns: str = option("shared", "column nets", choices=("shared", "unshared"))
    neighbourhood: str = option("window", "lateral attention neighbourhood", choices=("full", "window", "gaussian"))
    similarity: str = option("cosine", "attention similarity", choices=("cosine", "dot"))
    beta_start: float = option(2.0, "attention inverse temperature at the first step")
    beta_end: float = option(12.0, "attention inverse temperature at the last step")
    weights_end: tuple[float, ...] = option((1.0, 1.0, 1.0, 1.0), "consensus weights (bottom-up, top-down, previous, lateral) at the last step")
    consensus: str = option("precision", "consensus of the contributions: weighted mean, or precision-weighted (paper 9.1; "
                            "the default, chosen by --sweep on selection scenes)",
                            choices=("mean", "precision"))
    norm: str = option("layer", "normalisation of embeddings", choices=("layer", "l2", "none"))
    frontend: str = option("linear", "front end", choices=("linear", "conv"))
    bu_location: bool = option(False, "bottom-up nets take the location too (pose of the whole, paper 2.3)")
    # learning
    agreement_weight: float = option(0.1, "weight of predictions agreeing with the detached consensus")
    negatives: str = option("both", "where negatives come from", choices=NEGATIVES)
    negative_scope: str = option("image", "same-image negatives from the whole image or only beyond the level's "
                                 "attention window", choices=NEGATIVE_SCOPES)
    recon: str = option("pixels", "reconstruction error: mean over pixels, or removed and kept pixels weighted "
                        "equally", choices=RECONS)
    field_weight: float = option(0.0, "weight of the top level predicting, as a neural field, the level below "
                                 "wherever it attends (label-free)")
    supervision: float = option(0.0, "weight of the supervised island loss (label-trained control; 0: label-free)")
    # evaluation
    test_scenes: int = option(256, "held-out test scenes per seed")
    val_scenes: int = option(128, "validation scenes per seed (island thresholds, kind probe)")
    eval_every: int = option(50, "updates between measurements of the attention similarity of pair kinds")

    def glom_config(self, seed: int = 0) -> GlomConfig:
        fields = {f.name for f in dataclasses.fields(GlomConfig)}
        given = {k: v for k, v in dataclasses.asdict(self).items() if k in fields and k != "seed"}
        return GlomConfig(channels=3, seed=seed, **given)

    def validate(self) -> None:
        super().validate()
        self.glom_config()  # raises ConfigError naming the field
        for name in ("test_scenes", "val_scenes", "eval_every", "mask_count"):
            check_positive(name, getattr(self, name), integer=True, strict=name != "mask_count")
        if len(self.shard) != 2 or not 0 <= self.shard[0] < self.shard[1]:
            raise ConfigError(f"shard={self.shard!r} is not allowed; give K,N with 0 <= K < N")
        for name in ("agreement_weight", "supervision", "field_weight"):
            check_positive(name, getattr(self, name), strict=False)
        if not 1 <= self.mask_min <= self.mask_max <= self.image_size:
            raise ConfigError(f"mask_min={self.mask_min}, mask_max={self.mask_max} are not allowed; need "
                              f"1 <= mask_min <= mask_max <= image_size ({self.image_size})")
        if self.scenes == "plain" and self.mask == "parts" and self.fill == "zero":
            raise ConfigError("fill='zero' is not allowed with scenes='plain' and mask='parts': it draws the background")
        self.scene_batch(1, 0, 0)  # kinds, parts, objects: one clear line, before any work
        build_rule("backprop", **self.rule_options())

    def rule_options(self) -> dict:
        return dict(steps=self.steps, agreement_weight=self.agreement_weight, negative_weight=self.negative_weight,
                    margin=self.margin, negatives=self.negatives, negative_beta=self.beta_end,
                    negative_scope=self.negative_scope, supervision=self.supervision, recon=self.recon,
                    field_weight=self.field_weight)

    def scene_batch(self, n: int, seed: int, start: int):
        if self.scenes == "plain":
            return make_scenes(n, image_size=self.image_size, objects=(self.objects_min, self.objects_max),
                               seed=seed, start=start)
        return make_whole_scenes(n, image_size=self.image_size, kinds=self.kinds, parts=(self.parts_min, self.parts_max),
                                 objects=(self.objects_min, self.objects_max), background=self.background,
                                 seed=seed, start=start)

    def masked(self, scenes, generator):
        if self.mask == "parts":
            return mask_parts(scenes.images, scenes.parts, self.mask_count, generator, fill=self.fill)
        return mask_regions(scenes.images, self.mask_count, self.mask_min, self.mask_max, generator, fill=self.fill)


PRESETS = {
    "quick": dict(seeds=1, updates=20, batch=8, steps=3, test_scenes=24, val_scenes=16, checkpoint_every=10,
                  eval_every=10, dim=16, hidden=32),
    "gpu": dict(levels=4, dim=64, hidden=256, image_size=32, radius=(1, 2, 4, 8), updates=6000, batch=64,
                steps=8, test_scenes=1024, val_scenes=512, mask_min=6, mask_max=10, seeds=5),
}

# what was tried to make islands form: --sweep runs each, one seed, on the options below
# plus its change, and writes sweep.nc. Variants are compared on selection scenes, a
# stream apart from the scenes the claims are measured on.
SWEEP_BASE = dict(consensus="mean", negatives="both", negative_scope="image", radius=(1, 2, 4), bu_location=False, similarity="cosine",
                  beta_start=2.0, beta_end=12.0, weights_end=(1.0, 1.0, 1.0, 1.0), frontend="linear",
                  agreement_weight=0.1, negative_weight=0.1, steps=6, recon="pixels", supervision=0.0, field_weight=0.0)
VARIANTS = {
    "reference": {},
    "other-image negatives only": dict(negatives="other_image"),
    "same-image negatives only": dict(negatives="same_image"),
    "wide top window 1,3,7": dict(radius=(1, 3, 7)),
    "dot similarity, beta 1-4": dict(similarity="dot", beta_start=1.0, beta_end=4.0),
    "beta 5-30": dict(beta_start=5.0, beta_end=30.0),
    "bottom-up fades (weights end 0.3,1,1,2)": dict(weights_end=(0.3, 1.0, 1.0, 2.0)),
    "conv front end (each column sees beyond its patch)": dict(frontend="conv"),
    "agreement and negatives x10": dict(agreement_weight=1.0, negative_weight=1.0),
    "bottom-up nets see the location (pose, paper 2.3)": dict(bu_location=True),
    "bottom-up location, other-image negatives only": dict(bu_location=True, negatives="other_image"),
    "same-image negatives beyond the window, radius 1,2,3": dict(negative_scope="outside_neighbourhood", radius=(1, 2, 3)),
    "beyond-window negatives, radius 1,2,3, bottom-up location": dict(negative_scope="outside_neighbourhood",
                                                                      radius=(1, 2, 3), bu_location=True),
    "precision-weighted consensus (paper 9.1)": dict(consensus="precision"),
    "local sharp: radius 1,1,2, beta 5-30, bottom-up fades": dict(radius=(1, 1, 2), beta_start=5.0, beta_end=30.0,
                                                                 weights_end=(0.3, 1.0, 1.0, 2.0)),
    "balanced reconstruction (removed pixels weigh as much as kept)": dict(recon="balanced"),
    "balanced reconstruction, bottom-up location, beyond-window negatives, radius 1,2,3": dict(
        recon="balanced", bu_location=True, negative_scope="outside_neighbourhood", radius=(1, 2, 3)),
    "top level as a neural field over what it attends, balanced reconstruction": dict(field_weight=1.0,
                                                                                        recon="balanced"),
    # label-trained controls, not candidates for the default: do the settling and the
    # measures form and see islands when the objective asks for them?
    "CONTROL supervised islands x1 (labels in training)": dict(supervision=1.0),
    "CONTROL supervised islands x3, 8 steps (labels in training)": dict(supervision=3.0, steps=8),
    "CONTROL supervised islands x3, 8 steps, balanced reconstruction (labels in training)": dict(
        supervision=3.0, steps=8, recon="balanced"),
}

# the held-out streams (validation: thresholds, kind probe; selection: the sweep's test
# scenes; test: the claims') are the scene task's, so the section-12 simulations' scenes match


def run_seed(opts: Options, seed: int, device, folder, test_stream: str = "test") -> xr.Dataset:
    """Train one model on the scene stream of ``seed`` and evaluate it on the scenes of
    the derived stream ``test_stream`` (bioglom.seeding) (cached in ``folder``)."""
    per_seed = ("seed", "seeds", "sweep", "shard")  # one file per seed; which seeds and variants run is not its identity
    return cached(folder / f"seed{seed}.nc", opts, lambda: train_and_evaluate(opts, seed, device, folder, test_stream),
                  per_seed)


def train_and_evaluate(opts: Options, seed: int, device, folder, test_stream: str) -> xr.Dataset:
    """Train one seed by backprop, tracking the attention logits of pair kinds, then measure
    the parse of the ``test_stream`` scenes (bioglom.analysis.evaluate_parse); raises
    :class:`~bioglom.experiment.Stopped` when training stops early."""
    torch.manual_seed(seed)
    model = Glom(opts.glom_config(seed)).to(device)
    rule = build_rule("backprop", **opts.rule_options())

    def batches(u: int) -> Batch:
        scenes = opts.scene_batch(opts.batch, seed, u * opts.batch)
        corrupted, keep = opts.masked(scenes, generator(seed, "batch", u))
        labels = column_labels(scenes, opts.patch_size, opts.levels) if opts.supervision > 0 else None
        return Batch(scenes.images, corrupted, keep, labels)

    val = opts.scene_batch(opts.val_scenes, derived_seed(seed, "validation"), 0)
    test = opts.scene_batch(opts.test_scenes, derived_seed(seed, test_stream), 0)
    track = val.take(slice(0, 32))
    track_labels = column_labels(track, opts.patch_size, opts.levels)

    def attention_pairs(u: int) -> dict:
        """Attention logits (beta_end x similarity) of pair kinds after settling, labels for measuring only."""
        with torch.no_grad():
            model.eval()
            final = model.settle(track.images.to(device), opts.steps).final.cpu()
            model.train()
        sim = pair_similarity(final, track_labels[:, 0], track_labels[:, 1], opts.similarity).nanmean(0)  # l 3
        return {f"logit_{l}_{k}": opts.beta_end * float(sim[l, i]) for l in range(opts.levels)
                for i, k in enumerate(("same_part", "same_object", "other_object"))}

    trainer = Trainer(model, rule, batches, updates=opts.updates, lr=opts.lr, seed=seed,
                      checkpoint=folder / f"seed{seed}.pt", checkpoint_every=opts.checkpoint_every,
                      progress=opts.progress, data=run_identity(opts, ("seed", "seeds", "sweep", "shard", "updates")),
                      label=f"islands {folder.name} seed {seed}")
    status = train(trainer, opts, f"seed {seed}", attention_pairs, opts.eval_every)
    if status != COMPLETE:
        raise Stopped(status)
    masked = opts.masked(test, generator(seed, test_stream))
    ds = evaluate_parse(model, opts.steps, val, test, masked=masked)
    run = run_dataset(trainer)
    logits = np.stack([[run[f"logit_{l}_{k}"].values for k in ("same_part", "same_object", "other_object")]
                       for l in range(opts.levels)])  # l pair u
    ds["attention_logit"] = (("level", "pair", "update"), logits,
                             {"long_name": "attention logit (beta_end x similarity) of foreground pairs after settling",
                              "units": "1"})
    ds = ds.assign_coords(update=run["update"].values)
    for k in [v for v in run.data_vars if v.startswith("train_")]:
        ds[k] = run[k]  # long_name and units from bioglom.analysis.names
    ds["mask_fraction"] = ((), changed_fraction(test.images, masked[0]),
                           {"long_name": "fraction of test pixels the mask changed", "units": "1"})
    return ds


def run_sweep(opts: Options, device, out) -> int:
    """One seed of every variant; the top level's numbers per variant into sweep.nc."""
    rows = []
    k, n = opts.shard
    for i, (name, change) in enumerate(VARIANTS.items()):
        if i % n != k:
            continue
        v = dataclasses.replace(opts, seeds=1, **{**SWEEP_BASE, **change})
        v.validate()
        folder = out / "checkpoints" / name.replace(" ", "_").replace("/", "-").replace(",", "_")
        folder.mkdir(parents=True, exist_ok=True)
        print(f"variant: {name}", flush=True)
        ds = run_seed(v, opts.seed, device, folder, "selection").mean("sample")
        top, last = int(ds.level[-1]), int(ds.step[-1])
        rows.append(dict(
            top_objects_step0=float(ds.ari_objects.sel(step=0, level=top)),
            top_objects_settled=float(ds.ari_objects.sel(step=last, level=top)),
            level0_parts_settled=float(ds.ari_parts.sel(step=last, level=0)),
            raw_pixels_objects=float(ds.raw_pixels_objects),
            kind_step0=float(ds.kind_accuracy.isel(probe_step=0, level=-1)),
            kind_settled=float(ds.kind_accuracy.isel(probe_step=-1, level=-1)),
            fill_step0=float(ds.fill_error.isel(probe_step=0)), fill_settled=float(ds.fill_error.isel(probe_step=-1)),
            logit_gap_top=float((ds.attention_logit.sel(level=top, pair="same_object")
                                 - ds.attention_logit.sel(level=top, pair="other_object")).isel(update=-1)),
        ))
    if n > 1:
        print(f"shard {k},{n}: {len(rows)} variants cached; run --sweep --resume without --shard to write sweep.nc")
        return 0
    sweep = xr.Dataset({k: ("variant", np.array([r[k] for r in rows]), {"long_name": k.replace("_", " "), "units": "1"})
                        for k in rows[0]},
                       coords={"variant": list(VARIANTS), "change": ("variant", [repr(c) for c in VARIANTS.values()])})
    sweep.attrs.update(run_attrs(dataclasses.asdict(opts), opts.seed))
    path = write_netcdf(sweep, out / "sweep.nc")
    print(sweep.to_dataframe().drop(columns="change").round(3).to_string())
    print(f"wrote {path}")
    return 0


def main(argv=None) -> int:
    opts, device, out = start_run(Options, argv, description=__doc__.split("\n\n")[0], presets=PRESETS)
    if opts.sweep:
        return run_sweep(opts, device, out)
    seeds = seeds_of(opts)
    try:
        ds = xr.concat([run_seed(opts, s, device, out / "checkpoints").expand_dims(seed=[s]) for s in seeds], "seed",
                       data_vars="minimal", coords="minimal", compat="override")
    except Stopped as e:
        print(f"{e}; the seeds done are kept in {out / 'checkpoints'}", file=sys.stderr)
        return 1
    claims = island_claims(ds)
    path = write_result(ds, claims, out / "islands.nc", attrs_of(opts, model_config=opts.glom_config(opts.seed).to_json(),
                                                                 rule="backprop", seeds=seeds))
    first = ds.sel(seed=seeds[0])
    save_figure(parse_figure(first.example_image.values, first.example_truth.values, first.example_islands.values),
                out / "islands.png")
    step_ci = {(int(s), int(l)): bootstrap(mean_of, ds.ari_objects.sel(step=s, level=l).transpose("seed", "sample").values,
                                           resamples=500)
               for s in ds.step for l in ds.level}
    save_figure(ari_band_figure(ds, step_ci), out / "ari_by_step.png")
    save_figure(similarity_figure(ds.attention_logit), out / "attention.png")
    return report(f"Islands on {opts.test_scenes} held-out scenes x {len(seeds)} seeds ({opts.scenes} scenes, "
                  f"{opts.columns} columns, {opts.updates} backprop updates per seed; mask changes "
                  f"{float(ds.mask_fraction.mean()):.1%} of pixels)", island_table(ds), claims=claims,
                  path=path)


if __name__ == "__main__":
    raise SystemExit(run_script(main))
