"""Which kept verdicts survive a rerun (docs/claims.md, "A verdict must survive a rerun").

A kept claims file (``analysis/samples/RUN_claims.nc``) is compared with reruns of the
same command under changes that should not matter -- today's code, the initial weights
multiplied by ``1 + e`` with ``|e| <= 1e-7`` (``--init-perturbation``), other CPU kernels
(``ATEN_CPU_CAPABILITY=avx2``) -- and each claim row is marked with the verdict every rerun
gave it:

    python -m bioglom.analysis.reruns analysis/samples/islands_claims.nc \\
        --rerun "today's code=results/rerun/islands/islands.nc" \\
        --rerun "initial weights x (1 +- 1e-7)=results/rerun/islands_p7/islands.nc" \\
        --rerun "AVX2 kernels=results/rerun/islands_avx2/islands.nc"

writes the marks into the kept file -- ``rerun_verdict`` ``[claim, rerun]`` and
``verdict_survives_rerun`` ``[claim]`` (every rerun gave the kept verdict), the commit of
each rerun as ``rerun_commit`` -- and prints one row per rerun (verdicts equal, largest
change, median interval half-width: :func:`~.compare.rerun_summary`), the README's table.
The marks are not ``claim_*`` variables, so ``compare --claims`` of a new run against the
kept rows compares the claims only; :func:`~.figures.claims_figure` marks the rows whose
verdict does not survive (``†``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import xarray as xr

__all__ = ["RERUN_VARIABLES", "mark_reruns", "carry_marks", "rerun_rows"]

RERUN_VARIABLES = ("rerun_verdict", "verdict_survives_rerun", "rerun_commit")


def mark_reruns(kept: xr.Dataset, reruns: dict[str, xr.Dataset]) -> xr.Dataset:
    """``kept`` with its claim rows marked by ``reruns`` (name -> result holding claim
    rows): ``rerun_verdict`` (the verdict each rerun gave each claim; ``""`` where a rerun
    lacks the claim), ``verdict_survives_rerun`` (every rerun that holds the claim gave
    the kept verdict) and ``rerun_commit`` (each rerun's commit). Earlier marks are replaced."""
    from ..config import ConfigError

    if not reruns:
        raise ConfigError("reruns={} is not allowed; give at least one rerun to mark the claims with")
    for name, ds in {"kept": kept, **reruns}.items():
        if "claim" not in ds.dims:
            raise ConfigError(f"{name}: it holds no claim rows (claim_verdict over claim); give a result file "
                              "with claims")
    # claim x rerun; "" where a rerun lacks the claim (not measured there: no flip)
    verdicts = np.stack([ds.claim_verdict.astype(str).reindex(claim=kept.claim.values, fill_value="").values
                         for ds in reruns.values()], axis=1)
    kept_verdicts = kept.claim_verdict.values.astype(str)
    survives = ((verdicts == kept_verdicts[:, None]) | (verdicts == "")).all(axis=1)
    out = kept.drop_vars([v for v in RERUN_VARIABLES if v in kept.variables] + (["rerun"] if "rerun" in kept.coords
                                                                               else []))
    out = out.assign_coords(rerun=("rerun", list(reruns), {"long_name": "rerun of the kept command: the change "
                                                                        "that should not matter"}))
    out["rerun_verdict"] = (("claim", "rerun"), verdicts,
                            {"long_name": "the verdict a rerun gave the claim (empty: the rerun lacks it)"})
    out["verdict_survives_rerun"] = ("claim", survives,
                                     {"long_name": "every rerun gave the kept verdict (false: read the claim as "
                                                   "undecided whatever its verdict)"})
    out["rerun_commit"] = ("rerun", [str(ds.attrs.get("git_commit", "?")) for ds in reruns.values()],
                           {"long_name": "commit of the rerun's code"})
    return out


def carry_marks(old: xr.Dataset, new: xr.Dataset) -> tuple[xr.Dataset, bool]:
    """``new`` kept claim rows with ``old``'s rerun marks where the rows are the same
    (every value, bound, verdict and criterion equal): the marks belong to these numbers.
    Returns ``(dataset, carried)``; where the rows differ the marks are left out, since
    they must be measured again."""
    from .compare import claims_only, differences

    if "verdict_survives_rerun" not in old:
        return new, False
    if differences(claims_only(old), claims_only(new)):
        return new, False
    return new.assign({v: old[v] for v in RERUN_VARIABLES if v in old.variables}), True


def rerun_rows(kept: xr.Dataset, reruns: dict[str, xr.Dataset], simulation: str) -> list[str]:
    """One markdown row per rerun: simulation, the rerun's name, verdicts equal (the
    claims that flipped), the largest change of a value or bound (its claim), the median
    interval half-width of the kept rows."""
    from .compare import claims_only, rerun_summary

    rows = []
    for name, ds in reruns.items():
        r = rerun_summary(claims_only(kept), claims_only(ds))
        flipped = f" ({', '.join(f.split(':')[0] for f in r['flipped'])} flip)" if r["flipped"] else ""
        largest = "0 (bit-identical)" if r["largest"] == 0 else f"{r['largest']:.3g} ({r['largest_claim']})"
        rows.append(f"| {simulation} | {name} | {r['verdicts_equal']} / {r['claims']}{flipped} | {largest} | "
                    f"{r['half_width']:.3g} |")
    return rows


def main(argv=None) -> int:
    from ..config import ConfigError
    from .recorder import write_netcdf

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("kept", help="the kept claims file to mark (e.g. analysis/samples/islands_claims.nc)")
    p.add_argument("--rerun", action="append", default=[], metavar="NAME=PATH",
                   help="a rerun of the kept file's command: its name (the change) and its result (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="print the rows, do not write the marks")
    a = p.parse_args(argv)
    if not a.rerun:
        p.error("rerun=[] is not allowed; give --rerun NAME=PATH at least once")
    named = {}
    for item in a.rerun:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            p.error(f"rerun={item!r} is not allowed; give NAME=PATH, e.g. \"AVX2 kernels=results/x/islands.nc\"")
        if name in named:
            p.error(f"rerun={item!r} is not allowed; the name {name!r} is given twice")
        named[name] = Path(path)
    for path in [Path(a.kept), *named.values()]:
        if not path.is_file():
            p.error(f"file {str(path)!r} does not exist; give result files that hold claim rows")
    try:
        with xr.open_dataset(a.kept, engine="h5netcdf") as ds:
            kept = ds.load()
        reruns = {}
        for name, path in named.items():
            with xr.open_dataset(path, engine="h5netcdf") as ds:
                reruns[name] = ds.load()
        marked = mark_reruns(kept, reruns)
    except ConfigError as e:  # a file without claim rows
        p.error(str(e))
    except (OSError, ValueError) as e:
        p.error(f"cannot read the files as NetCDF results: {e}")
    simulation = Path(a.kept).name.removesuffix("_claims.nc")
    print("\n".join(rerun_rows(kept, reruns, simulation)))
    lost = [str(c) for c, s in zip(marked.claim.values, marked.verdict_survives_rerun.values) if not s]
    print(f"verdicts that do not survive a rerun: {', '.join(lost) if lost else 'none'}")
    if not a.dry_run:
        print(f"wrote {write_netcdf(marked, a.kept)}")
    return 0


if __name__ == "__main__":
    from ..pipes import quiet_on_closed_pipe

    sys.exit(quiet_on_closed_pipe(main))
