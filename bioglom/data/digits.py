"""scikit-learn's 8x8 digits (shipped inside the package): as images and as moving-digit videos.

No download happens: ``sklearn.datasets.load_digits`` reads a file inside scikit-learn.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ..config import ConfigError, check_positive

__all__ = ["Digits", "load_digits", "moving_digits", "moving_images", "split_indices"]


class Digits(NamedTuple):
    """``images [n, 1, S, S]`` in [0, 1] (or videos ``[n, T, 1, S, S]``) and ``labels [n]``."""

    images: torch.Tensor
    labels: torch.Tensor


def _raw_digits():
    from sklearn.datasets import load_digits as _load

    d = _load()
    return d.images.astype(np.float32) / 16.0, d.target.astype(np.int64)  # n 8 8, values 0..16


def load_digits(size: int = 8) -> Digits:
    """All 1797 digits, each centred on a ``size x size`` black canvas (``size >= 8``)."""
    check_positive("size", size, integer=True)
    if size < 8:
        raise ConfigError(f"size={size!r} is not allowed; the digits are 8x8, so size must be >= 8")
    img, lab = _raw_digits()
    out = np.zeros((len(img), 1, size, size), np.float32)
    o = (size - 8) // 2
    out[:, 0, o:o + 8, o:o + 8] = img
    return Digits(torch.from_numpy(out), torch.from_numpy(lab))


def moving_digits(n: int, frames: int = 8, size: int = 16, *, speed: float = 1.0, seed: int = 0,
                  indices: np.ndarray | None = None) -> Digits:
    """Videos of one scikit-learn digit moving in a straight line on a ``size x size`` canvas,
    bouncing off the edges (:func:`moving_images` on the 8x8 digits).

    Video ``i`` uses digit ``indices[i]`` (default: drawn at random) and a random start and
    direction at ``speed`` pixels per frame; positions are rounded to whole pixels.
    Returns videos ``[n, frames, 1, size, size]`` and the digit labels.
    """
    img, lab = _raw_digits()
    return moving_images(img, lab, n, frames, size, speed=speed, seed=seed, indices=indices)


def moving_images(images, labels, n: int, frames: int = 8, size: int = 16, *, speed: float = 1.0, seed: int = 0,
                  indices: np.ndarray | None = None) -> Digits:
    """Videos of one ``k x k`` glyph from ``images [m, k, k]`` (or ``[m, 1, k, k]``) moving on a
    ``size x size`` canvas (``size >= k``), bouncing off the edges.

    The glyph's top-left corner follows ``start + speed * t * (sin a, cos a)`` reflected into
    ``[0, size - k]`` (a triangle wave of period ``2 (size - k)``), rounded to whole pixels.
    Returns videos ``[n, frames, 1, size, size]`` and ``labels[indices]``.
    """
    for name, v in (("n", n), ("frames", frames), ("size", size)):
        check_positive(name, v, integer=True)
    img = np.asarray(images, np.float32)
    img = img[:, 0] if img.ndim == 4 else img
    k = img.shape[-1]
    if img.ndim != 3 or img.shape[1] != k or img.size == 0:
        raise ConfigError(f"images of shape {tuple(np.shape(images))} are not allowed; give square glyphs [m, k, k] "
                          "with m, k >= 1")
    if not np.isfinite(img).all():
        raise ConfigError("images holds a NaN or infinite pixel; every pixel must be finite")
    if size < k:
        raise ConfigError(f"size={size!r} is not allowed; the glyphs are {k}x{k}, so size must be >= {k}")
    check_positive("speed", speed, strict=False)
    lab = np.asarray(labels)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(img), n) if indices is None else np.asarray(indices)
    if indices is not None and (idx.shape != (n,) or idx.dtype.kind not in "iu" or idx.min() < -len(img)
                                or idx.max() >= len(img)):
        raise ConfigError(f"indices of shape {idx.shape} (values {idx.min() if idx.size else '-'}.."
                          f"{idx.max() if idx.size else '-'}) are not allowed; give {n} integers indexing the "
                          f"{len(img)} glyphs")
    if len(lab) != len(img):
        raise ConfigError(f"labels has {len(lab)} entries for {len(img)} glyphs; give one label per glyph")
    span = size - k
    start = rng.uniform(0, span, (n, 2)) if span else np.zeros((n, 2))
    angle = rng.uniform(0, 2 * np.pi, n)
    vel = speed * np.stack([np.sin(angle), np.cos(angle)], -1)  # n 2
    t = np.arange(frames)[None, :, None]
    raw = start[:, None] + vel[:, None] * t  # n t 2, unfolded path
    pos = np.abs((raw + 2 * span) % (2 * span) - span) if span else np.zeros_like(raw)
    pos = np.rint(span - pos).astype(int) if span else pos.astype(int)
    videos = np.zeros((n, frames, 1, size, size), np.float32)
    ys = pos[..., 0, None] + np.arange(k)  # n t k
    xs = pos[..., 1, None] + np.arange(k)
    vi, ti = np.meshgrid(np.arange(n), np.arange(frames), indexing="ij")
    videos[vi[..., None, None], ti[..., None, None], 0, ys[..., :, None], xs[..., None, :]] = img[idx][:, None]
    return Digits(torch.from_numpy(videos), torch.from_numpy(lab[idx]))


def split_indices(n: int, test_fraction: float = 0.25, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A reproducible train/test split of ``range(n)``."""
    if not 0 < test_fraction < 1:
        raise ConfigError(f"test_fraction={test_fraction!r} is not allowed; it must lie strictly between 0 and 1")
    perm = np.random.default_rng(seed).permutation(n)
    k = int(round(n * test_fraction))
    return perm[k:], perm[:k]
