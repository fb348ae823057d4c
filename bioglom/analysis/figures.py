"""Figures drawn from results: each function draws one thing and returns its axes."""

from __future__ import annotations

import numpy as np

__all__ = ["show_image", "show_labels", "island_figure", "save_figure", "parse_figure", "ari_band_figure", "similarity_figure",
           "claims_figure"]


def _ax(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


def show_image(image, ax=None, title: str | None = None):
    """Draw an image ``[C, H, W]`` (1 or 3 channels, values in [0, 1])."""
    ax = _ax(ax)
    img = np.asarray(image, dtype=float)
    img = img[0] if img.shape[0] == 1 else np.moveaxis(img, 0, -1)
    ax.imshow(np.clip(img, 0, 1), cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)
    return ax


def show_labels(labels, ax=None, title: str | None = None):
    """Draw a label map ``[H, W]`` (island or segment ids) with a fixed qualitative colour per id."""
    import matplotlib.pyplot as plt

    ax = _ax(ax)
    lab = np.asarray(labels)
    ax.imshow(lab % 20, cmap=plt.get_cmap("tab20"), vmin=0, vmax=19, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)
    return ax


def island_figure(images, islands, truth=None, aris=None, max_samples: int = 4):
    """Input images beside their island maps per level (and ground truth, if given).

    images ``[B, C, H, W]``; islands and truth ``[B, L, h, w]``; aris ``[B, L]`` or None.
    Returns the figure: one row per sample, columns image, then islands per level, then
    the truth per level.
    """
    import matplotlib.pyplot as plt

    b = min(len(images), max_samples)
    levels = islands.shape[1]
    cols = 1 + levels * (2 if truth is not None else 1)
    fig, axes = plt.subplots(b, cols, figsize=(1.6 * cols, 1.7 * b), squeeze=False)
    for i in range(b):
        show_image(images[i], axes[i, 0], "input" if i == 0 else None)
        for l in range(levels):
            title = f"islands L{l}"
            if aris is not None:
                title += f"\nARI {float(aris[i, l]):.2f}"
            show_labels(islands[i, l], axes[i, 1 + l], title)
            if truth is not None:
                show_labels(truth[i, l], axes[i, 1 + levels + l], f"truth L{l}" if i == 0 else None)
    fig.tight_layout()
    return fig


def save_figure(fig, path) -> None:
    """Save a figure as PNG atomically and close it."""
    import io

    import matplotlib.pyplot as plt

    from ..atomic import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def parse_figure(images, truth, islands, max_samples: int = 4):
    """Held-out scenes, their ground truth per level, and islands per level at step 0 and after settling.

    images ``[B, C, H, W]``; truth ``[B, L, h, w]``; islands ``[S+1, B, L, h, w]``. One row
    per scene: the image, the truth of each level (parts, then objects), the islands of
    each level at step 0, then after the last step.
    """
    import matplotlib.pyplot as plt

    images, truth, islands = np.asarray(images), np.asarray(truth), np.asarray(islands)
    b = min(len(images), max_samples)
    levels = truth.shape[1]
    cols = 1 + 3 * levels
    fig, axes = plt.subplots(b, cols, figsize=(1.3 * cols, 1.4 * b), squeeze=False)
    for i in range(b):
        show_image(images[i], axes[i, 0], "scene" if i == 0 else None)
        for l in range(levels):
            name = "parts" if l == 0 else "objects"
            show_labels(truth[i, l], axes[i, 1 + l], f"truth L{l}\n({name})" if i == 0 else None)
            show_labels(islands[0, i, l], axes[i, 1 + levels + l], f"islands L{l}\nstep 0" if i == 0 else None)
            show_labels(islands[-1, i, l], axes[i, 1 + 2 * levels + l],
                        f"islands L{l}\nstep {len(islands) - 1}" if i == 0 else None)
    fig.tight_layout()
    return fig


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


def se_band(ax, da, x: str, over: str = "seed", label: str | None = None):
    """Plot the mean of ``da`` over ``over`` against its coordinate ``x``, with a band of
    +-1 standard error over ``over`` (``std / sqrt(n)``, population std) where there is
    more than one."""
    import numpy as np

    n = da.sizes[over]
    mean = da.mean(over)
    ax.plot(da[x], mean, marker=".", label=label)
    if n > 1:
        se = da.std(over) / np.sqrt(n)
        ax.fill_between(da[x], mean - se, mean + se, alpha=0.3, lw=0,
                        label=f"+-1 s.e. over {over}s" if label is not None else None)
    return ax


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


VERDICT_COLOURS = {"held": "tab:green", "not held": "tab:red", "undecided": "tab:gray"}


def claims_figure(ds, title: str = "", criterion_chars: int = 70):
    """One row per claim of a result (``claim_value``, ``claim_low``, ``claim_high``,
    ``claim_verdict``, ``claim_criterion`` over ``claim``): the value as a dot and its 95 %
    interval as a bar, coloured by verdict, on a symmetric-log axis with 0 marked (most
    criteria compare a difference with 0), and the criterion, shortened, beside it.
    Returns the figure."""
    import matplotlib.pyplot as plt

    claims = [str(c) for c in ds.claim.values]
    n = len(claims)
    fig, ax = plt.subplots(figsize=(9.5, 0.8 + 0.27 * n))
    value, low, high = (np.asarray(ds[v].values, float) for v in ("claim_value", "claim_low", "claim_high"))
    verdicts = [str(v) for v in ds.claim_verdict.values]
    rows = np.arange(n)[::-1]
    for y, v, lo, hi, verdict in zip(rows, value, low, high, verdicts):
        colour = VERDICT_COLOURS.get(verdict, "k")
        if np.isfinite(lo) and np.isfinite(hi):
            ax.plot([lo, hi], [y, y], color=colour, lw=2.5, alpha=0.6, solid_capstyle="butt")
        if np.isfinite(v):
            ax.plot([v], [y], "o", color=colour, ms=4)
    finite = np.concatenate([a[np.isfinite(a)] for a in (value, low, high)])
    linthresh = max(float(np.percentile(np.abs(finite), 20)) if finite.size else 1.0, 1e-3)
    ax.set_xscale("symlog", linthresh=linthresh)
    top = float(np.abs(finite).max()) if finite.size else 1.0
    decades = [10.0**k for k in range(int(np.floor(np.log10(linthresh))), int(np.ceil(np.log10(top))) + 1)
               if 10.0**k >= 2 * linthresh or 10.0**k <= linthresh / 2]
    ax.set_xticks(sorted([0.0] + decades + [-d for d in decades]))  # none at +-linthresh, where labels crowd 0
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(rows, claims, fontsize=7)
    ax.set_ylim(-0.7, n - 0.3)
    ax.tick_params(axis="x", labelsize=7)
    ax.set_xlabel("claim value and 95 % interval (symmetric log scale)", fontsize=8)
    criteria = [str(c) for c in ds.claim_criterion.values] if "claim_criterion" in ds else [""] * n
    for y, text, verdict in zip(rows, criteria, verdicts):
        short = text if len(text) <= criterion_chars else text[:criterion_chars - 1] + "…"
        ax.annotate(f"{verdict}: {short}", (1.01, y), xycoords=("axes fraction", "data"), fontsize=6, va="center",
                    color=VERDICT_COLOURS.get(verdict, "k"), annotation_clip=False)
    handles = [plt.Line2D([], [], color=c, marker="o", lw=2.5, label=k) for k, c in VERDICT_COLOURS.items()]
    ax.legend(handles=handles, fontsize=6, loc="lower left", bbox_to_anchor=(1.0, 1.0), ncol=3, frameon=False)
    if title:
        ax.set_title(title, fontsize=9, loc="left")
    fig.subplots_adjust(left=0.14, right=0.5, top=1 - 0.45 / (0.8 + 0.27 * n), bottom=0.5 / (0.8 + 0.27 * n) + 0.02)
    return fig
