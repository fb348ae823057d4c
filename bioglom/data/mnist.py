"""MNIST from local IDX files (the format of LeCun's distribution); nothing is downloaded.

A user who has MNIST points ``load_mnist`` at the folder holding
``train-images-idx3-ubyte`` and friends (optionally gzipped).
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import torch

from ..config import ConfigError
from .digits import Digits

__all__ = ["read_idx", "write_idx", "load_mnist", "check_mnist_folder", "MNIST_FILES"]

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CODES = {np.dtype(v).newbyteorder(">") if np.dtype(v).itemsize > 1 else np.dtype(v): k for k, v in _DTYPES.items()}
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx(path) -> np.ndarray:
    """Read one IDX file: magic ``00 00 <type> <ndim>``, then ``ndim`` big-endian uint32 sizes, then the data."""
    path = Path(path)
    with _open(path) as f:
        head = f.read(4)
        if len(head) != 4 or head[:2] != b"\x00\x00" or head[2] not in _DTYPES:
            raise ConfigError(f"path={str(path)!r} is not an IDX file (bad magic number {head!r})")
        ndim = head[3]
        shape = struct.unpack(f">{ndim}I", f.read(4 * ndim))
        dtype = np.dtype(_DTYPES[head[2]])
        data = f.read()
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


def load_mnist(folder, split: str = "train") -> Digits:
    """MNIST images ``[n, 1, 28, 28]`` in [0, 1] and labels ``[n]`` from IDX files in ``folder``."""
    img_file, lab_file = check_mnist_folder(folder, (split,))[split]
    images, labels = read_idx(img_file), read_idx(lab_file)
    if images.ndim != 3 or labels.shape != images.shape[:1]:
        raise ConfigError(f"data_dir={str(folder)!r}: images {images.shape} and labels {labels.shape} do not match")
    return Digits(torch.from_numpy(images.astype(np.float32) / 255.0)[:, None], torch.from_numpy(labels.astype(np.int64)))
