"""Merge per-seed results along ``seed`` and compute the claims of the whole, as the
one-process run does (seeds as jobs: docs/design.md §11):

    python simulations/islands.py --seed 0 --seeds 1 --out results/islands-seed0   # anywhere:
    python simulations/islands.py --seed 1 --seeds 1 --out results/islands-seed1   # a Slurm array,
    python simulations/islands.py --seed 2 --seeds 1 --out results/islands-seed2   # a loop, ...
    python -m bioglom.claims islands results/islands-seed*/islands.nc --out results/islands/islands.nc

Each seed's streams (weights, data, evaluation sets) derive from that seed alone, so a
seed run on its own gives the numbers it gives inside a multi-seed run, and the merged
claims equal the one-process run's (tests/test_claims_merge.py). The files must come from
the same simulation with the same options but for ``seed``/``seeds``; anything else is
refused with one line before any work.

The simulations whose claims can be recomputed from their merged result are in
:data:`MERGEABLE` (on digits and on scenes, where each seed's file keeps the scene quality
the claims read); the spiking runs' claims read per-seed numbers of
Brian2 runs and are refused, saying so.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

__all__ = ["MERGEABLE", "simulation_module", "merge_results", "main"]

ROOT = Path(__file__).resolve().parents[1]
MERGEABLE = ("islands", "wake_sleep", "distillery", "temporal_derivative")


def simulation_module(name: str):
    """The script ``simulations/NAME.py`` loaded as a module (its ``Options``, ``main``,
    ``claims_of``), without running it."""
    path = ROOT / "simulations" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bioglom_simulation_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    return module


def merge_results(simulation: str, paths: list[Path]):
    """``(dataset, claims, attrs)``: the per-seed results at ``paths`` (each over its own
    ``seed``) concatenated along ``seed`` in seed order, with the simulation's claims of
    the whole. Raises :class:`~bioglom.config.ConfigError` naming the file that does not fit."""
    import xarray as xr

    from .cli import RUN_ONLY
    from .config import ConfigError

    if simulation not in MERGEABLE:
        raise ConfigError(f"simulation={simulation!r} is not allowed; its claims can be recomputed from merged "
                          f"results for {', '.join(MERGEABLE)} (the others run their seeds in one process)")
    if not paths:
        raise ConfigError("no result files given; give each seed's result file")
    module = simulation_module(simulation)
    fields = {f.name for f in dataclasses.fields(module.Options)}
    parts, config = [], None
    for path in paths:
        if not Path(path).is_file():
            raise ConfigError(f"{path} is not a file")
        try:
            ds = xr.open_dataset(path, engine="h5netcdf").load()
        except (OSError, ValueError) as e:
            raise ConfigError(f"{path} is not a NetCDF result ({e})") from None
        if ds.attrs.get("status") != "complete":
            raise ConfigError(f"{path} is not a complete result (status {ds.attrs.get('status')!r}); finish it with "
                              "--resume first")
        if "config" not in ds.attrs:
            raise ConfigError(f"{path} holds no record of its options (attribute 'config'); merge results the "
                              "simulations wrote")
        recorded = json.loads(ds.attrs["config"])
        if not set(recorded) <= fields:
            raise ConfigError(f"{path} was not written by {simulation} (options {sorted(set(recorded) - fields)} "
                              f"are not {simulation}'s)")
        mine = {k: v for k, v in recorded.items() if k not in (*RUN_ONLY, "seed", "seeds")}
        if config is None:
            config, first = mine, path
        elif mine != config:
            differ = sorted(k for k in set(mine) | set(config) if mine.get(k) != config.get(k))
            raise ConfigError(f"{path} was run with other options than {first} ({', '.join(differ)}); merge runs "
                              "that differ only in their seed")
        parts.append(ds.drop_vars([v for v in ds.variables if str(v).startswith("claim")]))
    seeds = [int(s) for p in parts for s in p.seed.values]
    if len(set(seeds)) < len(seeds):
        raise ConfigError(f"seeds {sorted(seeds)} are given more than once; give each seed's result once")
    parts = sorted(parts, key=lambda p: int(p.seed.values[0]))
    merged = xr.concat(parts, "seed", join="outer", data_vars="minimal", coords="minimal", compat="override",
                       combine_attrs="override")
    opts = module.Options(**{**_typed(module.Options, config), "seed": min(seeds), "seeds": len(seeds)})
    claims = module.claims_of(merged, opts)
    attrs = {**parts[0].attrs, "seeds": json.dumps(sorted(seeds)),
             "merged_from": json.dumps([str(p) for p in paths])}
    attrs.pop("status", None)
    return merged, claims, attrs


def _typed(cls, config: dict) -> dict:
    """The options of a result's ``config`` attribute as ``cls`` takes them (tuples stay tuples)."""
    import dataclasses

    fields = {f.name: f for f in dataclasses.fields(cls)}
    out = {}
    for k, v in config.items():
        if k in fields:
            out[k] = tuple(v) if isinstance(v, list) else v
    return out


def main(argv=None) -> int:
    from .analysis import format_claims
    from .config import ConfigError
    from .experiment import write_result

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("simulation", help=f"one of {', '.join(MERGEABLE)}")
    p.add_argument("results", nargs="+", type=Path, help="each seed's result file (SIMULATION.nc)")
    p.add_argument("--out", type=Path, required=True, help="the merged result file to write")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists (refused otherwise)")
    a = p.parse_args(argv)
    try:
        if a.out.is_dir():
            raise ConfigError(f"out={str(a.out)!r} is a folder; give the file to write (e.g. {a.out / 'merged.nc'})")
        if a.out.exists() and any(a.out.resolve() == r.resolve() for r in a.results):
            raise ConfigError(f"out={str(a.out)!r} is one of the files merged; give a new file")
        if a.out.exists() and not a.overwrite:  # a finished result is replaced only when asked
            raise ConfigError(f"out={str(a.out)!r} exists; give --overwrite to replace it, or another file")
        ds, claims, attrs = merge_results(a.simulation, a.results)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        a.out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        print(f"error: out={str(a.out)!r} cannot be written: its folder cannot be made ({e.strerror}); give a "
              "writable place", file=sys.stderr)
        return 2
    path = write_result(ds, claims, a.out, attrs)
    print(format_claims(claims))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    from .cli import run_script

    raise SystemExit(run_script(main))  # a folder that cannot be written ends in one line
