"""Benchmark (not a test): where each default simulation's time goes, by phase, with the
ATen operators each phase runs per update (issue 26).

Each simulation runs in this process with its default options except ``--seeds 1``,
``--updates U`` and, where it has one, ``--eval-every U`` (so a run evaluates twice: before
the first update and after the last), into a temporary folder, twice: once timed by a
:class:`~bioglom.phases.PhaseClock` and once counting operators (``--ops``; counting slows
every operator, so its times are not used). For every training run (one per condition)
the table gives the milliseconds of one update by phase -- ``settle`` (the settling
steps), ``rule`` (the rule's own work: backprop's backward pass, a local rule's updates),
``checks`` (the finiteness checks), ``optimiser``, ``data`` (the batch), ``(other)``
(the update's time outside every named phase) -- and then the whole run's split:
updates, evaluations, checkpoints, Brian2 (``spiking``) and the rest (building models,
preparing data, writing results and figures).

    python benchmarks/profile_runs.py                         # all five; several minutes
    python benchmarks/profile_runs.py --simulations islands --updates 40 --ops
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

import torch

from bioglom.claims import simulation_module
from bioglom.phases import PhaseClock, clocking

SIMULATIONS = ("islands", "wake_sleep", "distillery", "temporal_derivative", "stdp_spiking")
EVALUATE_EVERY = ("islands", "wake_sleep", "distillery")  # the others evaluate once, after training

def run(name: str, updates: int, out: Path, clock: PhaseClock, extra: list[str]) -> float:
    """Run simulation ``name`` once under ``clock``; its wall time in seconds."""
    argv = ["--seeds", "1", "--out", str(out), *extra]
    if name != "stdp_spiking":  # the spiking simulation trains nothing
        argv += ["--updates", str(updates)]
    if name in EVALUATE_EVERY:
        argv += ["--eval-every", str(updates)]
    main = simulation_module(name).main
    start = time.perf_counter()
    said = io.StringIO()
    try:
        with clocking(clock), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(said):
            rc = main(argv)
    except SystemExit as e:  # argparse's refusal
        rc = e.code
    if rc:
        raise SystemExit(f"{name} {' '.join(argv)} ended with status {rc}:\n{said.getvalue()[-2000:]}")
    return time.perf_counter() - start


def report(name: str, wall: float, timed: PhaseClock, counted: PhaseClock | None, updates: int) -> None:
    trains = name != "stdp_spiking"
    print(f"\n== {name}: {wall:.1f} s for 1 seed" + (f", {updates} updates per run" if trains else " (no training)"))
    runs = sorted({p[0] for p in timed.calls if len(p) > 1 and p[1] == "update"})
    print(f"  {'run / phase':<44}{'ms/update':>10}{'share':>8}{'calls':>7}" + (f"{'ops':>8}" if counted else ""))
    for label in runs:
        per = (label, "update")
        rows = timed.table(per)
        ops = {r["phase"]: r["ops"] for r in counted.table(per)} if counted else {}
        total = sum(r["ms"] for r in rows)
        print(f"  {label:<44}{total:>10.1f}{1:>8.0%}{'':>7}" + (f"{sum(ops.values()):>8.0f}" if counted else ""))
        for r in rows:
            print(f"    {r['phase']:<42}{r['ms']:>10.2f}{r['share']:>8.0%}{r['calls']:>7.0f}"
                  + (f"{ops.get(r['phase'], 0):>8.0f}" if counted else ""))
    parts = {"updates": sum(timed.inclusive((label, "update")) for label in runs),
             "evaluations": sum(timed.inclusive((label, "evaluation")) for label in runs),
             "checkpoints": sum(timed.inclusive((label, "checkpoint")) for label in runs),
             "spiking": timed.inclusive(("spiking",))}
    parts["the rest (build, data, records, figures)"] = wall - sum(parts.values())
    print("  whole run: " + ", ".join(f"{k} {v:.1f} s ({v / wall:.0%})" for k, v in parts.items() if v))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--simulations", default=",".join(SIMULATIONS),
                    help="comma-separated, of " + ", ".join(SIMULATIONS))
    ap.add_argument("--updates", type=int, default=20, help="training updates per run (default 20)")
    ap.add_argument("--ops", action=argparse.BooleanOptionalAction, default=True,
                    help="a second run that counts operators per phase (default: on)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args, extra = ap.parse_known_args()  # anything else goes to every simulation (e.g. --device cuda)
    names = args.simulations.split(",")
    for name in names:
        if name not in SIMULATIONS:
            ap.error(f"--simulations: {name!r} is not allowed; choose from {', '.join(SIMULATIONS)}")
    if args.updates < 1:
        ap.error(f"--updates {args.updates} is not allowed; it must be >= 1")
    if args.threads < 0:
        ap.error(f"--threads {args.threads} is not allowed; it must be >= 0 (0: torch's default)")
    if args.threads:
        torch.set_num_threads(args.threads)
    sync = torch.cuda.synchronize if "cuda" in " ".join(extra) and torch.cuda.is_available() else None
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; each simulation with its defaults "
          f"except --seeds 1 --updates {args.updates} (--eval-every {args.updates} where it has one) {' '.join(extra)}")
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            timed = PhaseClock(sync=sync)
            wall = run(name, args.updates, Path(tmp) / "timed", timed, extra)
            counted = None
            if args.ops:
                counted = PhaseClock(count_ops=True)
                run(name, min(args.updates, 2), Path(tmp) / "counted", counted, extra)
        report(name, wall, timed, counted, args.updates)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
