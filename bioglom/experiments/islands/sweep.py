"""The islands experiment's sweeps (``simulations/islands.py --sweep``): what was tried to
make islands form without labels (:data:`VARIANTS`, by backprop) and to make a local rule
bind (:data:`LOCAL_VARIANTS`, claims L1-L3), each variant over a few selection seeds on
selection scenes, apart from the claims' seeds and scenes; the table of each sweep
(``sweep.nc``, ``sweep.csv``; ``sweep_local.nc``, ``sweep_local.csv``).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import xarray as xr

from ...analysis import interval, mean_of, run_attrs, write_netcdf
from ...atomic import atomic_write_bytes
from .claims import strongest_baseline
from .run import run_seed

__all__ = ["SWEEP_BASE", "VARIANTS", "LOCAL_SWEEP_BASE", "LOCAL_VARIANTS", "SWEEP_MEASURES", "sweep_row", "run_sweep",
           "sweep_frame", "sweep_table"]

# what was tried to make islands form without labels: --sweep runs each variant over
# --sweep-seeds seeds on the options below plus its change, and writes sweep.nc. Variants are
# compared on selection scenes and clips, streams apart from those the claims are measured
# on. The previous search (denoising objectives without a grouping signal, 21 variants at one
# seed) is recorded in analysis/samples/islands_sweep.csv; its best row is the first here.
SWEEP_BASE = dict(consensus="precision", norm="layer", negatives="both", negative_scope="image", radius=(1, 2, 4),
                  bu_location=False, similarity="cosine", beta_start=2.0, beta_end=12.0,
                  weights_end=(1.0, 1.0, 1.0, 1.0), frontend="linear", agreement_weight=0.1, negative_weight=0.1,
                  steps=8, recon="balanced", supervision=0.0, field_weight=0.0, scene_contrast=0.0,
                  grouping="motion", grouping_weight=3.0, colour_parts=False, lr=5e-4)
VARIANTS = {
    "no grouping signal (the previous default: denoising, 6 steps)": dict(grouping="none", steps=6, recon="pixels",
                                                                          lr=2e-3),
    "motion grouping x3": {},
    "motion grouping x1": dict(grouping_weight=1.0),
    "oscillators, scene contrast, no grouping signal (AKOrN)": dict(consensus="oscillator", norm="groups",
                                                                    grouping="none", scene_contrast=1.0),
    "oscillators, motion grouping x3": dict(consensus="oscillator", norm="groups"),
    # the reference, not a candidate for the default: the same clips and budget, ground truth in training
    "CONTROL label-trained x3 on the same clips (labels in training)": dict(grouping_weight=0.0, supervision=3.0),
    # after the first six: where the settled islands of motion grouping fell short (objects apart split)
    "motion grouping x3, the lateral term weighs most at the end (weights 0.3,1,1,2)": dict(
        weights_end=(0.3, 1.0, 1.0, 2.0)),
    # after those: the lateral term weighing most at the end helped most, so further that way
    "motion grouping x3, lateral most at the end (0.3,1,1,2), one-colour regions group level 0": dict(
        weights_end=(0.3, 1.0, 1.0, 2.0), colour_parts=True),
    "motion grouping x3, lateral dominant at the end (weights 0.1,1,1,4)": dict(weights_end=(0.1, 1.0, 1.0, 4.0)),
}


# what was tried to make a local rule bind (claims L1-L3; --sweep --sweep-set local): every
# variant over --sweep-seeds seeds (seeds apart from the claims': run it with --seed 100),
# on selection scenes, each beside backprop's default recipe on the same seeds
LOCAL_SWEEP_BASE = dict(rule="temporal_derivative", consensus="mean", teacher="island", island_form="hinged",
                        island_at="every", island_push=1.0, island_margin=0.3, negative_weight=1.0, lr=2e-3,
                        hidden_credit="local_backprop", variance_weight=0.0, decorrelation_weight=0.0,
                        anticollapse_levels="all", colour_parts=False, td_location=None, normalise_votes=False,
                        static_segment=False, precision_where="everywhere")
# the anti-collapse terms at level 0 only, where no segment pushes (a scratch search on one seed
# found them at every level dispersing the islands: 0.34 against 0.47)
_LPL0 = dict(variance_weight=1.0, decorrelation_weight=1.0, anticollapse_levels="ungrouped")
LOCAL_VARIANTS = {
    # the teacher that only pulls, and the pull-and-push teacher as the prototype had it
    "segment-mean teacher (pull only)": dict(teacher="segment"),
    "hinged island teacher": {},
    # the top-down nets of shared columns read their location: islands can follow position
    "hinged, top-down nets without location": dict(td_location=False),
    "hinged, no location, LPL terms at level 0": dict(td_location=False, **_LPL0),
    "hinged, no location, LPL terms at level 0, weight 3": dict(td_location=False, **{**_LPL0, "variance_weight": 3.0,
                                                                                      "decorrelation_weight": 3.0}),
    "hinged, no location, LPL terms at every level (0.1)": dict(td_location=False, variance_weight=0.1,
                                                                decorrelation_weight=0.1),
    "gradient step scaled by the outside mass, no location, LPL level 0": dict(
        td_location=False, island_form="gradient", island_step="outside_mass", **_LPL0),
    "nudged (equilibrium propagation), no location, LPL level 0": dict(td_location=False, island_at="nudged", **_LPL0),
    "hinged, last step only, no location, LPL level 0": dict(td_location=False, island_at="last", **_LPL0),
    "hinged, no location, LPL level 0, normalised votes": dict(td_location=False, normalise_votes=True, **_LPL0),
    "hinged, no location, LPL level 0, precisions learned where the teacher applies": dict(
        td_location=False, consensus="precision", precision_where="island", **_LPL0),
    "delta rule, hinged, no location, LPL level 0": dict(rule="delta", td_location=False, **_LPL0),
}


def _interval(stat, *arrays) -> list[float]:
    iv = interval(stat, *arrays, resamples=1000)
    return [iv.value, iv.low, iv.high]


def sweep_row(ds: xr.Dataset, islands: str) -> dict:
    """One variant's numbers on the selection scenes (``ds`` over ``seed``), for ``islands``:
    settled top-level ARI, where objects touch and where apart, its margin over the
    strongest baseline, the rise over settling (I3), the gain over the lateral-off model
    (I5), on clips, level 0 against parts, and the top level's lateral share; each
    ``[value, low, high]`` (NaN bounds where no interval applies)."""
    from bioglom.analysis.claim_rows import per_sample
    from bioglom.analysis.verdicts import difference_of_means

    d = ds.sel(islands=islands)
    top, last = int(ds.level[-1]), int(ds.step[-1])
    settled = d.ari.sel(target="objects", step=last, level=top)
    base = strongest_baseline(ds)
    touch = ds.objects_touch.astype(bool)
    row = {
        "static_ari": _interval(mean_of, per_sample(settled)),
        "touching_ari": [float(settled.where(touch).mean())] + [np.nan] * 2,
        "apart_ari": [float(settled.where(~touch).mean())] + [np.nan] * 2,
        "above_baseline": _interval(difference_of_means, per_sample(settled),
                                    per_sample(ds.baseline_ari.sel(target="objects", baseline=base))),
        "baseline_ari": [float(ds.baseline_ari.sel(target="objects", baseline=base).mean())] + [np.nan] * 2,
        "rise": _interval(difference_of_means, per_sample(settled), per_sample(d.ari.sel(target="objects", step=0, level=top))),
        "lateral_gain": _interval(difference_of_means, per_sample(settled),
                                  per_sample(d.ari_no_lateral.sel(level=top))),
        "level0_parts": [float(d.ari.sel(target="parts", step=last, level=0).mean())] + [np.nan] * 2,
        "lateral_share": [float(ds.consensus_share.sel(level=top, contribution="lateral").mean())] + [np.nan] * 2,
    }
    if "backprop_ari" in ds:  # a local rule beside backprop's default recipe (claims L1-L3)
        from bioglom.experiments.islands.claims import _gain_ratio, _scalar_ratio

        dd = ds.sel(islands=islands)
        own = ds.collapse.sel(probe_step="settled", level=top)
        ref = ds.backprop_collapse.sel(level=top)
        row["backprop_ari"] = _interval(mean_of, per_sample(dd.backprop_ari))
        row["gain_ratio"] = _interval(_gain_ratio, per_sample(settled), per_sample(dd.untrained_ari),
                                      per_sample(dd.backprop_ari), per_sample(dd.backprop_untrained_ari))
        for m, key in (("spread_across", "across_ratio"), ("participation_ratio", "rank_ratio")):
            row[key] = _interval(_scalar_ratio, own.sel(collapse_measure=m).values[:, None],
                                 ref.sel(collapse_measure=m).values[:, None])
    if "clip_ari" in ds:
        clip = ds.clip_ari.sel(islands=islands)
        row["clip_ari"] = _interval(mean_of, per_sample(clip.sel(moment="settled"), "clip"))
        row["clip_rise"] = _interval(difference_of_means, per_sample(clip.sel(moment="settled"), "clip"),
                                     per_sample(clip.sel(moment="step 0"), "clip"))
    return {"strongest_baseline": base, **row}


def run_sweep(opts, device, out) -> int:
    """Every variant of the ``sweep_set`` over ``sweep_seeds`` seeds, measured on the
    selection streams; a table per kind of islands into sweep.nc or sweep_local.nc (value
    and 95 % interval over seeds and scenes). Local variants share one backprop reference
    per seed."""
    k, n = opts.shard
    seeds = list(range(opts.seed, opts.seed + opts.sweep_seeds))
    local = opts.sweep_set == "local"
    variants, base = (LOCAL_VARIANTS, LOCAL_SWEEP_BASE) if local else (VARIANTS, SWEEP_BASE)
    stem = "sweep_local" if local else "sweep"
    reference = out / "checkpoints" / "backprop_reference" if local else None
    rows = {}
    for i, (name, change) in enumerate(variants.items()):
        for j, s in enumerate(seeds):
            if (i * len(seeds) + j) % n != k:
                continue
            v = dataclasses.replace(opts, seeds=1, **{**base, **change})
            v.validate()
            folder = out / "checkpoints" / name.replace(" ", "_").replace("/", "-").replace(",", "_")
            folder.mkdir(parents=True, exist_ok=True)
            print(f"variant: {name}, seed {s}", flush=True)
            rows.setdefault(name, []).append(run_seed(v, s, device, folder, "selection",
                                                      reference_folder=reference).expand_dims(seed=[s]))
    if n > 1:
        print(f"shard {k},{n}: {sum(map(len, rows.values()))} runs cached; run --sweep --resume without --shard to "
              "write sweep.nc")
        return 0
    table = {}
    for name, parts in rows.items():
        ds = xr.concat(parts, "seed", data_vars="minimal", coords="minimal", compat="override")
        table[name] = {kind: sweep_row(ds, kind) for kind in ("threshold", "connected")}
    names = list(table)
    measures = [m for m in table[names[0]]["connected"] if m != "strongest_baseline"]
    data = {m: (("variant", "islands", "bound"),
                np.array([[table[v][kind].get(m, [np.nan] * 3) for kind in ("threshold", "connected")]
                          for v in names], float),
                {"long_name": SWEEP_MEASURES[m], "units": "1"}) for m in measures}
    data["strongest_baseline"] = ("variant", [table[v]["connected"]["strongest_baseline"] for v in names],
                                  {"long_name": "strongest model-free baseline on the selection scenes"})
    sweep = xr.Dataset(data, coords={"variant": names, "islands": ["threshold", "connected"],
                                     "bound": ["value", "low", "high"],
                                     "change": ("variant", [repr(variants[v]) for v in names]),
                                     "seeds": len(seeds)})
    sweep.attrs.update(run_attrs(dataclasses.asdict(opts), opts.seed, base=repr(base), seeds=json.dumps(seeds)))
    path = write_netcdf(sweep, out / f"{stem}.nc")
    atomic_write_bytes(out / f"{stem}.csv", sweep_frame(sweep).to_csv().encode())
    print(sweep_table(sweep))
    print(f"wrote {path} and {stem}.csv")
    return 0


SWEEP_MEASURES = {
    "static_ari": "settled top level's foreground ARI against objects, selection scenes",
    "touching_ari": "the same where two objects touch", "apart_ari": "the same where no objects touch",
    "above_baseline": "settled top level's ARI minus the strongest model-free baseline's",
    "baseline_ari": "the strongest model-free baseline's ARI",
    "rise": "settled minus step 0 (I3)", "lateral_gain": "settled minus the lateral-off model's (I5)",
    "level0_parts": "level 0's settled ARI against parts", "lateral_share": "lateral share of the top level's consensus",
    "clip_ari": "settled top level's ARI on the last frame of selection clips", "clip_rise": "on clips, settled minus step 0",
    "backprop_ari": "backprop's default recipe on the same seeds: settled top-level ARI",
    "gain_ratio": "L1's statistic: the local rule's gain over its untrained network over backprop's",
    "across_ratio": "L3a's statistic: top-level spread across images over backprop's",
    "rank_ratio": "L3b's statistic: top-level participation ratio over backprop's",
}


def sweep_frame(sweep: xr.Dataset):
    """The sweep as one table: a row per variant and kind of islands, a column per measure
    and bound (``static_ari``, ``static_ari_low``, ...), the strongest baseline and the change."""
    frame = sweep.drop_vars(["strongest_baseline", "change"]).to_dataframe().unstack("bound")
    frame.columns = [m if b == "value" else f"{m}_{b}" for m, b in frame.columns]
    frame = frame.drop(columns=[c for c in frame.columns if c.startswith("seeds")]).dropna(axis=1, how="all").round(4)
    frame["strongest_baseline"] = [str(sweep.strongest_baseline.sel(variant=v).values) for v, _ in frame.index]
    frame["change"] = [str(sweep.change.sel(variant=v).values) for v, _ in frame.index]
    return frame


def sweep_table(sweep: xr.Dataset, islands: str = "connected") -> str:
    """One line per variant: static ARI [interval], touching / apart, clip ARI, rise, I5, the
    strongest baseline (``islands`` islands)."""
    s = sweep.sel(islands=islands)
    width = max(len(str(v)) for v in s.variant.values) + 2
    local = "gain_ratio" in sweep
    lines = [f"{'variant':<{width}}{'static ARI [95 %]':>22}{'touch':>7}{'apart':>7}{'clip ARI':>9}{'rise':>7}"
             f"{'I5':>7}" + (f"{'L1':>7}{'across':>7}{'rank':>7}" if local else "")
             + f"  strongest baseline   ({islands} islands, {int(sweep.seeds)} seeds"
             + ("; L1, across, rank: ratios to backprop's default recipe" if local else "") + ")"]
    for v in s.variant.values:
        r = s.sel(variant=v)
        val = lambda m, b="value": float(r[m].sel(bound=b)) if m in r else float("nan")  # noqa: E731
        ratios = f"{val('gain_ratio'):>7.2f}{val('across_ratio'):>7.2f}{val('rank_ratio'):>7.2f}" if local else ""
        lines.append(f"{str(v):<{width}}{val('static_ari'):>8.3f} [{val('static_ari', 'low'):.3f}, "
                     f"{val('static_ari', 'high'):.3f}]{val('touching_ari'):>7.3f}{val('apart_ari'):>7.3f}"
                     f"{val('clip_ari'):>9.3f}{val('rise'):>7.3f}{val('lateral_gain'):>7.3f}{ratios}  "
                     f"{str(r.strongest_baseline.values)} {val('baseline_ari'):.3f}")
    if local:
        b = s.backprop_ari.sel(bound="value").values
        lines.append(f"backprop's default recipe on the same seeds: {float(np.nanmean(b)):.3f}")
    return "\n".join(lines)
