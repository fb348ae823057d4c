"""Figures of the giant distillery simulation (docs/claims.md D1-D5), from its result file."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .measures import DIRECTIONS, final_quality
from .claims import find_run

__all__ = ["distillery_figures"]


def distillery_figures(ds: xr.Dataset) -> dict:
    """The distillery simulation's figures, ``{file name: figure}``: ``quality.png``
    (quality and denoising error against training images, per retina, means over seeds),
    ``dispersion.png`` (dispersion of the column nets against updates) and ``gap.png``
    (final quality of shared columns minus each condition's, per rule, s.e. over seeds)."""
    import matplotlib.pyplot as plt

    figs = {}
    retinas = list(dict.fromkeys(ds.retina.values.tolist()))
    mean = ds.mean("seed")
    curve = "accuracy" if "accuracy" in ds else "object_ari_mean"
    fig, axes = plt.subplots(len(retinas), 2, figsize=(10, 3.2 * len(retinas)), squeeze=False)
    for row, retina in zip(axes, retinas):
        for n in ds.run.values[ds.retina.values == retina]:
            e = mean.sel(run=n).dropna("update", subset=[curve])
            ls = "--" if "delta" in n else (":" if "backprop" in n else "-")
            row[0].plot(e["images"], e[curve], ls=ls, marker=".", label=n.split(" ", 1)[1])
            row[1].plot(e["images"], e.denoise_mse, ls=ls, marker=".")
        row[0].set_ylabel(f"{retina} retina:\n" + ("probe accuracy" if curve == "accuracy" else "object ARI"))
        row[1].set_ylabel(f"{retina} retina:\ndenoising error (MSE)")
        row[0].legend(fontsize=6)
    for ax in axes[-1]:
        ax.set_xlabel("training images")
    fig.suptitle("mean over seeds", fontsize=9)
    fig.tight_layout()
    figs["quality.png"] = fig

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    for ax, d in zip(axes, DIRECTIONS):
        for n in ds.run.values:
            if str(ds.condition.sel(run=n).values) == "shared":
                continue  # 0 by construction: one net
            e = mean.sel(run=n).dropna("update", subset=[curve])
            ax.plot(e["update"], e.dispersion.sel(direction=d), marker=".", label=n, ls="--" if "delta" in n else "-")
        ax.set_title(f"dispersion of the {d.replace('_', '-')} nets on data inputs", fontsize=9)
        ax.set_xlabel("update")
    axes[0].set_ylabel("spread across columns / mean output norm")
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    figs["dispersion.png"] = fig

    fig, ax = plt.subplots(figsize=(5, 3.2))
    rules = [r for r in dict.fromkeys(ds.rule.values.tolist()) if r != "backprop"]
    acc = final_quality(ds).mean("sample")  # seed run
    bars = [(retina, cond) for retina in retinas for cond in ("unshared", "distilled")]
    width = 0.8 / len(bars)
    for i, (retina, cond) in enumerate(bars):
        gaps, errs = [], []
        for rule in rules:
            a, b = find_run(ds, retina, "shared", rule), find_run(ds, retina, cond, rule)
            g = (acc.sel(run=a) - acc.sel(run=b)).values if a is not None and b is not None else np.array([np.nan])
            gaps.append(float(np.mean(g)))
            errs.append(float(np.std(g) / np.sqrt(len(g))) if len(g) > 1 else 0.0)
        ax.bar(np.arange(len(rules)) + i * width, gaps, width, yerr=errs, capsize=2, label=f"{retina} retina, {cond}")
    ax.set_xticks(np.arange(len(rules)) + width * (len(bars) - 1) / 2, rules)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_ylabel(("probe accuracy" if curve == "accuracy" else "object ARI") + ": shared minus condition")
    ax.set_title("the gap to shared weights (s.e. over seeds)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    figs["gap.png"] = fig
    return figs
