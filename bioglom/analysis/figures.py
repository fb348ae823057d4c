"""Figures drawn from results: each function draws one thing and returns its axes."""

from __future__ import annotations

import numpy as np

__all__ = ["show_image", "show_labels", "island_figure", "save_figure", "figure_commit", "se_band", "claims_figure",
           "VERDICT_COLOURS"]


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


def show_labels(labels, ax=None, title: str | None = None, foreground=None, outline=None):
    """Draw a label map ``[H, W]`` (island or segment ids) with a fixed qualitative colour per id.

    ``foreground [H, W]`` (bool): cells outside it are drawn grey (the foreground ARI does
    not read them). ``outline [H, W]`` (ids, e.g. the ground-truth objects): a black line
    wherever two 4-adjacent cells have different ids and one of them is nonzero, so that
    where the islands cross an object's border is seen at a glance."""
    import matplotlib.pyplot as plt

    ax = _ax(ax)
    lab = np.asarray(labels)
    rgba = plt.get_cmap("tab20")(lab % 20)
    if foreground is not None:
        rgba[~np.asarray(foreground, dtype=bool)] = (0.85, 0.85, 0.85, 1.0)
    ax.imshow(rgba, interpolation="nearest")
    if outline is not None:
        ids = np.asarray(outline)
        for y, x in zip(*np.nonzero((ids[:, 1:] != ids[:, :-1]) & ((ids[:, 1:] > 0) | (ids[:, :-1] > 0)))):
            ax.plot([x + 0.5, x + 0.5], [y - 0.5, y + 0.5], color="black", lw=1.2)
        for y, x in zip(*np.nonzero((ids[1:] != ids[:-1]) & ((ids[1:] > 0) | (ids[:-1] > 0)))):
            ax.plot([x - 0.5, x + 0.5], [y + 0.5, y + 0.5], color="black", lw=1.2)
        ax.set_xlim(-0.5, ids.shape[1] - 0.5)
        ax.set_ylim(ids.shape[0] - 0.5, -0.5)
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


FIGURE_COMMIT = "bioglom-commit"  # the PNG text key that names the commit of what a figure shows


def save_figure(fig, path, commit: str | None = None) -> None:
    """Save a figure as PNG atomically and close it. Its text chunk ``bioglom-commit``
    records the commit of the code that computed what it shows: ``commit`` (a figure
    redrawn from a result: the result's ``git_commit``), by default this checkout's
    (:func:`~bioglom.analysis.recorder.provenance`); :func:`figure_commit` reads it."""
    import io

    import matplotlib.pyplot as plt

    from ..atomic import atomic_write_bytes
    from .recorder import provenance

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={FIGURE_COMMIT: commit or provenance()["git_commit"]})
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def figure_commit(path) -> str | None:
    """The commit a PNG written by :func:`save_figure` records (None for another PNG)."""
    from PIL import Image

    with Image.open(path) as image:
        return image.text.get(FIGURE_COMMIT)


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


VERDICT_COLOURS = {"held": "tab:green", "not held": "tab:red", "undecided": "tab:gray"}


def claims_figure(ds, title: str = "", criterion_chars: int = 70):
    """One row per claim of a result (``claim_value``, ``claim_low``, ``claim_high``,
    ``claim_verdict``, ``claim_criterion`` over ``claim``): the value as a dot and its 95 %
    interval as a bar, coloured by verdict, on a symmetric-log axis with 0 marked (most
    criteria compare a difference with 0), and the criterion, shortened, beside it. A claim
    whose verdict does not survive a rerun (``verdict_survives_rerun`` false, written by
    :mod:`~.reruns`) is marked ``†`` and its verdict read "flips on rerun". Returns the figure."""
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
    survives = ([bool(v) for v in ds.verdict_survives_rerun.values] if "verdict_survives_rerun" in ds
                else [True] * n)
    ax.set_yticks(rows, [c if ok else f"{c} †" for c, ok in zip(claims, survives)], fontsize=7)
    ax.set_ylim(-0.7, n - 0.3)
    ax.tick_params(axis="x", labelsize=7)
    ax.set_xlabel("claim value and 95 % interval (symmetric log scale)", fontsize=8)
    criteria = [str(c) for c in ds.claim_criterion.values] if "claim_criterion" in ds else [""] * n
    for y, text, verdict, ok in zip(rows, criteria, verdicts, survives):
        short = text if len(text) <= criterion_chars else text[:criterion_chars - 1] + "…"
        flips = "" if ok else " (flips on rerun †)"
        ax.annotate(f"{verdict}{flips}: {short}", (1.01, y), xycoords=("axes fraction", "data"), fontsize=6, va="center",
                    color=VERDICT_COLOURS.get(verdict, "k"), annotation_clip=False)
    handles = [plt.Line2D([], [], color=c, marker="o", lw=2.5, label=k) for k, c in VERDICT_COLOURS.items()]
    if not all(survives):
        handles.append(plt.Line2D([], [], color="none", label="† verdict does not survive a rerun"))
    ax.legend(handles=handles, fontsize=6, loc="lower left", bbox_to_anchor=(1.0, 1.0), ncol=3, frameon=False)
    if title:
        ax.set_title(title, fontsize=9, loc="left")
    fig.subplots_adjust(left=0.14, right=0.5, top=1 - 0.45 / (0.8 + 0.27 * n), bottom=0.5 / (0.8 + 0.27 * n) + 0.02)
    return fig
