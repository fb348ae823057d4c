"""Atomic file writes: a temporary file in the same folder, then a rename.

A run killed mid-write leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "atomic_write_bytes", "file_mode", "remove_stale_temporaries"]


def file_mode() -> int:
    """The mode a newly created file gets under the current umask: ``0o666 & ~umask``
    (0644 under the usual 022), so collaborators can read results."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def remove_stale_temporaries(folder) -> list[Path]:
    """Delete the ``NAME.*.tmp`` files a killed :func:`atomic_write` left under ``folder``;
    return them. Call it only while holding the folder (no other run writing it)."""
    stale = [p for p in Path(folder).rglob("*.tmp") if p.is_file() and "." in p.name[:-4]]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def _nearly_full(folder: Path, margin: int = 1 << 20) -> bool:
    try:
        return shutil.disk_usage(folder).free < margin
    except OSError:
        return False


def _at_size_limit(tmp) -> bool:
    """Whether ``tmp`` reached the process's file-size limit (``ulimit -f``)."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        return soft != resource.RLIM_INFINITY and os.path.getsize(tmp) >= soft
    except (ImportError, OSError, ValueError):
        return False


def atomic_write(path, write) -> Path:
    """Call ``write(tmp_path)`` and rename the result to ``path``; remove the temporary on failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    except OSError as e:  # a folder no file can be made in (a pseudo file system, say): said as not writable
        raise OSError(errno.EACCES, f"no file can be created in {path.parent} ({e.strerror})", str(path)) from e
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, file_mode())  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp, path)
    except Exception as e:
        # HDF5 and torch report a full disk in their own words (or with no errno): say it as the OS does
        if not (isinstance(e, OSError) and e.errno is not None) and _nearly_full(path.parent):
            raise OSError(errno.ENOSPC, "No space left on device", str(path)) from e
        if not (isinstance(e, OSError) and e.errno is not None) and _at_size_limit(tmp):
            raise OSError(errno.EFBIG, "File too large (the file-size limit, ulimit -f)", str(path)) from e
        if isinstance(e, OSError) and e.errno is not None and not e.filename:  # name the file being written
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)
    return atomic_write(path, write)
