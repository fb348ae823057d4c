"""How the C library's malloc hands memory back, set once when bioglom is imported.

A training step on the CPU frees and allocates the same large tensors every update: the
unshared column nets' weight-sized gradients, the attention's ``[b, l, n, n]`` logits.
glibc serves an allocation above its mmap threshold (at most 32 MB) with a fresh
``mmap`` and returns it with ``munmap`` when freed, so every update page-faults its
gradients in again, and with transparent huge pages the kernel may also stall to compact
memory. That cost depends on the machine's state: ``benchmarks/columns.py`` measured
unshared forward+backward at a median of 6.2-7.2x shared (rounds from 2.0x to 9.8x) on 2
cores. With freed memory kept for reuse (``mallopt(M_MMAP_MAX, 0)``: large blocks come
from the heap; ``mallopt(M_TRIM_THRESHOLD, 2**31 - 1)``: the heap is not trimmed) the
same benchmark gave 1.81x (rounds 1.71-2.21x).

The price is that the process's resident size stays at its peak instead of shrinking
after it. Any ``MALLOC_*`` variable in the environment (glibc's own settings, such as
:data:`bioglom.learning.profile.TIGHT_MALLOC` for measuring peak memory) leaves glibc as
the environment set it; so does ``BIOGLOM_KEEP_FREED_MEMORY=0``. Another value of that
switch is a warning on import (glibc left alone) and a one-line refusal from a simulation.
"""

from __future__ import annotations

import ctypes
import os
import platform

from .config import ConfigError

__all__ = ["keep_freed_memory", "check_switch", "M_TRIM_THRESHOLD", "M_MMAP_MAX"]

M_TRIM_THRESHOLD = -1  # glibc's malloc.h
M_MMAP_MAX = -4
_TRIM = 2**31 - 1  # mallopt takes an int: about 2 GiB of free heap top before any is returned


def check_switch(environ=os.environ) -> str:
    """``BIOGLOM_KEEP_FREED_MEMORY`` of ``environ`` (``"1"`` when unset); raises
    :class:`~bioglom.config.ConfigError` naming it unless it is 0 or 1."""
    switch = environ.get("BIOGLOM_KEEP_FREED_MEMORY", "1")
    if switch not in ("0", "1"):
        raise ConfigError(f"BIOGLOM_KEEP_FREED_MEMORY={switch!r} is not allowed; set it to 0 (glibc's default "
                          "malloc) or 1 (keep freed memory, the default), or leave it unset")
    return switch


def keep_freed_memory(environ=os.environ) -> bool:
    """On glibc, unless ``environ`` holds a ``MALLOC_*`` setting or
    ``BIOGLOM_KEEP_FREED_MEMORY=0``: serve every allocation from the heap and keep freed
    memory for reuse (module docstring). Returns whether the settings were made; raises
    :class:`~bioglom.config.ConfigError` for a switch other than 0 or 1."""
    if check_switch(environ) == "0" or any(k.startswith("MALLOC_") for k in environ):
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)  # the process's own C library, the malloc torch allocates with
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, _TRIM))
