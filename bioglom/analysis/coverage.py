"""How often an interval method covers the true value: the synthetic behind the choice
of :func:`~bioglom.analysis.verdicts.interval` (docs/claims.md, "How a verdict is reached").

A synthetic claim has a known value. Each seed ``k`` draws its own offset
``a_k ~ N(0, sd_seed^2)`` (initial weights and data stream), and each held-out sample
``j`` within it ``e_kj ~ N(0, sd_sample^2)``:

    x_kj = mu + a_k + e_kj

A paired comparison adds a second measurement ``y_kj = x_kj - delta + b_k + f_kj`` with
its own seed and sample terms. Coverage is the fraction of ``trials`` synthetic runs in
which the method's interval contains the true value (``mu``; ``delta``; the relative
fall ``delta / mu_y``). Run ``python -m bioglom.analysis.coverage`` for the table.
"""

from __future__ import annotations

import argparse

import numpy as np

from .verdicts import bootstrap, difference_of_means, interval, mean_of, relative_reduction

__all__ = ["coverage", "METHODS", "STATISTICS"]

METHODS = {"t over seeds": interval, "hierarchical bootstrap": bootstrap}
STATISTICS = ("mean", "difference", "relative fall")


def _draw(rng, statistic: str, seeds: int, samples: int, sd_seed: float, sd_sample: float,
          mu: float = 1.0, delta: float = 0.2):
    """One synthetic run: the measurements and the true value of ``statistic``."""
    x = mu + sd_seed * rng.standard_normal((seeds, 1)) + sd_sample * rng.standard_normal((seeds, samples))
    if statistic == "mean":
        return (x,), mu, mean_of
    # the second measurement shares nothing with the first but the seed index (pairing)
    y = mu + delta + sd_seed * rng.standard_normal((seeds, 1)) + sd_sample * rng.standard_normal((seeds, samples))
    if statistic == "difference":
        return (y, x), delta, difference_of_means
    return (x, y), delta / (mu + delta), relative_reduction


def coverage(method: str, statistic: str, seeds: int, samples: int, sd_seed: float, sd_sample: float,
             trials: int = 1000, level: float = 0.95, resamples: int = 500, seed: int = 0) -> float:
    """Fraction of ``trials`` synthetic runs whose ``level`` interval by ``method`` (a key of
    :data:`METHODS`) contains the true value of ``statistic`` (one of :data:`STATISTICS`)."""
    rng = np.random.default_rng(seed)
    fn = METHODS[method]
    hits = 0
    for i in range(trials):
        arrays, truth, stat = _draw(rng, statistic, seeds, samples, sd_seed, sd_sample)
        kw = dict(level=level, resamples=resamples, seed=i)
        iv = fn(stat, *arrays, **kw)
        hits += bool(iv.low <= truth <= iv.high)
    return hits / trials


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=2000, help="synthetic runs per cell (default: 2000)")
    p.add_argument("--samples", type=int, default=100, help="held-out samples per seed (default: 100)")
    p.add_argument("--seeds", type=lambda v: [int(x) for x in v.split(",")], default=[2, 3, 5],
                   help="seed counts, comma-separated (default: 2,3,5)")
    a = p.parse_args(argv)
    if a.trials < 1 or a.samples < 2 or min(a.seeds) < 2:
        p.error(f"--trials={a.trials}, --samples={a.samples}, --seeds={a.seeds}: need at least 1 trial, 2 samples "
                "and 2 seeds")
    print(f"coverage of nominal 95 % intervals, {a.trials} synthetic runs each, {a.samples} samples per seed")
    print(f"{'method':<24}{'statistic':<15}{'sd seed / sample':>18}" + "".join(f"{f'{s} seeds':>10}" for s in a.seeds))
    for method in METHODS:
        for statistic in STATISTICS:
            for sd in ((0.1, 0.1), (0.02, 0.3)):
                c = [coverage(method, statistic, s, a.samples, *sd, trials=a.trials) for s in a.seeds]
                print(f"{method:<24}{statistic:<15}{f'{sd[0]} / {sd[1]}':>18}" + "".join(f"{x:>10.3f}" for x in c))


if __name__ == "__main__":
    main()
