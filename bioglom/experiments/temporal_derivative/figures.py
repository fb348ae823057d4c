"""Figures of the temporal-derivative simulation (docs/claims.md T1-T3), from its result file."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ...analysis.verdicts import interval, mean_of

__all__ = ["temporal_figures"]


def temporal_figures(ds: xr.Dataset) -> dict:
    """The temporal-derivative simulation's figures, ``{file name: figure}``:
    ``alignment.png`` (T1 per settling step, direction and level, trivial entries left
    out), ``quality.png`` (T2: quality per condition, 95 % intervals over seeds and samples)
    and ``memory.png`` (T3: peak memory of one update against settling steps)."""
    import matplotlib.pyplot as plt

    figs = {}
    td = [n for n, r, o in zip(ds.condition.values, ds.rule.values, ds.optimizer.values)
          if r == "temporal_derivative" and o == "adam"]
    fig, axes = plt.subplots(1, max(len(td), 1), figsize=(4 * max(len(td), 1), 3.2), squeeze=False, sharey=True)
    for ax, n in zip(axes[0], td):
        a = ds.alignment.sel(condition=n, columns=ds.columns.values[0])
        a = a.where(~ds.alignment_trivial.sel(condition=n, columns=ds.columns.values[0]).astype(bool))
        for d in ds.direction.values:
            for l in ds.level.values:
                v = a.sel(direction=d, level=l).mean(("seed", "batch"))
                if v.notnull().any():
                    ax.plot(ds.step.values, v.values, marker="o", label=f"{str(d).replace('_', '-')}, level {l}")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_title(str(n).replace("temporal_derivative ", "TD, "), fontsize=9)
        ax.set_xlabel("settling step")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("cosine(TD update, delta update)")
    fig.suptitle("T1 (entries equal to 1 by construction left out)", fontsize=9)
    fig.tight_layout()
    figs["alignment.png"] = fig

    scenes = "object_ari" in ds
    quality = ds.object_ari.sel(moment="settled") if scenes else ds.probe_correct
    fig, ax = plt.subplots(figsize=(8, 3.8))
    x = np.arange(len(ds.condition))
    width = 0.8 / len(ds.columns)
    for i, c in enumerate(ds.columns.values):
        iv = [interval(mean_of, quality.sel(columns=c, condition=n).transpose("seed", "sample").values,
                        resamples=500) for n in ds.condition.values]
        ax.bar(x + width * (i - (len(ds.columns) - 1) / 2), [v.value for v in iv], width=width, label=f"{c} columns",
               yerr=np.array([[v.value - v.low for v in iv], [v.high - v.value for v in iv]]), capsize=2)
    ax.set_xticks(x, [str(n).replace("temporal_derivative", "TD") for n in ds.condition.values], rotation=30, ha="right")
    ax.set_ylabel("object ARI, held-out scenes" if scenes else "probe accuracy, held-out digits")
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title("T2: quality per rule (95 % intervals over seeds and digits)")
    fig.tight_layout()
    figs["quality.png"] = fig

    fig, ax = plt.subplots(figsize=(5, 3.2))
    for r in ds.memory_rule.values:
        for c in ds.columns.values:
            ax.plot(ds.memory_steps.values, ds.peak_memory.sel(memory_rule=r, columns=c).values / 2**20, marker="o",
                    label=f"{r}, {c} columns")
    ax.set_xlabel("settling steps")
    ax.set_ylabel("peak memory of one update (MiB)")
    ax.set_title("T3")
    ax.legend(fontsize=7)
    fig.tight_layout()
    figs["memory.png"] = fig
    return figs
