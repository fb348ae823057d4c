"""Benchmark (not a test): time per training update and peak memory against the number of
settling steps, for every rule, shared and unshared columns, in one run with ratios.

Each (rule, columns, steps) is measured in its own fresh process
(``bioglom.learning.profile``): once under glibc settings that make the resident size
follow live memory (peak memory), once without them (time). Target (issue 3): the local
rules' peak at the most steps within 1.2x of that at the fewest, where backpropagation
through time grows with the steps.

Then, for the ratio of each local rule's update to backpropagation through time, the
rules are timed side by side in one process, interleaved round by round, at 8 settling
steps (the fresh processes' times above wander by up to 2x between processes on a shared
machine). Target (issue 15): a local update <= 0.5x backpropagation through time. On
matmuls alone a local update with a hidden credit costs the forward's 2 per net and step
plus its own 3 (dW2, M e, dW1), backpropagation through time 2 plus 4 (dW2, dh, dW1,
dx): a floor near 5/6 that only the rest of backprop's work (attention's backward, the
graph) lowers. Measured on 2 CPU cores, three runs in a row, medians of the rounds with
a hidden credit: shared 0.65-0.70x, unshared 0.64-0.68x (interquartile ranges 0.02-0.04
wide). Before malloc kept freed memory (``bioglom/allocator.py``) backpropagation paid
page faults for its graph every update, and the same three runs read 0.48-0.54x and
0.55-0.61x with quartiles 0.1 wide: the lower ratios were a slower baseline
(``BIOGLOM_KEEP_FREED_MEMORY=0 THP_MEM_ALLOC_ENABLE=1`` restores the old setting; a rerun
so: 0.52-0.54x shared, 0.53-0.54x unshared, backprop at 132-139 ms).

    python benchmarks/learning.py                       # CPU; a few minutes
    python benchmarks/learning.py --device cuda --batch 256
"""

from __future__ import annotations

import argparse

import numpy as np

from bioglom import GlomConfig
from bioglom.learning.profile import measure_in_subprocess, measure_side_by_side

RULES = [("backprop", {}), ("delta", {}), ("temporal_derivative", {"hidden_credit": "local_backprop"}),
         ("temporal_derivative", {"hidden_credit": "feedback_alignment"})]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", default="4,8,16,32", help="settling steps (comma-separated)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--image-size", type=int, default=12)
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--updates", type=int, default=3, help="timed updates per configuration (median)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--ratio-steps", type=int, default=8, help="settling steps of the side-by-side ratio (0: skip it)")
    ap.add_argument("--rounds", type=int, default=9, help="interleaved rounds of the side-by-side ratio (median)")
    args = ap.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    print(f"device {args.device}; levels 3, dim {args.dim}, hidden {args.hidden}, {args.image_size}px images, "
          f"patch 2, batch {args.batch}; median of {args.updates} updates after one warm-up")
    print(f"{'rule':<46}{'columns':<10}" + "".join(f"{s:>8} st" for s in steps) + "   ratio (last/first)")
    for columns in ("shared", "unshared"):
        cfg = GlomConfig(levels=3, dim=args.dim, hidden=args.hidden, image_size=args.image_size, patch_size=2,
                         channels=1, columns=columns, radius=(1, 2, 5)).to_dict()
        for rule, extra in RULES:
            name = rule + (f":{extra['hidden_credit']}" if extra else "")
            mem, sec = [], []
            for s in steps:
                spec = {"config": cfg, "rule": rule, "rule_options": {"steps": s, **extra}, "batch": args.batch,
                        "updates": args.updates, "device": args.device}
                mem.append(measure_in_subprocess(spec, for_memory=True)["peak_bytes"])
                sec.append(measure_in_subprocess(spec, for_memory=False)["seconds_per_update"])
            print(f"{name + ' peak MB':<46}{columns:<10}" + "".join(f"{m / 2**20:>11.1f}" for m in mem)
                  + f"   {mem[-1] / max(mem[0], 1):.2f}x")
            print(f"{name + ' ms/update':<46}{columns:<10}" + "".join(f"{t * 1e3:>11.1f}" for t in sec)
                  + f"   {sec[-1] / sec[0]:.2f}x")
    if args.ratio_steps:
        print(f"\nside by side in one process, {args.ratio_steps} settling steps, median of {args.rounds} interleaved rounds")
        print("(x backprop: the ratio to backprop's update of the same round; median, quartiles and range of the rounds)")
        print(f"{'rule':<46}{'columns':<10}{'ms/update':>10}{'x backprop':>12}{'quartiles':>14}{'range':>14}")
        for columns in ("shared", "unshared"):
            cfg = GlomConfig(levels=3, dim=args.dim, hidden=args.hidden, image_size=args.image_size, patch_size=2,
                             channels=1, columns=columns, radius=(1, 2, 5)).to_dict()
            rules = [(rule, {"steps": args.ratio_steps, **extra}) for rule, extra in RULES]
            sec = measure_side_by_side(cfg, rules, batch=args.batch, rounds=args.rounds, device=args.device)
            for (rule, extra), t in zip(RULES, sec):
                name = rule + (f":{extra['hidden_credit']}" if extra else "")
                q = np.quantile([a / b for a, b in zip(t, sec[0])], [0, 0.25, 0.5, 0.75, 1])
                print(f"{name:<46}{columns:<10}{np.median(t) * 1e3:>10.1f}{q[2]:>11.2f}x"
                      f"{q[1]:>8.2f}-{q[3]:.2f}{q[0]:>8.2f}-{q[4]:.2f}")


if __name__ == "__main__":
    main()
