"""Benchmark (not a test): one settling step compiled by ``torch.compile`` against the
eager step it compiles, forward and forward+backward, shared and unshared columns, in
one process, alternating eager and compiled rounds (issue 26: compiled steps where they
pay). Prints the compile time, the largest difference of the outputs and the median
milliseconds of each. Then whole training updates at ``--steps`` settling steps, eager
and compiled (``bioglom.model.compile_settling``, what ``--compile`` of a simulation
switches on) interleaved round by round, for backpropagation through time and the
temporal-derivative rule: the ratio compiled / eager of each round, median and range.

    python benchmarks/compiled.py                       # CPU; about a minute
    python benchmarks/compiled.py --device cuda --batch 256
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from bioglom import Glom, GlomConfig
from bioglom.consensus import consensus_weights
from bioglom.learning.profile import measure_side_by_side
from bioglom.model import settle_step


def median_ms(fn, state, beta, backward: bool, repeats: int, sync) -> float:
    times = []
    for _ in range(repeats):
        s = state.clone().requires_grad_(backward)
        t0 = time.perf_counter()
        out = fn(s, beta)
        if backward:
            out.square().sum().backward()
        sync()
        times.append(time.perf_counter() - t0)
    return 1e3 * sorted(times)[len(times) // 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--image-size", type=int, default=12)
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=30, help="timed calls per round (median)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating eager/compiled rounds")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=8, help="settling steps of the timed training updates")
    ap.add_argument("--update-rounds", type=int, default=9, help="interleaved rounds of the training updates (0: skip)")
    args = ap.parse_args()
    if args.update_rounds < 0:
        ap.error(f"--update-rounds {args.update_rounds} is not allowed; it must be >= 0 (0: skip)")
    for name in ("batch", "image_size", "dim", "hidden", "repeats", "rounds", "steps"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} {getattr(args, name)} is not allowed; it must be >= 1")
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    print(f"device {args.device}, {torch.get_num_threads()} threads; levels 3, dim {args.dim}, hidden {args.hidden}, "
          f"{args.image_size}px, patch 2, batch {args.batch}; median ms of {args.repeats} calls per round")
    for columns in ("shared", "unshared"):
        cfg = GlomConfig(levels=3, dim=args.dim, hidden=args.hidden, image_size=args.image_size, patch_size=2,
                         channels=1, columns=columns)
        model = Glom(cfg).to(args.device)
        images = torch.rand(args.batch, 1, args.image_size, args.image_size, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            inputs = model.encode(images.to(args.device))
            state = model.initial_state(inputs)
        weights, neighbourhood = consensus_weights(cfg, 1, 8).to(args.device), model.step_neighbourhood(None)

        def step(s, beta):  # beta as a tensor: a Python float would be compiled in as a constant
            return settle_step(model.nets, s, inputs, neighbourhood, beta, weights, cfg).new

        beta = torch.tensor(3.0, device=args.device)
        compiled = torch.compile(step)
        t0 = time.perf_counter()
        out = compiled(state, beta)
        sync()
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        compiled(state.clone().requires_grad_(), beta).square().sum().backward()
        sync()
        first_backward = time.perf_counter() - t0
        diff = (out - step(state, beta)).abs().max().item()
        print(f"\n{columns}: compiling took {first:.1f} s (forward) and {first_backward:.1f} s (backward); "
              f"largest output difference {diff:.1e}")
        for backward in (False, True):
            eager, comp = [], []
            for _ in range(args.rounds):
                eager.append(median_ms(step, state, beta, backward, args.repeats, sync))
                comp.append(median_ms(compiled, state, beta, backward, args.repeats, sync))
            what = "forward+backward" if backward else "forward"
            print(f"  {what:<17} eager " + " ".join(f"{t:.2f}" for t in eager) + " ms, compiled "
                  + " ".join(f"{t:.2f}" for t in comp) + f" ms: compiled/eager {sum(comp) / sum(eager):.2f}x")
    if not args.update_rounds:
        return
    print(f"\none training update at {args.steps} settling steps, eager and compiled interleaved over "
          f"{args.update_rounds} rounds (after a warm-up round that compiles); compiled / eager per round")
    rules = [("backprop", {"steps": args.steps}),
             ("temporal_derivative", {"steps": args.steps, "hidden_credit": "local_backprop"})]
    for columns in ("shared", "unshared"):
        cfg = GlomConfig(levels=3, dim=args.dim, hidden=args.hidden, image_size=args.image_size, patch_size=2,
                         channels=1, columns=columns).to_dict()
        runs = [r for r in rules for _ in (0, 1)]  # each rule eager, then compiled
        sec = measure_side_by_side(cfg, runs, batch=args.batch, rounds=args.update_rounds, device=args.device,
                                   compiled=[False, True] * len(rules))
        for i, (rule, _) in enumerate(rules):
            eager, comp = sec[2 * i], sec[2 * i + 1]
            q = np.quantile([c / e for c, e in zip(comp, eager)], [0, 0.5, 1])
            print(f"  {columns:<9}{rule:<21} eager {np.median(eager) * 1e3:7.1f} ms, compiled "
                  f"{np.median(comp) * 1e3:7.1f} ms: {q[1]:.2f}x (range {q[0]:.2f}-{q[2]:.2f})")


if __name__ == "__main__":
    main()
