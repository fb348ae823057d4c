"""Benchmark (not a test): one backprop update with the same-image negatives over every
pair of columns against ``K`` drawn pairs (``pair_sample``, bioglom.learning.pairs), at a
grid where the model's attention is already gathered: peak memory per update, each in a
fresh process (``bioglom.learning.profile``), and time, side by side in one process with
the settings interleaved round by round (ratios to every pair).

    python benchmarks/pairs.py                          # 64 px, 1024 columns; a few minutes on 2 cores
    python benchmarks/pairs.py --device cuda --batch 32
"""

from __future__ import annotations

import argparse

import numpy as np

from bioglom import GlomConfig
from bioglom.learning.profile import measure_in_subprocess, measure_side_by_side


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image-size", type=int, default=64, help="side in pixels (patch 2: (side / 2)^2 columns)")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--samples", default="0,16,64,256", help="pair_sample values (0: every pair)")
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds side by side (the first is a warm-up)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    samples = [int(k) for k in args.samples.split(",")]
    cfg = GlomConfig(levels=3, dim=32, hidden=64, image_size=args.image_size, patch_size=2, channels=3,
                     radius=(1, 2, 4))
    n = cfg.n_columns
    bad = [k for k in samples if not 0 <= k <= n - 1]
    if bad or args.batch < 1 or args.steps < 1 or args.rounds < 2:
        ap.error(f"--samples {args.samples} --batch {args.batch} --steps {args.steps} --rounds {args.rounds} are not "
                 f"allowed: samples 0..{n - 1} ({n} columns), batch and steps >= 1, rounds >= 2")
    rules = [("backprop", dict(steps=args.steps, negatives="same_image", negative_weight=1.0, pair_sample=k))
             for k in samples]
    print(f"{n} columns, attention slots {cfg.attention_slots()}, batch {args.batch}, {args.steps} steps, {args.device}")
    peaks = []
    for rule, options in rules:
        got = measure_in_subprocess({"config": cfg.to_dict(), "rule": rule, "rule_options": options,
                                     "batch": args.batch, "updates": 2, "device": args.device})
        peaks.append(got["peak_bytes"])
    rounds = measure_side_by_side(cfg.to_dict(), rules, batch=args.batch, rounds=args.rounds, device=args.device)
    seconds = [float(np.median(r)) for r in rounds]
    print(f"{'pairs per column':>17}{'peak MiB / update':>19}{'peak per scene MiB':>20}{'s / update':>12}{'x every pair':>14}")
    for k, peak, s in zip(samples, peaks, seconds):
        label = f"{n - 1} (every)" if k == 0 else str(k)
        ratio = np.median(np.asarray(rounds[samples.index(k)]) / np.asarray(rounds[0])) if samples[0] == 0 else float("nan")
        print(f"{label:>17}{peak / 2**20:>19.0f}{peak / args.batch / 2**20:>20.0f}{s:>12.3f}{ratio:>14.2f}")


if __name__ == "__main__":
    main()
