"""Benchmark (not a test): wall time of the S2 and S3 simulations of
``simulations/stdp_spiking.py`` on Brian2's ``numpy`` and ``cython`` runtime targets and
on ``cpp_standalone``, compile time apart, in one run with ratios to ``numpy``.

Each (target, simulation) runs in its own fresh process. ``cython`` gets an empty code
cache and runs the network twice: the first run compiles, the second reuses the compiled
code (its time is the run time; the difference is the compile time). ``cpp_standalone``
times generating and compiling the program apart from executing it.

    python benchmarks/spiking.py                 # the default sizes of stdp_spiking.py: about five minutes
    python benchmarks/spiking.py --samples 20 --trials 2000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGETS = ("numpy", "cython", "cpp_standalone")


def build(sim: str, args):
    from brian2 import ms

    from bioglom.spiking import column_network, make_kernel, poisson_pair_network

    k, dt = make_kernel("exponential", 20 * ms), 5e-4
    if sim == "S2":
        t = np.arange(int(round(args.duration / dt))) * dt
        pre, post = 30 * (1 + np.sin(np.pi * t)), 30 * (1 - np.cos(np.pi * t))
        return poisson_pair_network(k, pre, post, trials=args.trials, dt=dt)
    rng = np.random.default_rng(0)
    a = 40 + 20 * np.clip(rng.normal(size=(args.samples, args.dim)), -2, 2)
    c = 40 + 20 * np.clip(rng.normal(size=(args.samples, args.dim)), -2, 2)
    return column_network(k, a, c, np.full((args.dim, args.dim), 1 / args.dim), population=args.population,
                          eta=5e-5, dt=dt)


def child(target: str, sim: str, args) -> dict:
    import brian2

    from bioglom.spiking import brian_device, simulate

    with tempfile.TemporaryDirectory() as tmp:
        if target == "cython":
            brian2.prefs.codegen.runtime.cython.cache_dir = tmp  # cold cache: the first run compiles
        with brian_device(target, Path(tmp) / "standalone"):
            brian2.seed(0)
            net, mon = build(sim, args)
            first = simulate(net, mon["duration"], target, Path(tmp) / "standalone")
        if target != "cython":
            return first
        with brian_device(target):
            brian2.seed(0)
            net, mon = build(sim, args)
            second = simulate(net, mon["duration"], target)
        return {"compile": max(first["run"] - second["run"], 0.0), "run": second["run"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=8000, help="S2: independent pre/post pairs")
    ap.add_argument("--duration", type=float, default=4.0, help="S2: trial length in s")
    ap.add_argument("--samples", type=int, default=100, help="S3: samples of 0.4 s")
    ap.add_argument("--population", type=int, default=20, help="S3: neurons per unit")
    ap.add_argument("--dim", type=int, default=8, help="S3: units per level")
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--child", nargs=2, metavar=("TARGET", "SIM"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args)))
        return
    targets = args.targets.split(",")
    passthrough = ["--trials", str(args.trials), "--duration", str(args.duration), "--samples", str(args.samples),
                   "--population", str(args.population), "--dim", str(args.dim)]
    print(f"S2: {args.trials} Poisson pairs x {args.duration} s; S3: {args.samples} samples, {args.dim} units x "
          f"{args.population} neurons per level ({(args.dim * args.population) ** 2} synapses); dt 0.5 ms")
    rows = {}
    for sim in ("S2", "S3"):
        for target in targets:
            start = time.perf_counter()
            res = subprocess.run([sys.executable, __file__, *passthrough, "--child", target, sim],
                                 capture_output=True, text=True)
            if res.returncode != 0:
                print(f"{sim} {target}: failed\n{res.stderr[-2000:]}")
                continue
            rows[sim, target] = json.loads(res.stdout.strip().splitlines()[-1]) | {
                "process": time.perf_counter() - start}
    print(f"{'sim':<5}{'target':<16}{'run (s)':>10}{'compile (s)':>13}{'process (s)':>13}{'run / numpy':>13}")
    for (sim, target), r in rows.items():
        base = rows.get((sim, "numpy"), {}).get("run")
        ratio = f"{r['run'] / base:.3f}" if base else "-"
        print(f"{sim:<5}{target:<16}{r['run']:>10.2f}{r['compile']:>13.2f}{r['process']:>13.2f}{ratio:>13}")


if __name__ == "__main__":
    main()
