"""Where Brian2 runs a network: the runtime targets ``numpy`` and ``cython``, or the
``cpp_standalone`` device, which compiles the whole run into one C++ program (so phases
inside it are driven by ``TimedArray``s, never by Python between runs)."""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

from .. import phases
from ..config import ConfigError

TARGETS = ("numpy", "cython", "cpp_standalone")


def check_target(target: str) -> str:
    if target not in TARGETS:
        raise ConfigError(f"brian_device={target!r} is not a Brian2 target here; allowed: {', '.join(TARGETS)}")
    return target


@contextmanager
def brian_device(target: str, directory: str | Path | None = None):
    """Build and run networks inside this block on ``target``; standalone code goes to
    ``directory``. On leaving, the standalone device is reset and runtime restored, so the
    next block starts clean."""
    import brian2

    check_target(target)
    if target == "cpp_standalone":
        if directory is None:
            raise ConfigError("cpp_standalone needs a directory for its generated code")
        brian2.set_device("cpp_standalone", directory=str(directory), build_on_run=False)
    else:
        brian2.set_device("runtime")
        brian2.prefs.codegen.target = target
    try:
        yield
    finally:
        if target == "cpp_standalone":
            brian2.get_device().reinit()
            brian2.get_device().activate()
            brian2.set_device("runtime")


def simulate(network, duration, target: str, directory: str | Path | None = None) -> dict:
    """Run ``network`` for ``duration`` on ``target`` (inside :func:`brian_device`) and
    return wall times in seconds: ``run`` (the simulation; on ``cython`` it includes
    compiling code not yet in Cython's cache) and, on ``cpp_standalone``, ``compile``
    (generating and compiling the program) apart from ``run`` (executing it)."""
    with phases.phase("spiking"):
        return _simulate(network, duration, target, directory)


def _simulate(network, duration, target, directory):
    import brian2

    if target != "cpp_standalone":
        start = time.perf_counter()
        network.run(duration)
        return {"compile": 0.0, "run": time.perf_counter() - start}
    device = brian2.get_device()
    network.run(duration)  # records the run in the project; nothing executes yet
    start = time.perf_counter()
    device.build(directory=str(directory), compile=True, run=False, with_output=False)
    compiled = time.perf_counter()
    device.run(directory=str(directory), with_output=False)
    return {"compile": compiled - start, "run": time.perf_counter() - compiled}
