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

from .recorder import Claim
from .verdicts import bootstrap, combine_verdicts, difference_of_means, relative_reduction, verdict_at_least, \
    verdict_within

__all__ = ["DISTILLERY_TARGETS", "distillery_claims", "find_run"]

DISTILLERY_TARGETS = dict(equivalence=0.03)
ABOVE_ZERO = 1e-9


def find_run(ds: xr.Dataset, retina: str, condition: str, rule: str, location: bool = False):
    """The ``run`` label with these coordinates, or None."""
    hit = (ds.retina == retina) & (ds.condition == condition) & (ds.rule == rule) & (ds.location == location)
    runs = ds.run.values[hit.values]
    return runs[0] if len(runs) else None


def _sm(da: xr.DataArray, samples: str) -> np.ndarray:
    return da.transpose("seed", samples).values


def _missing(id_: str, needs: str) -> Claim:
    return Claim(id_, float("nan"), False, f"not measured: needs the {needs} runs", verdict="undecided")


def _combined(id_, parts: list[Claim], criterion: str) -> Claim:
    verdict = combine_verdicts([c.decided for c in parts])
    main = parts[-1]
    return Claim(id_, main.value, verdict == "held", criterion, main.low, main.high, verdict)


def _fall_difference(de, ds_, ue, us):
    """Statistic: relative fall of the first pair minus that of the second."""
    m = lambda x: np.nanmean(x, axis=(-2, -1))  # noqa: E731
    return (1 - m(de) / m(ds_)) - (1 - m(ue) / m(us))


def _loss_difference(su, sf, uu, uf):
    """Statistic: (shared uniform - shared foveated) - (unshared uniform - unshared foveated)."""
    m = lambda x: np.nanmean(x, axis=(-2, -1))  # noqa: E731
    return (m(su) - m(sf)) - (m(uu) - m(uf))


def distillery_claims(ds: xr.Dataset, rule: str, resamples: int = 2000, targets: dict | None = None) -> list[Claim]:
    """D1-D5 for one local rule (see the module docstring for ``ds``); comparisons within
    the uniform retina except D4's."""
    t = dict(DISTILLERY_TARGETS, **(targets or {}))
    bs = dict(resamples=resamples)
    run = {(ret, cond, loc): find_run(ds, ret, cond, rule, loc) for ret in ("uniform", "foveated")
           for cond in ("shared", "unshared", "distilled") for loc in (False, True)}
    acc = {k: _sm(ds.probe_correct.sel(run=v), "sample") for k, v in run.items() if v is not None}
    rows = []

    dis, uns = run[("uniform", "distilled", False)], run[("uniform", "unshared", False)]
    if dis is None or uns is None:
        rows += [_missing("D1", "uniform distilled and unshared"), _missing("D1a", "uniform distilled"),
                 _missing("D1b", "uniform distilled and unshared")]
    else:
        d = {k: ds.dispersion_inputs.sel(run=v) for k, v in (("dis", dis), ("uns", uns))}
        at = lambda k, m: _sm(d[k].sel(moment=m), "input")  # noqa: E731
        a = bootstrap(relative_reduction, at("dis", "end"), at("dis", "start"), **bs)
        d1a = Claim.measured("D1a", a, verdict_at_least(a, ABOVE_ZERO),
                             "co-distilled columns converge: dispersion of the column nets on common inputs from the "
                             "data falls during training, 1 - end / start > 0")
        b = bootstrap(_fall_difference, at("dis", "end"), at("dis", "start"), at("uns", "end"), at("uns", "start"), **bs)
        d1b = Claim.measured("D1b", b, verdict_at_least(b, ABOVE_ZERO),
                             "and falls further than for the unshared control: relative fall (distilled) - relative "
                             "fall (unshared) > 0")
        rows += [_combined("D1", [d1a, d1b], "D1a and D1b both held (value: D1b)"), d1a, d1b]

    sha = run[("uniform", "shared", False)]
    if dis is None or sha is None:
        rows.append(_missing("D2", "uniform distilled and shared"))
    else:
        ratio = ds.ensemble_ratio.sel(moment="end")
        r = bootstrap(difference_of_means, _sm(ratio.sel(run=sha), "sample"), _sm(ratio.sel(run=dis), "sample"), **bs)
        rows.append(Claim.measured("D2", r, verdict_at_least(r, ABOVE_ZERO),
                                   "ensemble effect: on each digit's ink columns, the object-averaged bottom-up "
                                   "prediction's error over the single predictions' error (<= 1 by Jensen whenever "
                                   "they differ) is lower for distilled columns than for one shared net: ratio(shared) "
                                   "- ratio(distilled) > 0"))

    keys = [("uniform", c, False) for c in ("shared", "unshared", "distilled")]
    if not all(k in acc for k in keys):
        rows += [_missing("D3", "uniform shared, unshared and distilled"), _missing("D3a", "uniform shared, unshared"),
                 _missing("D3b", "uniform distilled, unshared")]
    else:
        s_, u_, d_ = (acc[k] for k in keys)
        a = bootstrap(difference_of_means, s_, u_, **bs)
        d3a = Claim.measured("D3a", a, verdict_at_least(a, ABOVE_ZERO),
                             "without weight sharing learning is less efficient: probe accuracy shared - unshared > 0 "
                             "(same data and budget)")
        b = bootstrap(difference_of_means, d_, u_, **bs)
        d3b = Claim.measured("D3b", b, verdict_at_least(b, ABOVE_ZERO),
                             "co-distillation narrows the gap: gap(unshared) - gap(distilled) = accuracy distilled - "
                             "unshared > 0")
        rows += [_combined("D3", [d3a, d3b], "D3a and D3b both held (value: D3b)"), d3a, d3b]

    keys = [(r_, c, False) for c in ("shared", "unshared") for r_ in ("uniform", "foveated")]
    if not all(k in acc for k in keys):
        rows.append(_missing("D4", "uniform and foveated shared and unshared"))
    else:
        v = bootstrap(_loss_difference, *(acc[k] for k in keys), **bs)
        rows.append(Claim.measured("D4", v, verdict_at_least(v, ABOVE_ZERO),
                                   "a foveated retina costs unshared columns less than shared ones: accuracy loss "
                                   "uniform -> foveated, shared - unshared > 0"))

    keys = [("uniform", "distilled", True), ("uniform", "distilled", False)]
    if not all(k in acc for k in keys):
        rows.append(_missing("D5", "uniform distilled with and without location"))
    else:
        v = bootstrap(difference_of_means, acc[keys[0]], acc[keys[1]], **bs)
        rows.append(Claim.measured("D5", v, verdict_within(v, t["equivalence"]),
                                   "unshared top-down nets need no location input: accuracy with location - without "
                                   f"lies within +-{t['equivalence']} (the whole interval)"))
    return rows

