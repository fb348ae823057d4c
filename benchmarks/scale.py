"""Benchmark (not a test): time and peak memory of one settling step and of one local
update against the number of columns, shared and unshared, ``window`` and ``gaussian``
neighbourhoods, in one run, with the fitted growth exponent and the fraction of the
machine's matmul throughput that the settling step reaches (paper 12.1's "giant
distillery" needs tens of thousands of columns).

Every configuration runs in its own fresh process (``bioglom.learning.profile``) under
glibc settings that make the resident size follow live memory, so one measurement cannot
inherit another's allocator state; the time is the median of a few repeats, taken under
the same settings (which slow allocation alike at every size, so the exponents hold). Grids from
8x8 (64 columns) to 128x128 (16,384): ``patch_size=1`` and ``image_size`` = the grid side.
"step MB" is what one step adds over the live model and state; "step total MB" is the
process's whole peak while it runs (CPU: resident size, the Python runtime included).

    python benchmarks/scale.py                         # CPU; a few minutes
    python benchmarks/scale.py --sides 8,16,32,64,128,256 --device cuda --batch 8
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from bioglom import GlomConfig
from bioglom.learning.profile import measure_in_subprocess
from bioglom.model import uses_sparse_attention


def matmul_ceiling(device: str, n: int = 1024, repeats: int = 5) -> float:
    """Measured float32 matmul throughput of this machine (FLOP/s), the reference ceiling."""
    a = torch.randn(n, n, device=device)
    a @ a
    times = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        a @ a
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / sorted(times)[len(times) // 2]


def step_flops(cfg: GlomConfig, batch: int) -> float:
    """Multiply-adds x 2 of one settling step: the column nets (two layers of ``D x H`` per
    level and direction) and lateral attention (similarities and the weighted sum over the
    ``K`` neighbours of each column, or all ``N`` for a dense mask)."""
    n, L, d, h = cfg.n_columns, cfg.levels, cfg.dim, cfg.hidden
    k = ((2 * max(cfg.radii) + 1) ** 2 if cfg.neighbourhood == "window" else 1 + max(cfg.gaussian_ks)) \
        if uses_sparse_attention(cfg) else n
    nets = (2 * L - 1) * 2 * (2 * d * h)
    attention = L * 2 * (2 * k * d)
    return batch * n * (nets + attention)


def exponent(n: list[int], y: list[float]) -> float:
    """Least-squares slope of log y against log n."""
    return float(np.polyfit(np.log(n), np.log(y), 1)[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sides", default="8,16,32,64,128", help="grid sides (comma-separated): N = side^2 columns")
    ap.add_argument("--levels", type=int, default=3)
    ap.add_argument("--dim", type=int, default=16)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--radius", default="1,2,4", help="window radius per level")
    ap.add_argument("--gaussian-k", type=int, default=16)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    sides = [int(s) for s in args.sides.split(",")]
    ns = [s * s for s in sides]
    ceiling = matmul_ceiling(args.device)
    print(f"device {args.device}; levels {args.levels}, dim {args.dim}, hidden {args.hidden}, batch {args.batch}; "
          f"window radius {args.radius}, gaussian K {args.gaussian_k}; matmul ceiling {ceiling / 1e9:.1f} GFLOP/s")
    print("sparse: the sizes where lateral attention gathers neighbours (bioglom.model.uses_sparse_attention); "
          "below them the dense mask is used")
    print(f"{'what':<34}" + "".join(f"{n:>10}" for n in ns) + "   exponent (all sizes; sparse sizes)")
    for columns in ("shared", "unshared"):
        for nb in ("window", "gaussian"):
            rows = {"step ms": [], "step MB": [], "step total MB": [], "update ms": [], "update MB": [],
                    "% of ceiling": []}
            sparse = []
            for side in sides:
                cfg = GlomConfig(levels=args.levels, dim=args.dim, hidden=args.hidden, image_size=side, patch_size=1,
                                 channels=1, columns=columns, neighbourhood=nb,
                                 radius=tuple(int(r) for r in args.radius.split(",")), gaussian_k=args.gaussian_k)
                sparse.append(uses_sparse_attention(cfg))
                step = measure_in_subprocess({"measure": "settle_step", "config": cfg.to_dict(), "batch": args.batch,
                                              "device": args.device})
                update = measure_in_subprocess({"config": cfg.to_dict(), "rule": "temporal_derivative",
                                                "rule_options": {"steps": 1, "hidden_credit": "feedback_alignment"},
                                                "batch": args.batch, "updates": 3, "device": args.device})
                rows["step ms"].append(step["seconds_per_step"] * 1e3)
                rows["step MB"].append(step["peak_bytes"] / 2**20)
                rows["step total MB"].append(step["total_peak_bytes"] / 2**20)
                rows["update ms"].append(update["seconds_per_update"] * 1e3)
                rows["update MB"].append(update["peak_bytes"] / 2**20)
                rows["% of ceiling"].append(100 * step_flops(cfg, args.batch) / step["seconds_per_step"] / ceiling)
            for what, v in rows.items():
                fit = ""
                if what != "% of ceiling" and len(ns) > 2:
                    pos = [i for i in range(len(ns)) if v[i] > 0]
                    tail = [i for i in pos if sparse[i]]  # the sizes that gather neighbours
                    fit = f"   {exponent([ns[i] for i in pos], [v[i] for i in pos]):.2f}; " + (
                        f"{exponent([ns[i] for i in tail], [v[i] for i in tail]):.2f}" if len(tail) > 1 else "-")
                print(f"{columns + ' ' + nb + ' ' + what:<34}" + "".join(f"{x:>10.2f}" for x in v) + fit)


if __name__ == "__main__":
    main()
