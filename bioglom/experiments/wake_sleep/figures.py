"""Figures of the wake/sleep simulation (docs/claims.md W0-W4), from its result file."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ...analysis.figures import se_band
from .claims import final_readout, find_schedule

__all__ = ["sleep_figures"]


def sleep_figures(ds: xr.Dataset, pre: int, deprived: int) -> dict:
    """The wake/sleep simulation's figures, ``{file name: figure}``: ``curves.png`` (quality
    and spread of every schedule against updates, sleep shaded, +-1 s.e. over seeds),
    ``recovery.png`` (deprivation: ``pre`` interleaved, ``deprived`` wake-only updates,
    then sleep) and ``block_length.png`` (W1: final quality against block length)."""
    import matplotlib.pyplot as plt

    figs = {}
    names = list(ds.schedule.values)
    n_seeds = ds.sizes["seed"]
    quality = "accuracy" if "accuracy" in ds else "object_ari_mean"
    quality_label = "probe accuracy" if quality == "accuracy" else "object ARI"
    fig, axes = plt.subplots(len(names), 2, figsize=(9, 2.2 * len(names)), squeeze=False)
    for row, n in zip(axes, names):
        e = ds.sel(schedule=n).dropna("update", how="all", subset=[quality])
        ph = ds.schedule_period.sel(schedule=n).values
        for ax, var, label in zip(row, (quality, "spread"), (quality_label, "spread of the top level")):
            se_band(ax, e[var], "update", label=f"mean of {n_seeds} seeds")
            sleep = np.flatnonzero(ph == "sleep")
            if len(sleep):  # shade sleep updates
                starts = sleep[np.r_[True, np.diff(sleep) > 1]]
                ends = sleep[np.r_[np.diff(sleep) > 1, True]]
                for i, (a, b) in enumerate(zip(starts, ends)):
                    ax.axvspan(a, b + 1, color="0.85", lw=0, label="sleep (negative phase)" if i == 0 else None)
            ax.set_ylabel(label)
            ax.set_title(n, fontsize=8)
        row[0].set_ylim(0, 1)
    axes[0, 0].legend(fontsize=6)
    axes[-1, 0].set_xlabel("update")
    axes[-1, 1].set_xlabel("update")
    fig.tight_layout()
    figs["curves.png"] = fig

    dep, inter = find_schedule(ds, "deprivation"), find_schedule(ds, "interleaved")
    if dep is not None:
        e = ds.sel(schedule=dep).dropna("update", how="all", subset=[quality])
        fig, ax = plt.subplots(figsize=(5, 3))
        se_band(ax, e[quality], "update")
        for x in (pre, pre + deprived):
            ax.axvline(x, color="k", lw=0.5)
        ax.set_xlabel("update (interleaved | wake only | sleep)")
        ax.set_ylabel(quality_label)
        ax.set_title("deprivation and recovery (+-1 s.e. over seeds)", fontsize=9)
        fig.tight_layout()
        figs["recovery.png"] = fig

    blocks = [int(b) for b, k in zip(ds.block.values, ds.kind.values) if k == "day-night"]
    if inter is not None and blocks:
        def final(name):
            per_seed = final_readout(ds, name, quality).values
            return per_seed.mean(), per_seed.std() / np.sqrt(len(per_seed)) if len(per_seed) > 1 else 0.0

        fig, ax = plt.subplots(figsize=(4.5, 3))
        acc = [final(find_schedule(ds, "day-night", b)) for b in blocks]
        ax.errorbar(blocks, [a[0] for a in acc], yerr=[a[1] for a in acc], marker="o", capsize=2, label="day-night")
        ax.set_xscale("log")
        ref, ref_se = final(inter)
        ax.axhline(ref, color="k", ls="--", label="interleaved")
        ax.axhspan(ref - ref_se, ref + ref_se, color="k", alpha=0.1, lw=0)
        ax.set_xticks(blocks, [str(b) for b in blocks])
        ax.set_xlabel("updates per period (block length)")
        ax.set_ylabel(f"final {quality_label}")
        ax.set_title("W1 (+-1 s.e. over seeds)", fontsize=9)
        ax.legend(fontsize=7)
        fig.tight_layout()
        figs["block_length.png"] = fig
    return figs
