"""The claims of the spiking simulation (docs/claims.md S1-S3; paper 12.3) from what its
Brian2 networks recorded, over seeds: the STDP window against ``-K'`` (S1), the spike
estimate of the rate rule and its standard error against trials (S2), and a spiking
column's learned weights against the rate model's (S3)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ...analysis.claim_rows import at_least, at_most, combined
from ...analysis.recorder import Claim
from ...analysis.verdicts import interval, mean_of

__all__ = ["se_curve", "prediction_corr", "spike_claims", "spike_dataset"]


def se_curve(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Standard error of the mean of the first ``n`` trials for ``n`` halving from all
    trials down to 25, and the slope of log(se) against log(n)."""
    n = [len(w)]
    while n[-1] // 2 >= 25:
        n.append(n[-1] // 2)
    n = np.array(n[::-1])
    se = np.array([w[:k].std(ddof=1) / np.sqrt(k) for k in n])
    slope = float(np.polyfit(np.log(n), np.log(se), 1)[0]) if len(n) > 1 else float("nan")
    return n, se, slope


def prediction_corr(w: np.ndarray, a: np.ndarray, c: np.ndarray) -> float:
    """Mean over output units of the correlation across samples between ``a W`` and ``c``."""
    p = a @ w
    p, c = p - p.mean(0), c - c.mean(0)
    scale = np.sqrt((p**2).sum(0) * (c**2).sum(0))
    # a constant prediction has correlation 0
    return float(np.mean(np.where(scale > 1e-12, (p * c).sum(0) / np.maximum(scale, 1e-300), 0.0)))


def _seed_numbers(s1s: dict, s2s: dict, col: xr.Dataset) -> dict:
    """The numbers one seed's parts measure: per kernel S1's largest error and tolerance and
    S2's mean, standard error, references and s.e. slope; S3's correlations."""
    nums = {}
    for k, ds in s1s.items():
        err = float(np.abs(ds.s1_measured - ds.s1_analytic).max())
        nums[f"s1_{k}"] = dict(max_error=err, tolerance=ds.attrs["tolerance"], peak=ds.attrs["peak"])
    for k, ds in s2s.items():
        w = ds.s2_change.values
        mean, se = float(w.mean()), float(w.std(ddof=1) / np.sqrt(len(w)))
        n, ses, slope = se_curve(w)
        nums[f"s2_{k}"] = dict(mean=mean, se=se, rate_rule=ds.attrs["rate_rule"], exact=ds.attrs["exact"],
                               deviation=abs(mean - ds.attrs["rate_rule"]) / abs(ds.attrs["rate_rule"]),
                               bias_in_se=abs(mean - ds.attrs["exact"]) / se, se_slope=slope)
    w0 = col.weight.isel(sample=0).values
    ds_w, dr_w = col.weight.isel(sample=-1).values - w0, col.rate_weight.isel(sample=-1).values - w0
    corr = float(np.corrcoef(ds_w.ravel(), dr_w.ravel())[0, 1])
    test = col.is_test.values
    a, c = col.inputs.values[test], col.targets.values[test]
    pred = {name: prediction_corr(w, a, c) for name, w in
            (("initial", w0), ("spiking", col.weight.isel(sample=-1).values),
             ("rate", col.rate_weight.isel(sample=-1).values))}
    nums["s3"] = dict(weight_change_corr=corr, **{f"prediction_corr_{k}": v for k, v in pred.items()})
    return nums


def _per_seed(values) -> np.ndarray:
    """One number per seed as ``[seeds, 1]`` measurements (one seed: no interval)."""
    return np.asarray(values, dtype=float)[:, None]


def spike_claims(runs: dict, targets: dict | None = None) -> tuple[list[Claim], dict]:
    """S1-S3 over seeds from ``runs`` (``{seed: (S1 datasets per kernel, S2 datasets per
    kernel, S3 column dataset)}``), and the numbers behind them (``{seed: {"s1_KERNEL":
    ..., "s2_KERNEL": ..., "s3": ...}}``). Each value has a t-interval over seeds
    (:func:`~bioglom.analysis.verdicts.interval`; S2's relative deviations, measured per
    trial, have a bootstrap over trials when there is one seed) and a three-way verdict;
    with one seed the other claims are ``undecided``.

    - S1: the largest |measured - analytic| window over its tolerance (``dt max|W'|`` plus
      the traces' fit error), worst kernel, <= 1.
    - S2a: the mean change over trials within 5 % of the rate rule ``integral pre dpost/dt``,
      worst kernel; S2b: within 5 % of the exact pair expectation (unbiased); S2c: the
      standard error falls as ``trials^(-1/2)``, |log-log slope + 0.5| <= 0.1, worst kernel.
    - S3a: the spiking column's learned weight changes correlate with the rate model's
      ``temporal_derivative`` rule's, >= 0.9; S3b: its weights predict the held-out
      consensus better than the initial ones, prediction correlation up by >= 0.2.
    """
    t = dict(relative=0.05, slope=0.1, corr=0.9, gain=0.2, **(targets or {}))
    seeds = sorted(runs)
    nums = {s: _seed_numbers(*runs[s]) for s in seeds}
    kernels = list(runs[seeds[0]][1])
    per = lambda f: _per_seed([f(nums[s]) for s in seeds])  # noqa: E731

    s1 = at_most("S1", interval(mean_of, per(lambda n: max(n[f"s1_{k}"]["max_error"] / n[f"s1_{k}"]["tolerance"]
                                                           for k in runs[seeds[0]][0]))), 1.0,
                 "measured STDP window = -K' of the smoothing kernel for every kernel: largest |measured - analytic| "
                 "over dt max|W'| + the traces' fit error <= 1 (value: that ratio, worst kernel; delays shifted per "
                 "seed)")

    def relative_to(key):
        refs = [float(runs[seeds[0]][1][k].attrs[key]) for k in kernels]

        def statistic(*changes):  # changes: one [..., seeds, trials] per kernel
            return np.max([np.abs(np.nanmean(c, axis=(-2, -1)) / r - 1) for c, r in zip(changes, refs)], axis=0)
        return statistic

    changes = [np.stack([runs[s][1][k].s2_change.values for s in seeds]) for k in kernels]  # seed trial, per kernel
    s2a = at_most("S2a", interval(relative_to("rate_rule"), *changes), t["relative"],
                  f"the spike estimate's mean change over trials lies within {t['relative']:.0%} of the rate rule "
                  "integral pre dpost/dt (value: |mean / rate rule - 1|, worst kernel)")
    s2b = at_most("S2b", interval(relative_to("exact"), *changes), t["relative"],
                  f"and within {t['relative']:.0%} of the exact pair expectation, so the estimate is unbiased "
                  "(value: |mean / exact - 1|, worst kernel)")
    s2c = at_most("S2c", interval(mean_of, per(lambda n: max(abs(n[f"s2_{k}"]["se_slope"] + 0.5) for k in kernels))),
                  t["slope"], f"its standard error falls as trials^(-1/2): |log-log slope + 0.5| <= {t['slope']} "
                              "(worst kernel)")
    s2 = combined("S2", [s2a, s2b, s2c], "spike estimate noisy but unbiased, every kernel: S2a, S2b and S2c all "
                                         "held (value: S2a)")
    s3a = at_least("S3a", interval(mean_of, per(lambda n: n["s3"]["weight_change_corr"])), t["corr"],
                   f"the spiking column's learned bottom-up weight changes correlate with the rate model's "
                   f"temporal_derivative rule's >= {t['corr']}")
    s3b = at_least("S3b", interval(mean_of, per(lambda n: n["s3"]["prediction_corr_spiking"]
                                                - n["s3"]["prediction_corr_initial"])), t["gain"],
                   f"its weights predict the held-out consensus better than the initial ones: prediction "
                   f"correlation, learned minus initial >= {t['gain']}")
    s3 = combined("S3", [s3a, s3b], "a spiking column learns as the rate rule does: S3a and S3b both held "
                                    "(value: S3a)")
    return [s1, s2, s2a, s2b, s2c, s3, s3a, s3b], nums


def spike_dataset(kernels: list[str], runs: dict, nums: dict) -> xr.Dataset:
    """S1-S3 of every seed in one dataset, along ``seed``: every measured number a variable
    (along ``kernel`` for S1 and S2, along ``model`` for S3's prediction test), S2's change
    of every trial, S3's variables ``s3_*`` on their own dimensions."""
    return xr.concat([_seed_dataset(kernels, *runs[s], nums[s]) for s in sorted(runs)], "seed",
                     coords="minimal", compat="override").assign_coords(seed=sorted(runs))


def _seed_dataset(kernels: list[str], s1s: dict, s2s: dict, col: xr.Dataset, nums: dict) -> xr.Dataset:
    s1_all = xr.concat([s1s[k].assign_attrs({}) for k in kernels], "kernel").assign_coords(kernel=kernels)
    s1_all["s1_tolerance"] = ("kernel", [nums[f"s1_{k}"]["tolerance"] for k in kernels], {"units": "1/s**2"})
    s2 = {name: ("kernel", [nums[f"s2_{k}"][key] for k in kernels], {"units": unit}) for name, key, unit in (
        ("s2_mean", "mean", "Hz**2"), ("s2_se", "se", "Hz**2"), ("s2_rate_rule", "rate_rule", "Hz**2"),
        ("s2_exact", "exact", "Hz**2"), ("s2_se_slope", "se_slope", "1"))}
    s2["s2_change"] = (("kernel", "trial"), np.stack([s2s[k].s2_change.values for k in kernels]), {"units": "Hz**2"})
    s3_all = col.assign_attrs({}).rename({v: f"s3_{v}" for v in col.data_vars})
    s3_all["s3_weight_change_corr"] = ((), nums["s3"]["weight_change_corr"])
    models = ["initial", "spiking", "rate"]
    s3_all["s3_prediction_corr"] = ("model", [nums["s3"][f"prediction_corr_{m}"] for m in models])
    out = xr.merge([s1_all, xr.Dataset(s2, coords={"kernel": kernels}), s3_all.assign_coords(model=models)])
    out.attrs = {}  # the parts' own attributes (options, timings) stay in their checkpoints
    return out
