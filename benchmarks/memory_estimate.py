"""Benchmark (not a test): the memory a model's config promises before it is built
(``GlomConfig.memory_estimate``: weights and buffers), against the peak resident growth
of building it, each in a fresh process (``bioglom.learning.profile``, Linux), for a
dense and two gathered neighbourhoods (issue 27: a size that cannot fit is refused from
this estimate).

    python benchmarks/memory_estimate.py                 # about a minute, 5 GB at the peak
    python benchmarks/memory_estimate.py --image-size 256
"""

from __future__ import annotations

import argparse

from bioglom import GlomConfig
from bioglom.learning.profile import measure_in_subprocess


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image-size", type=int, default=1024, help="side of the window and Gaussian models")
    ap.add_argument("--dense-size", type=int, default=128, help="side of the full (dense) model (default 128)")
    args = ap.parse_args()
    for name in ("image_size", "dense_size"):
        if getattr(args, name) < 2:
            ap.error(f"--{name.replace('_', '-')} {getattr(args, name)} is not allowed; it must be >= 2 (patch 2)")
    print(f"{'neighbourhood':<14}{'side':>6}{'columns':>10}{'estimate MiB':>14}{'peak MiB':>10}{'ratio':>8}")
    for neighbourhood, side in (("window", args.image_size), ("gaussian", args.image_size), ("full", args.dense_size)):
        cfg = GlomConfig(channels=1, columns="shared", image_size=side, patch_size=2, neighbourhood=neighbourhood)
        got = measure_in_subprocess({"measure": "build", "config": cfg.to_dict()})
        est, peak = got["estimate_bytes"] / 2**20, got["peak_bytes"] / 2**20
        print(f"{neighbourhood:<14}{side:>6}{cfg.n_columns:>10}{est:>14.1f}{peak:>10.1f}{est / peak:>7.2f}x")


if __name__ == "__main__":
    main()
