"""The islands experiment's figures: island maps beside parts and objects, ARI during
settling with its bands, attention logits of pair kinds over training, clips with their
motion segments, and the attention of one column per object."""

from __future__ import annotations

import numpy as np

from ...analysis.figures import show_image, show_labels

__all__ = ["parse_figure", "ari_band_figure", "similarity_figure", "clip_figure", "attention_maps_figure", "rules_figure"]


def parse_figure(images, truth, islands, max_samples: int = 4, aris=None):
    """Held-out scenes, their ground truth per level, and islands per level at step 0 and after settling.

    images ``[B, C, H, W]``; truth ``[B, L, h, w]``; islands ``[S+1, B, L, h, w]``; aris
    ``[B, L]``, each scene's settled foreground ARI per level (level 0 against parts, the
    others against objects), or None. One row per scene: the image, the truth of each
    level (parts, then objects), the islands of each level at step 0, then after the last
    step. Background is grey (the ARI reads the foreground only) and the ground truth of
    the level is outlined on its islands; the settled panels name their scene's ARI.
    """
    import matplotlib.pyplot as plt

    images, truth, islands = np.asarray(images), np.asarray(truth), np.asarray(islands)
    b = min(len(images), max_samples)
    levels = truth.shape[1]
    cols = 1 + 3 * levels
    fig, axes = plt.subplots(b, cols, figsize=(1.3 * cols, 1.5 * b), squeeze=False)
    for i in range(b):
        show_image(images[i], axes[i, 0], "scene" if i == 0 else None)
        fg = truth[i, -1] > 0
        for l in range(levels):
            name = "parts" if l == 0 else "objects"
            show_labels(truth[i, l], axes[i, 1 + l], f"truth L{l}\n({name})" if i == 0 else None, foreground=fg)
            show_labels(islands[0, i, l], axes[i, 1 + levels + l], f"islands L{l}\nstep 0" if i == 0 else None,
                        foreground=fg, outline=truth[i, l])
            title = f"islands L{l}\nstep {len(islands) - 1}" if i == 0 else ""
            if aris is not None:
                title += ("\n" if title else "") + f"ARI {float(np.asarray(aris)[i, l]):.2f}"
            show_labels(islands[-1, i, l], axes[i, 1 + 2 * levels + l], title or None, foreground=fg,
                        outline=truth[i, l])
    fig.tight_layout()
    return fig


def example_aris(ds):
    """Each example scene's settled foreground ARI per level, ``[example, level]`` (level 0
    against parts, the others against objects), from one seed's result with its islands
    kind chosen (``ari`` over ``target, step, sample, level``; examples are the first
    test scenes)."""
    k = ds.sizes["example"]
    last = ds.ari.isel(step=-1).isel(sample=slice(0, k))
    return np.stack([last.sel(target="parts" if l == 0 else "objects", level=l).values
                     for l in ds.level.values], 1)


def ari_band_figure(ds, intervals, baselines: dict | None = None, ax=None):
    """Foreground ARI against objects over settling steps, per level, with 95 % bands.

    ``ds`` has ``ari [seed, step, sample, level]`` (against objects); ``intervals[(step, level)]`` is
    an :class:`~bioglom.analysis.verdicts.Interval`; each of ``baselines`` (name: mean
    ARI) is drawn as a dashed line. Returns the figure.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(4.5, 3.2))
    else:
        fig = ax.figure
    steps = [int(s) for s in ds.step]
    for l in (int(v) for v in ds.level):
        iv = [intervals[(s, l)] for s in steps]
        ax.plot(steps, [i.value for i in iv], marker="o", label=f"level {l}")
        ax.fill_between(steps, [i.low for i in iv], [i.high for i in iv], alpha=0.2)
    for (name, value), style in zip((baselines or {}).items(), ("--", ":", "-.")):
        ax.axhline(value, color="k", ls=style, lw=1, label=name.replace("_", " "))
    ax.set_xlabel("settling step")
    ax.set_ylabel("foreground ARI against objects")
    ax.set_title("islands during settling (95 % bands over seeds and scenes)", fontsize=8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def similarity_figure(logits):
    """Attention logits of same-part, same-object and other-object pairs over training, per level.

    ``logits``: DataArray ``[seed, level, pair, update]`` (or without ``seed``); the mean
    over seeds is drawn. Returns the figure.
    """
    import matplotlib.pyplot as plt

    if "seed" in logits.dims:
        logits = logits.mean("seed")
    levels = [int(v) for v in logits.level]
    fig, axes = plt.subplots(1, len(levels), figsize=(3.2 * len(levels), 2.8), squeeze=False, sharey=True)
    for ax, l in zip(axes[0], levels):
        for pair in logits.pair.values:
            ax.plot(logits.update, logits.sel(level=l, pair=pair), label=str(pair).replace("_", " "))
        ax.set_title(f"level {l}", fontsize=8)
        ax.set_xlabel("training update")
    axes[0, 0].set_ylabel("attention logit (beta x similarity)")
    axes[0, -1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def clip_figure(images, truth, motion, islands, max_samples: int = 4):
    """Held-out clips: the last frame, its ground-truth objects, the motion segments found
    from the pixels, and the top level's islands at step 0 and after settling.

    images ``[B, C, H, W]``; truth, motion ``[B, h, w]``; islands ``[2, B, h, w]`` (step 0,
    settled). One row per clip. Returns the figure."""
    import matplotlib.pyplot as plt

    images, truth, motion, islands = (np.asarray(a) for a in (images, truth, motion, islands))
    b = min(len(images), max_samples)
    fig, axes = plt.subplots(b, 5, figsize=(7.5, 1.6 * b), squeeze=False)
    for i in range(b):
        titles = ("last frame", "objects (truth)", "motion segments", "islands step 0", "islands settled")
        show_image(images[i], axes[i, 0], titles[0] if i == 0 else None)
        for j, lab in enumerate((truth[i], motion[i], islands[0, i], islands[1, i]), 1):
            show_labels(lab, axes[i, j], titles[j] if i == 0 else None)
    fig.tight_layout()
    return fig


def attention_maps_figure(images, attention, max_samples: int = 4):
    """Where a column of each object attends at the top level after settling: the scene, then
    one map per probed column (``attention [B, P, h, w]``, each summing to 1). Returns the figure."""
    import matplotlib.pyplot as plt

    images, attention = np.asarray(images), np.asarray(attention)
    b = min(len(images), max_samples)
    p = attention.shape[1]
    fig, axes = plt.subplots(b, 1 + p, figsize=(1.6 * (1 + p), 1.6 * b), squeeze=False)
    for i in range(b):
        show_image(images[i], axes[i, 0], "scene" if i == 0 else None)
        for j in range(p):
            ax = axes[i, 1 + j]
            ax.imshow(attention[i, j], cmap="viridis", vmin=0, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"attention of a column\nof object {j + 1}", fontsize=7)
    fig.tight_layout()
    return fig


def rules_figure(ds, islands: str = "connected", rule: str = "local rule", max_samples: int = 4):
    """A local rule beside backprop on the same still scenes, and both over training.

    ``ds``: one seed of a local rule's islands result (``example_image``, ``example_truth``,
    ``example_islands``, ``untrained_example_islands``, ``backprop_example_islands``,
    ``curve_ari``, ``curve_collapse`` and their ``backprop_`` twins). Left: per scene, the
    objects, the untrained network's top-level islands, backprop's, and the local rule's
    at step 0 and settled. Right: the tracked top-level ARI and the top level's spread
    across images and participation ratio against updates, for both rules, a dotted line
    at the update whose weights were measured where it is not the last (``kept_update``,
    ``--keep best``).
    """
    import matplotlib.pyplot as plt

    d = ds.sel(islands=islands)
    b = min(ds.sizes["example"], max_samples)
    top = int(ds.level[-1])
    panels = [("objects", d.example_truth.sel(level=top)), ("untrained", d.untrained_example_islands),
              ("backprop", d.backprop_example_islands.sel(level=top)),
              (f"{rule}\nstep 0", d.example_islands.isel(step=0).sel(level=top)),
              (f"{rule}\nsettled", d.example_islands.isel(step=-1).sel(level=top))]
    fig = plt.figure(figsize=(1.3 * (len(panels) + 1) + 6.5, 1.4 * b + 0.4))
    grid = fig.add_gridspec(b, len(panels) + 4)
    for i in range(b):
        show_image(ds.example_image.values[i], fig.add_subplot(grid[i, 0]), "scene" if i == 0 else None)
        for j, (name, maps) in enumerate(panels):
            show_labels(np.asarray(maps.values[i]), fig.add_subplot(grid[i, 1 + j]), name if i == 0 else None)
    curves = [("top-level ARI (tracked)", lambda x, p: x[f"{p}curve_ari"].sel(moment="settled")),
              ("spread across images", lambda x, p: x[f"{p}curve_collapse"].sel(level=top,
                                                                             collapse_measure="spread_across")),
              ("participation ratio", lambda x, p: x[f"{p}curve_collapse"].sel(level=top,
                                                                            collapse_measure="participation_ratio"))]
    for j, (title, read) in enumerate(curves):
        ax = fig.add_subplot(grid[:, len(panels) + 1 + j] if b > 1 else grid[0, len(panels) + 1 + j])
        for prefix, name in (("", f"{rule}"), ("backprop_", "backprop")):
            series = read(ds, prefix)
            line, = ax.plot(series.update.values, series.values, marker="o", ms=3, label=name)
            kept = ds.get(f"{prefix}kept_update")
            if kept is not None and int(kept) != int(series.update[-1]):  # --keep best: the weights measured
                ax.axvline(int(kept), color=line.get_color(), ls=":", lw=1)
        ax.set_xlabel("update")
        ax.set_title(title, fontsize=8)
        ax.tick_params(labelsize=7)
        if j == 0:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
