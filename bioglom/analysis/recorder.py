"""Results as xarray Datasets, written to NetCDF atomically (DESIGN.md 8 and 10)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import xarray as xr

from ..atomic import atomic_write

__all__ = ["Claim", "claims_dataset", "history_dataset", "write_netcdf", "run_attrs", "format_claims"]


class Claim(NamedTuple):
    """One paper claim as measured: id (``I1``), the measured value, whether it held, and
    the human-readable criterion."""

    id: str
    value: float
    held: bool
    criterion: str


def claims_dataset(claims: list[Claim]) -> xr.Dataset:
    """``claim_value`` (float) and ``claim_held`` (bool) over a ``claim`` dim, with the
    criterion as the coordinate ``claim_criterion`` (DESIGN.md 10)."""
    return xr.Dataset(
        {
            "claim_value": ("claim", np.array([float(c.value) for c in claims]), {"long_name": "measured value"}),
            "claim_held": ("claim", np.array([bool(c.held) for c in claims]), {"long_name": "criterion met"}),
        },
        coords={"claim": [c.id for c in claims], "claim_criterion": ("claim", [c.criterion for c in claims])},
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


def run_attrs(config: dict, seed: int, **extra) -> dict:
    """Attributes every result carries: the config as JSON, seed, bioglom version, command line."""
    from .. import __version__

    attrs = {"config": json.dumps(config, sort_keys=True, default=str), "seed": int(seed),
             "bioglom_version": __version__, "command": " ".join(sys.argv)}
    for k, v in extra.items():
        attrs[k] = v if isinstance(v, (str, int, float, np.ndarray)) and not isinstance(v, bool) else json.dumps(v)
    return attrs


def write_netcdf(ds: xr.Dataset, path) -> Path:
    """Write ``ds`` to ``path`` as netCDF4 (h5netcdf), via a temporary file and a rename,
    so a killed run never leaves a half-written file under ``path``."""
    return atomic_write(path, lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf"))


def format_claims(claims: list[Claim]) -> str:
    """The summary table of a simulation: one row per claim with value, verdict and criterion."""
    rows = [("claim", "value", "verdict", "criterion")]
    rows += [(c.id, f"{c.value:.4g}", "held" if c.held else "not held", c.criterion) for c in claims]
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(f"{r[0]:<{w[0]}}  {r[1]:>{w[1]}}  {r[2]:<{w[2]}}  {r[3]}" for r in rows)


def evaluations_dataset(evaluations: list[dict]) -> xr.Dataset:
    """Evaluations kept during training (dicts with ``update`` and scalar metrics) as
    float variables along ``update``."""
    keys = [k for k in evaluations[0] if k != "update"]
    return xr.Dataset({k: ("update", np.array([e[k] for e in evaluations], float)) for k in keys},
                      coords={"update": np.array([e["update"] for e in evaluations], int)})
