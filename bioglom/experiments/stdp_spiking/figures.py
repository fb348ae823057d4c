"""Figures of the spiking simulation (docs/claims.md S1-S3), from its parts' datasets."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .claims import se_curve

__all__ = ["spike_figures"]


def spike_figures(s1s: dict, s2s: dict, col: xr.Dataset) -> dict:
    """The spiking simulation's figures, ``{file name: figure}``: ``window.png`` (S1: the
    measured STDP window against ``-K'`` per kernel), ``estimate.png`` (S2: the estimate
    against the rate rule and the exact expectation; its standard error against trials)
    and ``weights.png`` (S3: the spiking column's weight changes against the rate model's,
    and their convergence)."""
    import matplotlib.pyplot as plt

    figs = {}
    fig, axes = plt.subplots(1, len(s1s), figsize=(4.5 * len(s1s), 3.2), squeeze=False)
    for ax, (k, ds) in zip(axes[0], s1s.items()):
        d = ds.s1_delay.values * 1e3
        ax.plot(d, ds.s1_analytic, "k-", label="-K' (analytic)")
        ax.plot(d, ds.s1_measured, "o", ms=3, label="measured (Brian2)")
        ax.set(title=f"S1: {k} kernel", xlabel="t_post - t_pre (ms)", ylabel="weight change (1/s$^2$)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    figs["window.png"] = fig

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
    for i, (k, ds) in enumerate(s2s.items()):
        w = ds.s2_change.values
        ax1.errorbar([i], [w.mean()], yerr=[2 * w.std(ddof=1) / np.sqrt(len(w))], fmt="o", capsize=4,
                     label="spikes: mean +- 2 s.e." if i == 0 else None)
        ax1.plot([i - 0.3, i + 0.3], [ds.attrs["rate_rule"]] * 2, "k-", label="rate rule" if i == 0 else None)
        ax1.plot([i - 0.3, i + 0.3], [ds.attrs["exact"]] * 2, "k:", label="exact pair expectation" if i == 0 else None)
        n, se, slope = se_curve(w)
        ax2.loglog(n, se, "o-", label=f"{k} (slope {slope:.2f})")
    ax1.set(xticks=range(len(s2s)), xticklabels=list(s2s), ylabel="weight change (Hz$^2$)", title="S2: estimate")
    ax1.legend(fontsize=7)
    ax2.set(xlabel="trials", ylabel="standard error", title="S2: s.e. against trials")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    figs["estimate.png"] = fig

    w0 = col.weight.isel(sample=0).values
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
    ax1.plot((col.rate_weight.isel(sample=-1).values - w0).ravel(), (col.weight.isel(sample=-1).values - w0).ravel(),
             "o", ms=3)
    lim = np.abs(ax1.get_xlim()).max()
    ax1.plot([-lim, lim], [-lim, lim], "k:", lw=1)
    ax1.set(xlabel="rate model: weight change", ylabel="spiking column: weight change", title="S3: learned weights")
    ax2.plot(col.sample, np.linalg.norm((col.weight - col.weight.isel(sample=-1)).values, axis=(1, 2)), label="spiking")
    ax2.plot(col.sample, np.linalg.norm((col.rate_weight - col.rate_weight.isel(sample=-1)).values, axis=(1, 2)),
             label="rate")
    ax2.set(xlabel="sample", ylabel="||W - W_final||", title="S3: convergence")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    figs["weights.png"] = fig
    return figs
