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
- ``ensemble_ratio`` (``seed, run, moment, sample``): :func:`~bioglom.analysis.distillery.object_ensemble_ratio`
  on each test digit's ink columns, mean over levels, before and after training.

Every value comes with a 95 % interval from :func:`~bioglom.analysis.verdicts.bootstrap`
over seeds and samples and a three-way verdict.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .claim_rows import ABOVE_ZERO, at_least, combined, missing, per_sample
from .recorder import Claim
from .verdicts import bootstrap, difference_of_means, relative_reduction, verdict_within

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


def _loss_difference(su, sf, uu, uf):
    """Statistic: (shared uniform - shared foveated) - (unshared uniform - unshared foveated)."""
    m = lambda x: np.nanmean(x, axis=(-2, -1))  # noqa: E731
    return (m(su) - m(sf)) - (m(uu) - m(uf))


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
    rows = []

    dis, uns = run[("uniform", "distilled", False)], run[("uniform", "unshared", False)]
    if dis is None or uns is None:
        rows += [missing("D1", "the uniform distilled and unshared runs"), missing("D1a", "the uniform distilled runs"),
                 missing("D1b", "the uniform distilled and unshared runs")]
    else:
        d = {k: ds.dispersion_inputs.sel(run=v) for k, v in (("dis", dis), ("uns", uns))}
        at = lambda k, m: per_sample(d[k].sel(moment=m), "input")  # noqa: E731
        a = bootstrap(relative_reduction, at("dis", "end"), at("dis", "start"), **bs)
        d1a = at_least("D1a", a, ABOVE_ZERO,
                       "co-distilled columns converge: dispersion of the column nets on common inputs from the "
                       "data falls during training, 1 - end / start > 0")
        b = bootstrap(_fall_difference, at("dis", "end"), at("dis", "start"), at("uns", "end"), at("uns", "start"),
                      **bs)
        d1b = at_least("D1b", b, ABOVE_ZERO,
                       "and falls further than for the unshared control: relative fall (distilled) - relative "
                       "fall (unshared) > 0")
        rows += [combined("D1", [d1a, d1b], "D1a and D1b both held (value: D1b)", main=d1b), d1a, d1b]

    sha = run[("uniform", "shared", False)]
    if dis is None or sha is None:
        rows.append(missing("D2", "the uniform distilled and shared runs"))
    else:
        ratio = ds.ensemble_ratio.sel(moment="end")
        r = bootstrap(difference_of_means, per_sample(ratio.sel(run=sha)), per_sample(ratio.sel(run=dis)), **bs)
        rows.append(at_least("D2", r, ABOVE_ZERO,
                             "ensemble effect: on each ground-truth object (a digit's ink columns, a scene's "
                             "objects), the object-averaged bottom-up prediction's error over the single "
                             "predictions' error (<= 1 by Jensen whenever they differ) is lower for distilled "
                             "columns than for one shared net: ratio(shared) - ratio(distilled) > 0"))

    keys = [("uniform", c, False) for c in ("shared", "unshared", "distilled")]
    if not all(k in acc for k in keys):
        rows += [missing("D3", "the uniform shared, unshared and distilled runs"),
                 missing("D3a", "the uniform shared, unshared runs"),
                 missing("D3b", "the uniform distilled, unshared runs")]
    else:
        s_, u_, d_ = (acc[k] for k in keys)
        a = bootstrap(difference_of_means, s_, u_, **bs)
        d3a = at_least("D3a", a, ABOVE_ZERO,
                       f"without weight sharing learning is less efficient: {what} shared - unshared > 0 "
                       "(same data and budget)")
        b = bootstrap(difference_of_means, d_, u_, **bs)
        d3b = at_least("D3b", b, ABOVE_ZERO,
                       f"co-distillation narrows the gap: gap(unshared) - gap(distilled) = {what} distilled - "
                       "unshared > 0")
        rows += [combined("D3", [d3a, d3b], "D3a and D3b both held (value: D3b)", main=d3b), d3a, d3b]

    keys = [(r_, c, False) for c in ("shared", "unshared") for r_ in ("uniform", "foveated")]
    if not all(k in acc for k in keys):
        rows.append(missing("D4", "the uniform and foveated shared and unshared runs"))
    else:
        v = bootstrap(_loss_difference, *(acc[k] for k in keys), **bs)
        rows.append(at_least("D4", v, ABOVE_ZERO,
                             f"a foveated retina costs unshared columns less than shared ones: {what} loss "
                             "uniform -> foveated, shared - unshared > 0"))

    keys = [("uniform", "distilled", True), ("uniform", "distilled", False)]
    if not all(k in acc for k in keys):
        rows.append(missing("D5", "the uniform distilled with and without location runs"))
    else:
        v = bootstrap(difference_of_means, acc[keys[0]], acc[keys[1]], **bs)
        rows.append(Claim.measured("D5", v, verdict_within(v, t["equivalence"]),
                                   f"unshared top-down nets need no location input: {what} with location - without "
                                   f"lies within +-{t['equivalence']} (the whole interval)"))
    return rows


def distillery_table(ds: xr.Dataset) -> str:
    """The distillery summary: per run its final quality, denoising error, dispersion at
    the start and end of training and the ensemble ratio at the end, means over seeds."""
    from .distillery import final_quality

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
