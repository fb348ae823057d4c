"""Benchmark (not a test): what the anti-collapse terms of latent predictive learning cost
a local update, side by side in one process (``bioglom.learning.profile.measure_side_by_side``):
``temporal_derivative`` with feedback alignment without the terms, with unit statistics
per level (a ``[g, d, d]`` covariance per direction) and per column (``[g, n, d, d]``),
on the temporal-derivative simulation's digits model (12 px, 6 settling steps, batch 32),
shared and unshared columns. Target (issue 35): the default wall times within 1.2x.
Measured (2 CPU cores, one thread, beside the test suite, 15 rounds): per level 1.16x
shared and 1.18x unshared, per column 1.21x and 1.17x.

    python benchmarks/anticollapse.py            # CPU; about a minute
    python benchmarks/anticollapse.py --device cuda --batch 256
"""

from __future__ import annotations

import argparse

import numpy as np

from bioglom import GlomConfig
from bioglom.learning.profile import measure_side_by_side

BASE = {"steps": 6, "hidden_credit": "feedback_alignment"}
VARIANTS = [("without the terms", {}),
            ("per level (1, 1)", {"variance_weight": 1.0, "decorrelation_weight": 1.0, "stats_per": "level"}),
            ("per column (0.1, 1)", {"variance_weight": 0.1, "decorrelation_weight": 1.0, "stats_per": "column"})]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=15, help="interleaved rounds (median)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    print(f"device {args.device}; the temporal-derivative simulation's digits model, batch {args.batch}; "
          f"median of {args.rounds} interleaved rounds; ratio to the update without the terms, round by round")
    print(f"{'terms':<24}{'columns':<10}{'ms/update':>10}{'ratio':>8}{'quartiles':>14}")
    for columns in ("shared", "unshared"):
        cfg = GlomConfig(image_size=12, channels=1, columns=columns, radius=(1, 2, 5)).to_dict()
        rules = [("temporal_derivative", {**BASE, **extra}) for _, extra in VARIANTS]
        sec = measure_side_by_side(cfg, rules, batch=args.batch, rounds=args.rounds, device=args.device)
        for (name, _), t in zip(VARIANTS, sec):
            q = np.quantile([a / b for a, b in zip(t, sec[0])], [0.25, 0.5, 0.75])
            print(f"{name:<24}{columns:<10}{np.median(t) * 1e3:>10.1f}{q[1]:>7.2f}x{q[0]:>8.2f}-{q[2]:.2f}")


if __name__ == "__main__":
    main()
