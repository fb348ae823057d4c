"""Claims D1-D5 (docs/claims.md, "The giant distillery") from per-sample measurements
stacked over a ``seed`` dimension.

The dataset holds, along ``run`` (coordinates ``retina``, ``condition``, ``rule`` and
``location``, the last True where the top-down nets take a location input):

- ``probe_correct`` (``seed, run, sample``): 1 where the standardised linear probe of
  the top level classifies a held-out test digit correctly (the same test digits in every
  run of a seed, so comparisons are paired);
- ``dispersion_inputs`` (``seed, run, moment, input``): functional dispersion of the
  column nets on common inputs drawn from the data, per input, mean over levels and
  directions, before training (``moment="start"``: the same config and seed, untrained)
  and after (``"end"``);
- ``ensemble_ratio`` (``seed, run, moment, sample``): :func:`~bioglom.experiments.distillery.measures.object_ensemble_ratio`
  on each test digit's ink columns, mean over levels, before and after training;
- ``feature_spread`` (``seed, run, moment``; digits): the spread of the probe's features
  before and after training, which the collapse gate of D3-D5 reads;
- ``probe_correct_start`` (``seed, run, sample``; digits): the probe's correctness on the
  run's untrained start; D5 (an equivalence) is held only where the run without location
  beats it.

Every value comes with a 95 % interval from :func:`~bioglom.analysis.verdicts.interval`
over seeds and samples and a three-way verdict.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ...analysis.claim_rows import ABOVE_ZERO, at_least, collapse_gate, combined, missing, needs_learning, per_sample
from ...analysis.recorder import Claim
from ...analysis.verdicts import difference_of_differences, difference_of_means, interval, relative_reduction, verdict_within

__all__ = ["DISTILLERY_TARGETS", "distillery_claims", "distillery_table", "find_run"]

DISTILLERY_TARGETS = dict(equivalence=0.03)


def find_run(ds: xr.Dataset, retina: str, condition: str, rule: str, location: bool = False):
    """The ``run`` label with these coordinates, or None."""
    hit = (ds.retina == retina) & (ds.condition == condition) & (ds.rule == rule) & (ds.location == location)
    runs = ds.run.values[hit.values]
    return runs[0] if len(runs) else None


def _fall_difference(de, ds_, ue, us):
    """Statistic: relative fall of the first pair minus that of the second."""
    m = lambda x: np.nanmean(x, axis=(-2, -1))  # noqa: E731
    return (1 - m(de) / m(ds_)) - (1 - m(ue) / m(us))


def distillery_claims(ds: xr.Dataset, rule: str, resamples: int = 2000, targets: dict | None = None,
                      quality: xr.DataArray | None = None) -> list[Claim]:
    """D1-D5 for one local rule (see the module docstring for ``ds``); comparisons within
    the uniform retina except D4's. ``quality`` (``seed, run, sample``; default
    ``ds.probe_correct``) is what D3-D5 compare: on the part-whole scenes, the settled
    top level's foreground ARI against the objects, and D2's objects are the scenes'
    ground-truth objects."""
    quality = ds.probe_correct if quality is None else quality
    what = {None: "probe accuracy", "probe_correct": "probe accuracy", "object_ari": "settled object ARI"}.get(
        quality.name, str(quality.name).replace("_", " "))
    t = dict(DISTILLERY_TARGETS, **(targets or {}))
    bs = dict(resamples=resamples)
    run = {(ret, cond, loc): find_run(ds, ret, cond, rule, loc) for ret in ("uniform", "foveated")
           for cond in ("shared", "unshared", "distilled") for loc in (False, True)}
    acc = {k: per_sample(quality.sel(run=v), "sample") for k, v in run.items() if v is not None}
    gate = _collapse_gate(ds, run) if quality.name in (None, "probe_correct") else (lambda claim, keys: claim)
    rows = []

    dis, uns = run[("uniform", "distilled", False)], run[("uniform", "unshared", False)]
    if dis is None or uns is None:
        rows += [missing("D1", "the uniform distilled and unshared runs"), missing("D1a", "the uniform distilled runs"),
                 missing("D1b", "the uniform distilled and unshared runs")]
    else:
        d = {k: ds.dispersion_inputs.sel(run=v) for k, v in (("dis", dis), ("uns", uns))}
        at = lambda k, m: per_sample(d[k].sel(moment=m), "input")  # noqa: E731
        a = interval(relative_reduction, at("dis", "end"), at("dis", "start"), **bs)
        d1a = at_least("D1a", a, ABOVE_ZERO,
                       "co-distilled columns converge: dispersion of the column nets on common inputs from the "
                       "data falls during training, 1 - end / start > 0")
        b = interval(_fall_difference, at("dis", "end"), at("dis", "start"), at("uns", "end"), at("uns", "start"),
                      **bs)
        d1b = at_least("D1b", b, ABOVE_ZERO,
                       "and falls further than for the unshared control: relative fall (distilled) - relative "
                       "fall (unshared) > 0")
        rows += [combined("D1", [d1a, d1b], "D1a and D1b both held (value: D1b)", main=d1b), d1a, d1b]

    sha = run[("uniform", "shared", False)]
    if dis is None or sha is None:
        rows.append(missing("D2", "the uniform distilled and shared runs"))
    else:
        ratio = lambda name, m: per_sample(ds.ensemble_ratio.sel(run=name, moment=m))  # noqa: E731
        # unshared nets start as independent draws, so their ensemble effect is there before any
        # training: D2 counts only what training adds to it
        r = interval(difference_of_differences, ratio(sha, "end"), ratio(dis, "end"), ratio(sha, "start"),
                     ratio(dis, "start"), **bs)
        rows.append(at_least("D2", r, ABOVE_ZERO,
                             "ensemble effect: on each ground-truth object (a digit's ink columns, a scene's "
                             "objects), the object-averaged bottom-up prediction's error over the single "
                             "predictions' error (<= 1 by Jensen whenever they differ) is lower for distilled "
                             "columns than for one shared net, and training widens the gap: [ratio(shared) - "
                             "ratio(distilled)] at the end minus the same at the start > 0"))

    keys = [("uniform", c, False) for c in ("shared", "unshared", "distilled")]
    if not all(k in acc for k in keys):
        rows += [missing("D3", "the uniform shared, unshared and distilled runs"),
                 missing("D3a", "the uniform shared, unshared runs"),
                 missing("D3b", "the uniform distilled, unshared runs")]
    else:
        s_, u_, d_ = (acc[k] for k in keys)
        a = interval(difference_of_means, s_, u_, **bs)
        d3a = gate(at_least("D3a", a, ABOVE_ZERO,
                            f"without weight sharing learning is less efficient: {what} shared - unshared > 0 "
                            "(same data and budget)"), keys[:2])
        b = interval(difference_of_means, d_, u_, **bs)
        d3b = gate(at_least("D3b", b, ABOVE_ZERO,
                            f"co-distillation narrows the gap: gap(unshared) - gap(distilled) = {what} distilled - "
                            "unshared > 0"), keys[1:])
        rows += [combined("D3", [d3a, d3b], "D3a and D3b both held (value: D3b)", main=d3b), d3a, d3b]

    keys = [(r_, c, False) for c in ("shared", "unshared") for r_ in ("uniform", "foveated")]
    if not all(k in acc for k in keys):
        rows.append(missing("D4", "the uniform and foveated shared and unshared runs"))
    else:
        v = interval(difference_of_differences, *(acc[k] for k in keys), **bs)
        rows.append(gate(at_least("D4", v, ABOVE_ZERO,
                                  f"a foveated retina costs unshared columns less than shared ones: {what} loss "
                                  "uniform -> foveated, shared - unshared > 0"), keys))

    keys = [("uniform", "distilled", True), ("uniform", "distilled", False)]
    if not all(k in acc for k in keys):
        rows.append(missing("D5", "the uniform distilled with and without location runs"))
    else:
        v = interval(difference_of_means, acc[keys[0]], acc[keys[1]], **bs)
        margin = t["equivalence"]
        criterion = (f"unshared top-down nets need no location input: {what} with location - without lies within "
                     f"+-{margin} (the whole interval)")
        verdict = verdict_within(v, margin)
        if verdict == "undecided" and v.high - v.low > 2 * margin:
            criterion += (f"; not decidable at this budget: the interval ({v.high - v.low:.3f} wide) is wider than "
                          f"the equivalence band ({2 * margin:g}), so only more seeds or samples can decide it")
        d5 = gate(Claim.measured("D5", v, verdict, criterion), keys)
        if "probe_correct_start" in ds and quality.name in (None, "probe_correct"):
            start = per_sample(ds.probe_correct_start.sel(run=run[keys[1]]), "sample")
            learned = at_least("", interval(difference_of_means, acc[keys[1]], start, **bs), ABOVE_ZERO, "")
            d5 = needs_learning(d5, learned, "the run without location")
        rows.append(d5)
    return rows


def _collapse_gate(ds: xr.Dataset, run: dict):
    """A function ``(claim, run keys) -> claim`` that applies :func:`~.claim_rows.collapse_gate`
    with the compared runs' probe-feature spreads at the end of training against their
    untrained starts (no gate where ``feature_spread`` was not recorded)."""
    if "feature_spread" not in ds:
        return lambda claim, keys: claim

    def gate(claim: Claim, keys) -> Claim:
        spreads = {}
        for k in keys:
            s = ds.feature_spread.sel(run=run[k])
            spreads[str(run[k])] = (float(s.sel(moment="end").mean()), float(s.sel(moment="start").mean()))
            if "collapse" in ds:  # the same vector whatever the input keeps the spread within an image
                a = ds.collapse.sel(run=run[k], collapse_measure="spread_across").isel(level=-1)
                spreads[f"{run[k]}, top level across images"] = (float(a.sel(moment="end").mean()),
                                                                 float(a.sel(moment="start").mean()))
        return collapse_gate(claim, spreads)

    return gate


def distillery_table(ds: xr.Dataset) -> str:
    """The distillery summary: per run its final quality, denoising error, dispersion and
    the ensemble ratio at the start and end of training and, on digits, the probe features'
    spread at the start and end (what the collapse gate reads) and the top level's spread
    across images and participation ratio at the start (the untrained network) and end,
    means over seeds."""
    from .measures import final_quality

    m = ds.mean("seed")
    quality = final_quality(ds).mean("seed")
    spread = "feature_spread" in ds
    top = m.collapse.isel(level=-1) if spread and "collapse" in ds else None
    rows = [f"{'run':<50}{'probe' if 'probe_correct' in ds else 'obj ARI':>7}{'denoise':>9}{'disp start':>11}"
            f"{'disp end':>9}{'ens. start':>11}{'ens. end':>9}" + (f"{'spread start':>13}{'spread end':>11}"
                                                                    if spread else "")
            + (f"{'across start':>13}{'across end':>11}{'PR start':>9}{'PR end':>7}" if top is not None else "")]
    for n in ds.run.values:
        e = m.sel(run=n)
        rows.append(f"{n:<50}{float(quality.sel(run=n).mean()):>7.3f}{float(e.denoise_error.mean()):>9.4f}"
                    f"{float(e.dispersion_inputs.sel(moment='start').mean()):>11.3f}"
                    f"{float(e.dispersion_inputs.sel(moment='end').mean()):>9.3f}"
                    f"{float(e.ensemble_ratio.sel(moment='start').mean()):>11.3f}"
                    f"{float(e.ensemble_ratio.sel(moment='end').mean()):>9.3f}"
                    + (f"{float(e.feature_spread.sel(moment='start')):>13.3f}"
                       f"{float(e.feature_spread.sel(moment='end')):>11.3f}" if spread else "")
                    + ("".join(f"{float(top.sel(run=n, moment=t, collapse_measure=c)):>{w}.{p}f}"
                               for c, p, ws in (("spread_across", 3, (13, 11)), ("participation_ratio", 2, (9, 7)))
                               for t, w in zip(("start", "end"), ws)) if top is not None else ""))
    return "\n".join(rows)
