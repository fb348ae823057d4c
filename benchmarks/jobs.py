"""Benchmark (not a test): seeds as parallel jobs against one process using every core.

What ``--jobs`` of a simulation chooses between: one process training with as many
threads as there are cores, or that many processes of one thread each training side by
side (independent seeds). For backpropagation through time and the temporal-derivative
rule at 8 settling steps, each in fresh processes (``bioglom.learning.profile``), it
prints the updates per second of both and their ratio (jobs / one process), per round.

    python benchmarks/jobs.py                  # 2-core CPU: about a minute
    python benchmarks/jobs.py --rounds 5
"""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ThreadPoolExecutor

from bioglom import GlomConfig
from bioglom.learning.profile import measure_in_subprocess

RULES = [("backprop", {"steps": 8}), ("temporal_derivative", {"steps": 8, "hidden_credit": "local_backprop"})]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="threads of the one process = jobs")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--updates", type=int, default=20, help="timed updates per process (median)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--image-size", type=int, default=16)
    args = ap.parse_args()
    for name in ("cores", "rounds", "updates", "batch", "image_size"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} {getattr(args, name)} is not allowed; it must be >= 1")
    if args.cores < 2:
        ap.error(f"--cores {args.cores} is not allowed; jobs need at least 2 cores to run side by side")
    cfg = GlomConfig(levels=3, dim=32, hidden=64, image_size=args.image_size, patch_size=2, channels=1).to_dict()
    print(f"levels 3, dim 32, hidden 64, {args.image_size}px, batch {args.batch}, 8 settling steps, shared columns; "
          f"one process of {args.cores} threads against {args.cores} processes of 1 thread")
    print(f"{'rule':<22}{'round':>6}{'one process /s':>16}{'jobs /s':>10}{'jobs / one':>12}")
    for rule, options in RULES:
        def spec(threads: int) -> dict:
            return {"config": cfg, "rule": rule, "rule_options": options, "batch": args.batch,
                    "updates": args.updates, "threads": threads}

        for r in range(args.rounds):
            one = 1 / measure_in_subprocess(spec(args.cores), for_memory=False)["seconds_per_update"]
            with ThreadPoolExecutor(args.cores) as pool:  # the processes run side by side
                each = list(pool.map(lambda _: measure_in_subprocess(spec(1), for_memory=False), range(args.cores)))
            jobs = sum(1 / m["seconds_per_update"] for m in each)
            print(f"{rule:<22}{r:>6}{one:>16.1f}{jobs:>10.1f}{jobs / one:>11.2f}x")


if __name__ == "__main__":
    main()
