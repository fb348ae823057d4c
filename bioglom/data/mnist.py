"""MNIST from local IDX files (the format of LeCun's distribution); nothing is downloaded.

A user who has MNIST points ``load_mnist`` at the folder holding
``train-images-idx3-ubyte`` and friends (optionally gzipped).
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from ..config import ConfigError
from .digits import Digits

__all__ = ["read_idx", "idx_shape", "write_idx", "load_mnist", "check_mnist_folder", "mnist_sizes", "MNIST_FILES", "digit_glyphs"]

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CODES = {np.dtype(v).newbyteorder(">") if np.dtype(v).itemsize > 1 else np.dtype(v): k for k, v in _DTYPES.items()}
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _header(f, path: Path) -> tuple[np.dtype, tuple[int, ...]]:
    head = f.read(4)
    if len(head) != 4 or head[:2] != b"\x00\x00" or head[2] not in _DTYPES:
        raise ConfigError(f"path={str(path)!r} is not an IDX file (bad magic number {head!r})")
    ndim = head[3]
    sizes = f.read(4 * ndim)
    if len(sizes) != 4 * ndim:
        raise ConfigError(f"path={str(path)!r} is truncated inside its header ({len(sizes)} of {4 * ndim} size bytes)")
    return np.dtype(_DTYPES[head[2]]), struct.unpack(f">{ndim}I", sizes)


def _corrupt(path: Path, e: Exception) -> ConfigError:
    return ConfigError(f"path={str(path)!r} cannot be read: {type(e).__name__}: {e} (a corrupt or truncated file?)")


def idx_shape(path) -> tuple[int, ...]:
    """The shape an IDX file's header declares, without reading its data."""
    path = Path(path)
    try:
        with _open(path) as f:
            return _header(f, path)[1]
    except (OSError, EOFError, zlib.error) as e:
        raise _corrupt(path, e) from None


def read_idx(path) -> np.ndarray:
    """Read one IDX file: magic ``00 00 <type> <ndim>``, then ``ndim`` big-endian uint32 sizes, then the data.

    A file that is not IDX, is truncated, or is a broken gzip stream raises one
    :class:`ConfigError` naming it."""
    path = Path(path)
    try:
        with _open(path) as f:
            dtype, shape = _header(f, path)
            data = f.read()
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise _corrupt(path, e) from None
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise ConfigError(f"path={str(path)!r} holds {len(data)} data bytes; its header {shape} needs {expected}")
    return np.frombuffer(data, dtype).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file (gzipped when ``path`` ends in ``.gz``), atomically."""
    path = Path(path)
    arr = np.asarray(array)
    big = arr.dtype.newbyteorder(">") if arr.dtype.itemsize > 1 else arr.dtype
    if big not in _CODES:
        raise ConfigError(f"array dtype {arr.dtype} is not allowed in IDX; allowed are uint8, int8, int16, int32, float32, float64")
    payload = bytes([0, 0, _CODES[big], arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.astype(big).tobytes()
    tmp = path.with_name(path.name + ".tmp")
    with (gzip.open(tmp, "wb") if path.suffix == ".gz" else open(tmp, "wb")) as f:
        f.write(payload)
    os.replace(tmp, path)


def _find(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise ConfigError(f"data_dir={str(folder)!r} has no {stem} (or {stem}.gz); MNIST needs {sorted(sum(MNIST_FILES.values(), ()))}")


def check_mnist_folder(folder, splits=tuple(MNIST_FILES)) -> dict[str, tuple[Path, Path]]:
    """The image and label files of each split in ``folder``, or a ConfigError naming the
    folder and the missing file (checked before any work; the files are not read)."""
    for split in splits:
        if split not in MNIST_FILES:
            raise ConfigError(f"split={split!r} is not allowed; choose one of {sorted(MNIST_FILES)}")
    if not str(folder) or not Path(folder).is_dir():
        raise ConfigError(f"data_dir={str(folder)!r} is not a folder; give the folder that holds the MNIST IDX files")
    return {split: tuple(_find(Path(folder), s) for s in MNIST_FILES[split]) for split in splits}


def mnist_sizes(folder) -> dict[str, int]:
    """Images per split, read from the label files' headers (not assumed)."""
    files = check_mnist_folder(folder)
    return {split: (idx_shape(lab) or (0,))[0] for split, (_, lab) in files.items()}


def load_mnist(folder, split: str = "train") -> Digits:
    """MNIST images ``[n, 1, 28, 28]`` in [0, 1] and labels ``[n]`` from IDX files in ``folder``.

    Images must be uint8 and labels integers 0-9; anything else raises one
    :class:`ConfigError` naming the file."""
    img_file, lab_file = check_mnist_folder(folder, (split,))[split]
    images, labels = read_idx(img_file), read_idx(lab_file)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ConfigError(f"path={str(img_file)!r} holds {images.dtype} images of shape {images.shape}; MNIST images "
                          "are uint8 [n, rows, columns]")
    if labels.ndim != 1 or labels.dtype.kind not in "iu" or labels.size and not 0 <= labels.min() <= labels.max() <= 9:
        lo, hi = (int(labels.min()), int(labels.max())) if labels.size and labels.dtype.kind in "iuf" else (None, None)
        raise ConfigError(f"path={str(lab_file)!r} holds {labels.dtype} labels of shape {labels.shape}, range {lo}..{hi}; "
                          "MNIST labels are integers 0-9, one per image")
    if labels.shape != images.shape[:1]:
        raise ConfigError(f"data_dir={str(folder)!r}: {images.shape[0]} images in {img_file.name} but {labels.shape[0]} "
                          f"labels in {lab_file.name}")
    return Digits(torch.from_numpy(images.astype(np.float32) / 255.0)[:, None], torch.from_numpy(labels.astype(np.int64)))


def digit_glyphs(data: str, data_dir: str, seed: int, test_fraction: float = 0.3):
    """Glyphs ``[m, 1, k, k]``, labels ``[m]`` and the indices of the training and held-out
    images: scikit-learn's 8x8 digits (``data="digits"``) split by ``seed`` with
    ``test_fraction`` held out, or MNIST's own train and test files in ``data_dir``."""
    from .digits import load_digits, split_indices

    if data == "mnist":
        train, test = load_mnist(data_dir, "train"), load_mnist(data_dir, "test")
        n = len(train.labels)
        return (torch.cat([train.images, test.images]), torch.cat([train.labels, test.labels]), np.arange(n),
                n + np.arange(len(test.labels)))
    digits = load_digits(8)
    train_idx, test_idx = split_indices(len(digits.labels), test_fraction, seed)
    return digits.images, digits.labels, train_idx, test_idx
