"""The run loop every simulation shares (docs/design.md §11), so that a script holds only
its experiment: options, data, conditions, claims, figures.

- :func:`train` runs one trainer to its end and says how it ended: ``complete``, or the
  status of a run stopped early by a non-finite value, Ctrl-C or ``--stop-after`` (the
  checkpoints are kept and ``--resume`` goes on);
- :func:`over_seeds` runs a simulation's seeds one after another until one stops early;
- :func:`run_dataset` turns a trainer's evaluations and training metrics into a dataset;
- :func:`cached` computes a dataset once and keeps it in the output folder for ``--resume``;
- :func:`write_partial` and :func:`write_result` write what was measured, partial or with
  its claims, and :func:`report` prints the summary a simulation ends with.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import xarray as xr

from .analysis import claims_dataset, evaluations_dataset, format_claims, history_dataset, run_attrs, write_netcdf
from .cli import resume_defaults, run_identity, stopped_status
from .config import ConfigError, NonFiniteError, changed_fields

__all__ = ["COMPLETE", "Stopped", "seeds_of", "train", "over_seeds", "run_dataset", "cached", "attrs_of", "write_partial",
           "write_result", "report"]

COMPLETE = "complete"


class Stopped(Exception):
    """A run stopped early (its status is the message): for a simulation whose results are
    kept per seed, so that nothing partial is written and ``--resume`` goes on."""


def seeds_of(opts) -> list[int]:
    """The seeds a simulation runs: ``seed, seed + 1, ..., seed + seeds - 1``."""
    return list(range(opts.seed, opts.seed + opts.seeds))


def train(trainer, opts, where: str, evaluate: Callable[[int], dict] | None = None, evaluate_every: int = 0) -> str:
    """Run ``trainer`` to its end (resuming from its checkpoint with ``opts.resume``, for at
    most ``opts.stop_after`` updates of this invocation where the options have one, 0
    meaning no limit) and return :data:`COMPLETE`, or the status of a run that stopped
    early -- a non-finite value or Ctrl-C (printed; :func:`~bioglom.cli.stopped_status`),
    or ``--stop-after``. ``where`` names the run in the status."""
    try:
        trainer.run(resume=opts.resume, stop_after=getattr(opts, "stop_after", 0) or None, evaluate=evaluate,
                    evaluate_every=evaluate_every)
    except (NonFiniteError, KeyboardInterrupt) as e:
        status = stopped_status(e, where)
        print(f"error: {status}", file=sys.stderr)
        return status
    if trainer.update < trainer.updates:
        return (f"stopped after {trainer.update} of {trainer.updates} updates of {where} (--stop-after); "
                "continue with --resume")
    return COMPLETE


def over_seeds(opts, run_seed: Callable[[int], tuple[object, str]]) -> tuple[list, str]:
    """``run_seed(seed) -> (result, status)`` for every seed of ``opts`` in turn, until one
    stops early; returns the results (the stopped seed's partial one included) and the
    status of the last seed run."""
    results, status = [], COMPLETE
    for seed in seeds_of(opts):
        result, status = run_seed(seed)
        results.append(result)
        if status != COMPLETE:
            break
    return results, status


def run_dataset(trainer, along: dict[str, tuple[str, ...]] | None = None, coords: dict | None = None) -> xr.Dataset:
    """A run's evaluations along ``update`` and its training metrics, named ``train_*``,
    along ``train_update`` (string columns of the history, such as the rule's phase, left
    out). An evaluation that is an array is named in ``along`` with its own dimensions,
    after ``update``: ``{"probe_correct": ("sample",), "level_accuracy": ("level",)}``;
    ``coords`` gives those dimensions' labels where they are not ``0, 1, ...``."""
    along = dict(along or {})
    hist = history_dataset(trainer.history).reset_coords(drop=True)
    hist = hist.rename({k: f"train_{k}" for k in hist.data_vars}).rename({"update": "train_update"})
    evals = trainer.evaluations
    if not evals:
        return hist
    scalars = evaluations_dataset([{k: v for k, v in e.items() if k not in along} for e in evals])
    arrays = xr.Dataset({k: (("update", *dims), np.stack([np.asarray(e[k]) for e in evals]))
                         for k, dims in along.items() if k in evals[0]}, coords={"update": scalars["update"]})
    named = {k: v for k, v in (coords or {}).items() if k in arrays.dims}
    return xr.merge([scalars, arrays.assign_coords(named), hist], join="outer")


def cached(path: Path, opts, compute: Callable[[], xr.Dataset], drop: tuple[str, ...] = ()) -> xr.Dataset:
    """``compute()``'s dataset, written to ``path`` with the options that decide it
    (:func:`~bioglom.cli.run_identity` of ``opts`` less ``drop``); with ``opts.resume``,
    the one already there, after checking that it was computed with the same options (one
    :class:`ConfigError` naming the differing ones otherwise)."""
    wanted = run_identity(opts, drop)
    if opts.resume and path.exists():
        try:
            opened = xr.open_dataset(path, engine="h5netcdf")
        except (OSError, ValueError) as e:  # cut short by a full disk or a kill outside the atomic write
            raise ConfigError(f"resume=True: {path} cannot be read ({type(e).__name__}); delete it and run the same "
                              "command with --resume to compute that part again") from None
        with opened as ds:
            differ = changed_fields(json.loads(ds.attrs.get("options", "{}")), wanted, resume_defaults(opts))
            if differ:
                raise ConfigError(f"resume=True: {path} was written with other options ({', '.join(differ)}); "
                                  "rerun with those values or a new --out")
            print(f"{path.stem}: from {path}")
            return ds.load()
    ds = compute()
    ds.attrs["options"] = json.dumps(wanted, sort_keys=True)
    write_netcdf(ds, path)
    return ds


def attrs_of(opts, **extra) -> dict:
    """The attributes of a simulation's result: its options, seed and provenance
    (:func:`~bioglom.analysis.run_attrs`), with ``extra``."""
    return run_attrs(dataclasses.asdict(opts), opts.seed, **extra)


def write_partial(ds: xr.Dataset, path: Path, attrs: dict, status: str) -> int:
    """Write what a run that stopped early measured, with its ``status``; print the status
    and return the exit code 1."""
    write_netcdf(ds.assign_attrs(attrs, status=status), path)
    print(status, file=sys.stderr)
    return 1


def write_result(ds: xr.Dataset, claims: list, path: Path, attrs: dict) -> Path:
    """Write ``ds`` with its claims (``claim_*`` over ``claim``) and, as its only attributes,
    ``attrs`` and status complete (the attributes of the parts it was merged from stay with them)."""
    ds = xr.merge([claims_dataset(claims), ds], join="outer", combine_attrs="drop_conflicts")
    ds.attrs = {**attrs, "status": COMPLETE}
    return write_netcdf(ds, path)


def report(title: str, *tables: str, claims: list, path: Path) -> int:
    """Print a simulation's summary: its title, its tables, the claims table and the file
    written; return the exit code 0."""
    print(f"\n{title}")
    for table in tables:
        print(table)
    print(format_claims(claims))
    print(f"wrote {path}")
    return 0
