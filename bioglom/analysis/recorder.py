"""Results as xarray Datasets, written to NetCDF atomically (docs/design.md §8 and §10)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import xarray as xr

__all__ = ["Claim", "claims_dataset", "history_dataset", "stack_datasets", "write_netcdf", "run_attrs",
           "format_claims"]


class Claim(NamedTuple):
    """One paper claim as measured: id (``I1``), the measured value, whether it held, the
    human-readable criterion, and (where measured over seeds and samples) the 95 %
    interval ``low .. high`` and the three-way ``verdict`` (``held``, ``not held``,
    ``undecided``; see :mod:`bioglom.analysis.verdicts`). Without a verdict, the
    verdict is ``held`` or ``not held`` from ``held``."""

    id: str
    value: float
    held: bool
    criterion: str
    low: float = float("nan")
    high: float = float("nan")
    verdict: str | None = None

    @property
    def decided(self) -> str:
        """The verdict: the three-way one when given, else from ``held``."""
        return self.verdict if self.verdict is not None else ("held" if self.held else "not held")

    @classmethod
    def measured(cls, id: str, interval, verdict: str, criterion: str) -> "Claim":
        """A claim from an :class:`~bioglom.analysis.verdicts.Interval` and its verdict."""
        return cls(id, float(interval.value), verdict == "held", criterion, float(interval.low),
                   float(interval.high), verdict)


def claims_dataset(claims: list[Claim]) -> xr.Dataset:
    """``claim_value``, ``claim_low``, ``claim_high`` (float), ``claim_verdict`` (str) and
    ``claim_held`` (bool, verdict ``held``) over a ``claim`` dim, with the criterion as
    the coordinate ``claim_criterion`` (docs/design.md §10). The ``claim`` label is unique
    (``"D1 delta"``); the coordinates ``claim_id`` (``"D1"``, the claim of docs/claims.md)
    and ``claim_condition`` (``"delta"``, empty where a claim has one reading) split it, so
    one claim is selected across conditions with ``ds.claim_id == "D1"``, and one
    condition with ``ds.claim_condition == "delta"``."""
    ids = [c.id.split(" ", 1) + [""] for c in claims]
    return xr.Dataset(
        {
            "claim_value": ("claim", np.array([float(c.value) for c in claims]),
                            {"long_name": "measured value (in the units of the claim's criterion: every claim's "
                                          "measure is a ratio, fraction, correlation or ARI)", "units": "1"}),
            "claim_low": ("claim", np.array([float(c.low) for c in claims]),
                          {"long_name": "lower end of the 95 % interval (NaN: not measured over seeds)", "units": "1"}),
            "claim_high": ("claim", np.array([float(c.high) for c in claims]),
                           {"long_name": "upper end of the 95 % interval (NaN: not measured over seeds)", "units": "1"}),
            "claim_verdict": ("claim", np.array([c.decided for c in claims], dtype=str),
                              {"long_name": "verdict: held, not held or undecided"}),
            "claim_held": ("claim", np.array([c.decided == "held" for c in claims]), {"long_name": "verdict is held"}),
        },
        coords={"claim": [c.id for c in claims], "claim_criterion": ("claim", [c.criterion for c in claims]),
                "claim_id": ("claim", [i[0] for i in ids]), "claim_condition": ("claim", [i[1] for i in ids])},
    )


def history_dataset(history: list[dict]) -> xr.Dataset:
    """A trainer's metrics history as a Dataset over ``update``: numbers become float
    variables (NaN where an update lacks one), strings (the phase) coordinates along
    ``update``; anything else (tensors of per-step measurements) is left out."""
    keys = list(dict.fromkeys(k for h in history for k in h if k != "update"))  # every key, first-seen order
    data, coords = {}, {"update": np.array([h.get("update", i) for i, h in enumerate(history)], int)}
    for k in keys:
        values = [h.get(k) for h in history]
        present = [v for v in values if v is not None]
        if all(isinstance(v, str) for v in present):
            coords[k] = ("update", np.array(["" if v is None else v for v in values], dtype=str))
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
            data[k] = ("update", np.array([np.nan if v is None else v for v in values], float))
    return xr.Dataset(data, coords=coords)


def stack_datasets(parts: dict, dims: tuple[str, ...]) -> xr.Dataset:
    """Datasets keyed by tuples of labels, ``{(seed, run): ds}``, stacked into new
    dimensions ``dims`` (one per key position, outermost first), labels in first-seen
    order; a combination that is missing, and a variable or length one part lacks, is NaN."""
    if not dims:
        (only,) = parts.values()
        return only
    groups: dict = {}
    for key, ds in parts.items():
        groups.setdefault(key[0], {})[key[1:]] = ds
    inner = [stack_datasets(g, dims[1:]).expand_dims({dims[0]: [label]}) for label, g in groups.items()]
    return xr.concat(inner, dims[0], join="outer", coords="minimal", compat="override")


# what a difference between two runs of the same code can come from, besides the threads
MACHINE_ATTRS = ("cpu_model", "cpu_capability", "blas", "blas_threads")


def machine() -> dict:
    """The machine a result was computed on, as far as float32 sums can depend on it: the
    CPU model (``/proc/cpuinfo``'s model name, else the platform's), the instruction set
    PyTorch's CPU kernels dispatch to (``torch.backends.cpu.get_cpu_capability()``:
    ``ATEN_CPU_CAPABILITY`` can lower it), and the BLAS PyTorch was built with and its
    threads (from ``torch.__config__``)."""
    import platform
    import re

    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    config, parallel = torch.__config__.show(), torch.__config__.parallel_info()
    blas = re.search(r"BLAS_INFO=(\w+)", config)
    version = re.search(r"(?:Math Kernel Library|OpenBLAS) Version ([\w.]+)", config)
    threads = re.search(r"(?:mkl|openblas)_get_max_threads\(\)\s*:\s*(\d+)", parallel)
    return {"cpu_model": cpu, "cpu_capability": str(torch.backends.cpu.get_cpu_capability()),
            "blas": (blas.group(1) if blas else "unknown") + (f" {version.group(1)}" if version else ""),
            "blas_threads": int(threads.group(1)) if threads else torch.get_num_threads()}


def provenance() -> dict:
    """Where a result came from: the git commit of the bioglom checkout (``+dirty`` with
    uncommitted changes; ``unknown`` outside a checkout) and the versions of Python,
    torch, numpy, xarray and Brian2 (read from package metadata, not imported), the CPU
    threads torch used: float32 sums differ with the thread count, and training amplifies
    that, so a result is reproduced bit for bit only at the same count; and the machine
    (:func:`machine`: CPU, instruction set, BLAS), which moves float32 sums the same way."""
    import platform
    import subprocess
    from importlib import metadata
    from pathlib import Path

    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        commit = (commit + ("+dirty" if dirty else "")) if commit else "unknown"
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    import torch

    out = {"git_commit": commit, "python_version": platform.python_version(), "torch_threads": torch.get_num_threads(),
           **machine()}
    for package in ("torch", "numpy", "xarray", "brian2"):
        try:
            out[f"{package}_version"] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[f"{package}_version"] = "not installed"
    return out


def _plain(value):
    """JSON for what json does not know: numpy scalars as Python values, the rest as text."""
    return value.item() if isinstance(value, np.generic) else str(value)


def run_attrs(config: dict, seed: int, **extra) -> dict:
    """Attributes every result carries: the config as JSON, seed, bioglom version, command
    line, and :func:`provenance` (git commit, package versions)."""
    from .. import __version__

    attrs = {"config": json.dumps(config, sort_keys=True, default=_plain), "seed": int(seed),
             "bioglom_version": __version__, "command": " ".join(sys.argv), **provenance()}
    for k, v in extra.items():
        v = v.item() if isinstance(v, np.generic) else v  # numpy scalars (np.bool_ among them) as Python values
        attrs[k] = v if isinstance(v, (str, int, float, np.ndarray)) and not isinstance(v, bool) else json.dumps(v)
    return attrs


def write_netcdf(ds: xr.Dataset, path) -> Path:
    """Write ``ds`` to ``path`` as netCDF4 (h5netcdf), via a temporary file and a rename,
    so a killed run never leaves a half-written file under ``path``. Variables without a
    ``long_name`` get theirs from :mod:`bioglom.analysis.names`.

    The file is built in memory and written as bytes: a full disk then fails one plain
    write, instead of leaving HDF5 with a half-closed file that errs again as it is freed
    (and crashed the interpreter at exit)."""
    from ..atomic import atomic_write_bytes
    from .names import describe

    describe(ds)
    return atomic_write_bytes(path, bytes(ds.to_netcdf(engine="h5netcdf")))


def format_claims(claims: list[Claim]) -> str:
    """The summary table of a simulation: one row per claim with value, 95 % interval
    (where measured), verdict and criterion."""
    rows = [("claim", "value", "95 % interval", "verdict", "criterion")]
    for c in claims:
        interval = f"[{c.low:.3g}, {c.high:.3g}]" if np.isfinite(c.low) and np.isfinite(c.high) else "-"
        rows.append((c.id, f"{c.value:.4g}", interval, c.decided, c.criterion))
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join(f"{r[0]:<{w[0]}}  {r[1]:>{w[1]}}  {r[2]:<{w[2]}}  {r[3]:<{w[3]}}  {r[4]}" for r in rows)


def evaluations_dataset(evaluations: list[dict]) -> xr.Dataset:
    """Evaluations kept during training (dicts with ``update`` and scalar metrics) as
    float variables along ``update``."""
    keys = [k for k in evaluations[0] if k != "update"]
    return xr.Dataset({k: ("update", np.array([e[k] for e in evaluations], float)) for k in keys},
                      coords={"update": np.array([e["update"] for e in evaluations], int)})
