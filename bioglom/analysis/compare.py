"""Compare two result files variable by variable, for checking that a change left a
simulation's results as they were:

    python -m bioglom.analysis.compare BEFORE.nc AFTER.nc [--atol 0] [--claims]

prints each variable or coordinate that differs (shape, or the largest absolute
difference), those only one file has, and whether the claims (ids, values, verdicts) are
the same; exits 0 when nothing differs, 1 otherwise. Attributes (provenance, command
line) are not compared. With ``--claims`` only the claim rows are compared (value,
interval, verdict, criterion), which is how a run on another machine is checked against
the claims recorded in ``analysis/samples/*_claims.nc`` within the README's tolerance;
when the claims differ it prints where each file was computed (commit, threads, CPU,
instruction set, BLAS: :func:`~bioglom.analysis.recorder.machine`).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import xarray as xr

__all__ = ["differences", "claims_only", "provenance_table", "rerun_summary"]


def claims_only(ds: xr.Dataset) -> xr.Dataset:
    """The claim rows of a result: its ``claim_*`` variables on the ``claim`` dimension."""
    kept = ds[[v for v in ds.data_vars if str(v).startswith("claim")]]
    return kept.drop_vars([c for c in kept.coords if "claim" not in kept[c].dims])


def differences(a: xr.Dataset, b: xr.Dataset, atol: float = 0.0) -> list[str]:
    """One line per difference between ``a`` and ``b``: a variable or coordinate only one
    has, one whose dimensions or shape differ, or one whose values differ (numbers by more
    than ``atol``, NaN equal to NaN; anything else exactly)."""
    out = []
    for kind, names_a, names_b in (("variable", a.data_vars, b.data_vars), ("coordinate", a.coords, b.coords)):
        for name in sorted(set(names_a) ^ set(names_b), key=str):
            out.append(f"{kind} {name}: only in the {'first' if name in names_a else 'second'}")
        for name in sorted(set(names_a) & set(names_b), key=str):
            x, y = a[name], b[name]
            if x.dims != y.dims or x.shape != y.shape:
                out.append(f"{kind} {name}: {dict(x.sizes)} against {dict(y.sizes)}")
            elif x.dtype.kind in "fc" and y.dtype.kind in "fc":
                gap = np.abs(x.values - y.values)
                both_nan = np.isnan(x.values) & np.isnan(y.values)
                if (np.isnan(gap) & ~both_nan).any() or np.nanmax(np.where(both_nan, 0, gap), initial=0) > atol:
                    out.append(f"{kind} {name}: values differ by up to {np.nanmax(np.where(both_nan, 0, gap), initial=0):.3g}"
                               + (" (and NaN against a number)" if (np.isnan(gap) & ~both_nan).any() else ""))
            elif not np.array_equal(x.values, y.values):
                out.append(f"{kind} {name}: values differ")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("first")
    parser.add_argument("second")
    parser.add_argument("--atol", type=float, default=0.0, help="numbers closer than this are equal (default: 0)")
    parser.add_argument("--claims", action="store_true", help="compare only the claim rows")
    parser.add_argument("--rerun", action="store_true", help="with --claims: also say how far the second moved the "
                        "first's claims (verdicts equal, largest change, median interval half-width)")
    args = parser.parse_args(argv)
    if args.rerun and not args.claims:
        parser.error("rerun=True is not allowed without --claims; it reads the claim rows")
    if not np.isfinite(args.atol) or args.atol < 0:  # NaN would compare as "no differences"
        parser.error(f"atol={args.atol!r} is not allowed; give a finite number >= 0")
    try:
        with xr.open_dataset(args.first, engine="h5netcdf") as a, xr.open_dataset(args.second, engine="h5netcdf") as b:
            a, b = a.load(), b.load()
            first_attrs, second_attrs = dict(a.attrs), dict(b.attrs)
            if args.claims:
                missing = [path for path, ds in ((args.first, a), (args.second, b)) if "claim" not in ds.dims]
                if missing:  # nothing to compare would read as "no differences"
                    parser.error(f"claims=True is not allowed for {', '.join(map(str, missing))}: it holds no claim "
                                 "rows (compare the whole files without --claims)")
                a, b = claims_only(a), claims_only(b)
                if args.rerun:
                    r = rerun_summary(a, b)
                    print(f"rerun: verdicts equal {r['verdicts_equal']}/{r['claims']}"
                          + (f" ({'; '.join(r['flipped'])})" if r["flipped"] else "")
                          + f"; largest change {r['largest']:.3g} ({r['largest_claim']}); median interval half-width "
                          f"{r['half_width']:.3g}")
            lines = differences(a, b, args.atol)
            claims = "claim" in a.coords and "claim" in b.coords
    except BrokenPipeError:
        raise  # the reader of the output stopped (quiet_on_closed_pipe): not a file that cannot be read
    except (OSError, ValueError) as e:
        parser.error(f"cannot read both files as NetCDF results ({args.first}, {args.second}): {e}")
    print("\n".join(lines) if lines else "no differences")
    if claims:
        same = not any(line.split(" ")[1].startswith("claim") for line in lines)
        print(f"claims: {'the same' if same else 'DIFFER'}")
        if not same:  # what could explain it: where each was computed
            print(provenance_table(first_attrs, second_attrs))
    return 1 if lines else 0


def rerun_summary(a: xr.Dataset, b: xr.Dataset) -> dict:
    """How far a rerun ``b`` moved the claims of ``a`` (the claim rows both hold):
    ``claims``, ``verdicts_equal`` (how many have the same verdict), ``flipped`` (labels
    of those that changed, with both verdicts), ``largest`` (the largest change of a value
    or bound, and its claim), ``half_width`` (the median half-width of ``a``'s intervals,
    the scale a change is read against)."""
    common = [c for c in a.claim.values if c in set(b.claim.values)]
    a, b = a.sel(claim=common), b.sel(claim=common)
    flipped = [f"{c}: {x} -> {y}" for c, x, y in zip(common, a.claim_verdict.values, b.claim_verdict.values) if x != y]
    gaps = np.stack([np.abs(a[v].values - b[v].values) for v in ("claim_value", "claim_low", "claim_high")])
    gaps = np.where(np.isnan(gaps), 0.0, gaps)  # NaN on both sides: no interval, no change
    worst = int(np.argmax(gaps.max(0))) if len(common) else 0
    half = (a.claim_high.values - a.claim_low.values) / 2
    return {"claims": len(common), "verdicts_equal": len(common) - len(flipped), "flipped": flipped,
            "largest": float(gaps.max()) if len(common) else 0.0, "largest_claim": common[worst] if common else "",
            "half_width": float(np.nanmedian(half)) if np.isfinite(half).any() else float("nan")}


def provenance_table(a: dict, b: dict) -> str:
    """The provenance of two results side by side (commit, versions, threads, CPU,
    instruction set, BLAS), the rows that differ marked ``*``; ``?`` where a file does
    not record one (results written before it was recorded)."""
    from .recorder import MACHINE_ATTRS

    keys = ("git_commit", "torch_version", "torch_threads", *MACHINE_ATTRS)
    width = max(len(k) for k in keys)
    rows = [f"{'provenance':<{width}}  first | second"]
    for k in keys:
        x, y = str(a.get(k, "?")), str(b.get(k, "?"))
        rows.append(f"{k:<{width}}{'*' if x != y else ' '} {x} | {y}")
    return "\n".join(rows)

if __name__ == "__main__":
    from ..pipes import quiet_on_closed_pipe

    sys.exit(quiet_on_closed_pipe(main))
