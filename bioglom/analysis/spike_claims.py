"""The claims of the spiking simulation (docs/claims.md S1-S3; paper 12.3) from what its
Brian2 networks recorded: the STDP window against ``-K'`` (S1), the spike estimate of the
rate rule and its standard error against trials (S2), and a spiking column's learned
weights against the rate model's (S3)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .recorder import Claim

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


def spike_claims(s1s: dict, s2s: dict, col: xr.Dataset) -> tuple[list[Claim], dict]:
    """S1-S3 from the per-kernel S1 and S2 datasets and the S3 column's, and the measured
    numbers behind them (``{"s1_KERNEL": ..., "s2_KERNEL": ..., "s3": ...}``)."""
    nums = {}
    ratios = []
    for k, ds in s1s.items():
        err = float(np.abs(ds.s1_measured - ds.s1_analytic).max())
        nums[f"s1_{k}"] = dict(max_error=err, tolerance=ds.attrs["tolerance"], peak=ds.attrs["peak"])
        ratios.append(err / ds.attrs["tolerance"])
    c1 = Claim("S1", max(ratios), max(ratios) <= 1,
               "measured STDP window = -K' of the smoothing kernel for every kernel: largest |measured - analytic| "
               "within dt max|W'| + the traces' fit error (value: largest error / that tolerance)")
    devs, ok = [], True
    for k, ds in s2s.items():
        w = ds.s2_change.values
        mean, se = float(w.mean()), float(w.std(ddof=1) / np.sqrt(len(w)))
        n, ses, slope = se_curve(w)
        dev = abs(mean - ds.attrs["rate_rule"]) / abs(ds.attrs["rate_rule"])
        bias = abs(mean - ds.attrs["exact"]) / se
        nums[f"s2_{k}"] = dict(mean=mean, se=se, rate_rule=ds.attrs["rate_rule"], exact=ds.attrs["exact"],
                               deviation=dev, bias_in_se=bias, se_slope=slope)
        devs.append(dev)
        ok &= dev < 0.05 and bias < 3 and abs(slope + 0.5) < 0.1
    c2 = Claim("S2", max(devs), ok,
               "spike estimate noisy but unbiased, every kernel: mean change within 5% of the rate rule "
               "integral pre dpost/dt, within 3 s.e. of the exact pair expectation, and s.e. ~ trials^(-1/2) "
               "(log-log slope -0.5 +- 0.1) (value: largest relative deviation from the rate rule)")
    w0 = col.weight.isel(sample=0).values
    ds_w, dr_w = col.weight.isel(sample=-1).values - w0, col.rate_weight.isel(sample=-1).values - w0
    corr = float(np.corrcoef(ds_w.ravel(), dr_w.ravel())[0, 1])
    test = col.is_test.values
    a, c = col.inputs.values[test], col.targets.values[test]
    pred = {name: prediction_corr(w, a, c) for name, w in
            (("initial", w0), ("spiking", col.weight.isel(sample=-1).values),
             ("rate", col.rate_weight.isel(sample=-1).values))}
    nums["s3"] = dict(weight_change_corr=corr, **{f"prediction_corr_{k}": v for k, v in pred.items()})
    c3 = Claim("S3", corr, corr >= 0.9 and pred["spiking"] >= pred["initial"] + 0.2,
               "the spiking column's learned bottom-up weight changes correlate with the rate model's "
               "temporal_derivative rule's (>= 0.9), and its weights predict the held-out consensus better than "
               "the initial ones (prediction correlation up by >= 0.2) (value: correlation of weight changes)")
    return [c1, c2, c3], nums


def spike_dataset(kernels: list[str], s1s: dict, s2s: dict, col: xr.Dataset, nums: dict) -> xr.Dataset:
    """S1-S3 in one dataset: every measured number a variable (along ``kernel`` for S1 and
    S2, along ``model`` for S3's prediction test), S2's change of every trial, S3's
    variables ``s3_*`` on their own dimensions."""
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
