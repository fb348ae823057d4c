"""Spikes (claims S1-S3 of docs/claims.md; Hinton 2023, section 12.3): does pair-based STDP
whose window is minus the derivative of a smoothing kernel implement "presynaptic activity
times the rate of change of postsynaptic activity", and can a spiking column learn with it?

    python simulations/stdp_spiking.py                                 # numpy target: 5 seeds, minutes
    python simulations/stdp_spiking.py --brian-device cpp_standalone   # compiled: faster
    python simulations/stdp_spiking.py --quick                         # seconds

Each part runs once per seed (``--seeds``, default 5): the seed shifts S1's grid of delays
by whole time steps, draws S2's Poisson trains and S3's rate model and spike trains, so
every claim has an interval over seeds (docs/claims.md).

S1: one pre and one post spike per synapse at delays over +-5 kernel widths; the weight
change against the analytic window ``-K'`` for each kernel (bioglom/spiking/kernels.py).
S2: independent Poisson pairs with known rates ``pre = r(1 + sin wt)``,
``post = r(1 - cos wt)`` (both start and end at zero slope, with the post rate at zero,
so a finite trial loses nothing at its edges); the mean weight change over trials against
the rate rule ``integral pre dpost/dt dt``, its standard error against the number of
trials, and the exact pair expectation as the unbiasedness check. S3: a column of two
levels of rate-coded populations (bioglom/spiking/column.py) whose inputs and consensus
come from the rate model (an untrained GLOM settled on scikit-learn's digits: the centre
column's level-0 state and level-1 consensus, z-scored and turned into rates), learning
its bottom-up synapses by the derivative-filter rule, against the rate model's
``temporal_derivative`` rule on the same samples.

Writes ``stdp_spiking.nc``, ``window.png``, ``estimate.png`` and ``weights.png``. Every
part is checkpointed to ``--out/checkpoints`` when done; ``--resume`` skips the parts done.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import xarray as xr

from bioglom import GlomConfig
from bioglom.analysis.figures import save_figure
from bioglom.cli import RunOptions, defaults, option, run_script, start_run
from bioglom.config import ConfigError, check_positive
from bioglom.jobs import check_jobs, resolve_jobs, run_jobs
from bioglom.experiments.stdp_spiking import spike_claims, spike_dataset, spike_figures
from bioglom.experiment import attrs_of, cached, report, seeds_of, write_result
from bioglom.spiking import (KERNELS, TARGETS, brian_device, check_time_step, column_dataset, column_network,
                             glom_signals, make_kernel, pair_expectation, poisson_pair_network, rate_column, rate_rule,
                             simulate, window_network)


@defaults(out="results/stdp_spiking")
class Options(RunOptions):
    seeds: int = option(5, "seeds run (seed, seed+1, ...): S1's delay grid, S2's trains, S3's model and trains")
    brian_device: str = option("numpy", "Brian2 target", choices=TARGETS)
    kernels: tuple[str, ...] = option(KERNELS, "smoothing kernels (S1, S2)", choices=KERNELS)
    width_ms: float = option(20.0, "kernel width in ms (tau of the exponential, sigma of the Gaussian)")
    dt_ms: float = option(0.5, "simulation time step in ms")
    s1_delays: int = option(81, "S1: delays between -5 and +5 kernel widths")
    s2_trials: int = option(8000, "S2: independent pre/post pairs")
    s2_duration: float = option(4.0, "S2: trial length in s (whole periods of the rates)")
    s2_frequency: float = option(0.5, "S2: frequency of the rates in Hz")
    s2_rate: float = option(30.0, "S2: mean rate r in Hz")
    s3_kernel: str = option("exponential", "S3: kernel of the column's synapses", choices=KERNELS)
    s3_samples: int = option(100, "S3: training samples (frames), one after another")
    s3_test: int = option(200, "S3: held-out samples for the prediction check")
    s3_population: int = option(20, "S3: neurons per unit")
    s3_dim: int = option(8, "S3: units per level (the GLOM embedding size)")
    s3_eta: float = option(5e-5, "S3: learning rate in s**2 (the same in the rate model)")
    s3_rate: float = option(40.0, "S3: rate (Hz) of a z-score of 0")
    s3_scale: float = option(20.0, "S3: rate (Hz) per unit of z-score (z clipped to +-2)")
    bin_ms: float = option(10.0, "S3: bin of the recorded population rates in ms")
    jobs: int = option(0, "run the seeds as this many parallel processes (each with cores / jobs threads), then "
                       "compute the claims from the parts they keep; 0 (the default): one process per seed; 1: one "
                       "process")

    def fit_defaults(self, given: set[str]) -> None:
        """``--jobs`` left at 0 runs a seed per process (:func:`~bioglom.jobs.resolve_jobs`)."""
        resolve_jobs(self)

    def validate(self) -> None:
        super().validate()
        for name in ("width_ms", "dt_ms", "s2_duration", "s2_frequency", "s3_eta", "s3_scale", "bin_ms"):
            check_positive(name, getattr(self, name))
        for name in ("seeds", "s1_delays", "s2_trials", "s3_samples", "s3_test", "s3_population", "s3_dim"):
            check_positive(name, getattr(self, name), integer=True)
        check_jobs(self)
        if self.s2_trials < 100:  # S2's standard-error slope needs subsets of 25 trials at two sizes at least
            raise ConfigError(f"s2_trials={self.s2_trials} is not allowed; S2 needs at least 100 trials")
        for k in set(self.kernels) | {self.s3_kernel}:
            check_time_step(self.kernel(k), self.dt_ms * 1e-3)  # raises naming dt
        if self.s2_rate < 0:
            raise ConfigError(f"s2_rate={self.s2_rate} Hz is not allowed; firing rates must be >= 0")
        if self.s3_rate - 2 * self.s3_scale < 0:
            raise ConfigError(f"s3_rate={self.s3_rate} Hz with s3_scale={self.s3_scale} Hz gives negative rates "
                              "at a z-score of -2; need s3_rate >= 2 s3_scale")
        self.glom_config(self.seed)
        periods = self.s2_duration * self.s2_frequency
        if abs(periods - round(periods)) > 1e-9:
            raise ConfigError(f"s2_duration={self.s2_duration} s is not allowed; it must hold whole periods of "
                              f"s2_frequency={self.s2_frequency} Hz")

    def glom_config(self, seed: int) -> GlomConfig:
        """The rate model that supplies S3's inputs and consensus: 2 levels on 8x8 digits."""
        return GlomConfig(levels=2, dim=self.s3_dim, image_size=8, patch_size=2, channels=1, hidden=32,
                          radius=(1, 3), seed=seed)

    def kernel(self, name: str):
        from brian2 import ms

        return make_kernel(name, self.width_ms * ms)


PRESETS = {"quick": dict(seeds=1, s1_delays=21, s2_trials=400, s2_duration=2.0, s3_samples=6, s3_test=20,
                         s3_population=3, s3_dim=4, kernels=("exponential", "gaussian"))}


def s1_delays(opts, kernel, seed: int) -> np.ndarray:
    """S1's delays: an even grid over +-5 kernel widths, shifted by a whole number of time
    steps drawn from ``seed`` (at most half the grid's spacing), so that each seed samples
    the window at other delays and every delay stays on the simulation's time grid."""
    dt = opts.dt_ms * 1e-3
    grid = np.linspace(-5, 5, opts.s1_delays) * kernel.width
    half = int(np.floor((grid[1] - grid[0]) / dt / 2)) if len(grid) > 1 else 0
    return grid + int(np.random.default_rng([seed, 1]).integers(-half, half + 1)) * dt


def s1(opts, name: str, directory: Path, seed: int) -> xr.Dataset:
    kernel, dt = opts.kernel(name), opts.dt_ms * 1e-3
    delays = s1_delays(opts, kernel, seed)
    with brian_device(opts.brian_device, directory):
        net, mon = window_network(kernel, delays, dt=dt)
        timing = simulate(net, mon["duration"], opts.brian_device, directory)
        measured = np.asarray(mon["synapses"].w[:])
    analytic = kernel.window(delays)
    return xr.Dataset(
        {"s1_measured": ("delay", measured, {"units": "1/s**2", "long_name": "weight change per pair (eta = 1 s**2)"}),
         "s1_analytic": ("delay", analytic, {"units": "1/s**2", "long_name": "-K'(delay)"}),
         "s1_traces": ("delay", kernel.trace_window(delays), {"units": "1/s**2", "long_name": "window of the traces"}),
         "s1_delay": ("delay", delays, {"units": "s", "long_name": "t_post - t_pre"})},
        attrs={"tolerance": kernel.slope_bound * dt + kernel.fit_error * np.abs(analytic).max(),
               "fit_error": kernel.fit_error, "peak": float(np.abs(analytic).max()), "run_s": timing["run"]})


def s2_rates(opts) -> tuple[np.ndarray, np.ndarray, float]:
    dt = opts.dt_ms * 1e-3
    t = np.arange(int(round(opts.s2_duration / dt))) * dt
    w = 2 * np.pi * opts.s2_frequency
    return opts.s2_rate * (1 + np.sin(w * t)), opts.s2_rate * (1 - np.cos(w * t)), dt


def s2(opts, name: str, directory: Path, seed: int) -> xr.Dataset:
    kernel = opts.kernel(name)
    pre, post, dt = s2_rates(opts)
    with brian_device(opts.brian_device, directory):
        import brian2

        brian2.seed(seed)
        net, mon = poisson_pair_network(kernel, pre, post, trials=opts.s2_trials, dt=dt)
        timing = simulate(net, mon["duration"], opts.brian_device, directory)
        w = np.asarray(mon["synapses"].w[:])
    return xr.Dataset({"s2_change": ("trial", w, {"units": "Hz**2", "long_name": "sum over pairs of W"})},
                      coords={"trial": np.arange(len(w))},
                      attrs={"exact": pair_expectation(kernel, pre, post, dt), "rate_rule": rate_rule(pre, post, dt),
                             "run_s": timing["run"]})


def s3(opts, device, directory: Path, seed: int) -> xr.Dataset:
    kernel, dt = opts.kernel(opts.s3_kernel), opts.dt_ms * 1e-3
    zx, zc = glom_signals(opts.glom_config(seed), opts.s3_samples + opts.s3_test, seed, device)
    a, c = opts.s3_rate + opts.s3_scale * zx, opts.s3_rate + opts.s3_scale * zc
    train = slice(0, opts.s3_samples)
    d = opts.s3_dim
    w0 = np.full((d, d), 1.0 / d)
    with brian_device(opts.brian_device, directory):
        import brian2

        brian2.seed(seed)
        net, mon = column_network(kernel, a[train], c[train], w0, population=opts.s3_population, eta=opts.s3_eta,
                                  dt=dt)
        timing = simulate(net, mon["duration"], opts.brian_device, directory)
        ds = column_dataset(mon, population=opts.s3_population, units=d, bin_width=opts.bin_ms * 1e-3)
    rate_w = rate_column(a[train], c[train], w0, eta=opts.s3_eta)
    ds["rate_weight"] = (("sample", "pre_dim", "dim"), rate_w, {"long_name": "rate model's unit weight"})
    ds["inputs"] = (("item", "pre_dim"), a, {"units": "Hz"})
    ds["targets"] = (("item", "dim"), c, {"units": "Hz"})
    ds["is_test"] = ("item", np.arange(len(a)) >= opts.s3_samples)
    return ds.assign_attrs(run_s=timing["run"], compile_s=timing["compile"])


# a part is named by its seed and kernel; which seeds and kernels a run has is not its identity
PER_SEED = ("kernels", "seeds", "seed")


def main(argv=None) -> int:
    opts, device, out = start_run(Options, argv, description=__doc__.split("\n\n")[0], presets=PRESETS)
    build, parts = out / "brian_build", out / "checkpoints"
    if opts.jobs > 1:  # each seed's parts computed by its own process; the claims read them all here
        code = run_jobs(Path(__file__), "stdp_spiking", opts, sys.argv[1:] if argv is None else list(argv), out)
        if code:
            return code
        opts = dataclasses.replace(opts, resume=True)
    runs = {}
    for seed in seeds_of(opts):  # each part is kept once done; --resume skips it
        if opts.jobs > 1:
            parts = out / "seeds" / f"seed{seed}" / "checkpoints"
        s1s, s2s = {}, {}
        for k in opts.kernels:
            s1s[k] = cached(parts / f"seed{seed}-s1-{k}.nc", opts, lambda: s1(opts, k, build / f"s1-{k}", seed), PER_SEED)
            s2s[k] = cached(parts / f"seed{seed}-s2-{k}.nc", opts, lambda: s2(opts, k, build / f"s2-{k}", seed), PER_SEED)
        col = cached(parts / f"seed{seed}-s3.nc", opts, lambda: s3(opts, device, build / "s3", seed), PER_SEED)
        print(f"seed {seed}: S1, S2 and S3 done")
        runs[seed] = (s1s, s2s, col)
    claims, nums = spike_claims(runs)
    path = write_result(spike_dataset(list(opts.kernels), runs, nums), claims, out / "stdp_spiking.nc", attrs_of(opts))
    first = runs[opts.seed]
    for name, fig in spike_figures(*first).items():
        save_figure(fig, out / name)
    lines = []
    for seed in runs:
        lines += [f"seed {seed}, S2 {k}: mean {n['mean']:.1f} +- {n['se']:.1f} Hz^2 (s.e.), rate rule "
                  f"{n['rate_rule']:.1f}, exact {n['exact']:.1f}, s.e. slope {n['se_slope']:.2f}"
                  for k, n in ((k, nums[seed][f"s2_{k}"]) for k in opts.kernels)]
        n = nums[seed]["s3"]
        lines.append(f"seed {seed}, S3: weight-change correlation {n['weight_change_corr']:.3f}; held-out prediction "
                     f"correlation initial {n['prediction_corr_initial']:.3f}, spiking "
                     f"{n['prediction_corr_spiking']:.3f}, rate {n['prediction_corr_rate']:.3f}")
    return report(f"Spikes: Brian2 on {opts.brian_device}, dt {opts.dt_ms} ms, kernel width {opts.width_ms} ms, "
                  f"{len(runs)} seeds (figures: seed {opts.seed})", "\n".join(lines), claims=claims, path=path)


if __name__ == "__main__":
    raise SystemExit(run_script(main))
