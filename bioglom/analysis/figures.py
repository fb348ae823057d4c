"""Figures drawn from results: each function draws one thing and returns its axes."""

from __future__ import annotations

import numpy as np

__all__ = ["show_image", "show_labels", "island_figure", "save_figure"]


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
