"""Spikes (claims S1-S3 of docs/claims.md; Hinton 2023, section 12.3): does pair-based STDP
whose window is minus the derivative of a smoothing kernel implement "presynaptic activity
times the rate of change of postsynaptic activity", and can a spiking column learn with it?

    python simulations/stdp_spiking.py                                 # numpy target: about two minutes
    python simulations/stdp_spiking.py --brian-device cpp_standalone   # compiled: faster
    python simulations/stdp_spiking.py --quick                         # seconds

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

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from bioglom import Glom, GlomConfig
from bioglom.analysis import Claim, claims_dataset, format_claims, run_attrs, write_netcdf
from bioglom.analysis.figures import save_figure
from bioglom.cli import RunOptions, option, run_script, start_run
from bioglom.config import ConfigError, check_choice, check_positive
from bioglom.data import load_digits
from bioglom.spiking import (KERNELS, TARGETS, brian_device, check_time_step, column_dataset, column_network,
                             make_kernel, pair_expectation, poisson_pair_network, rate_column, rate_rule, simulate,
                             window_network)


@dataclass
class Options(RunOptions):
    out: str = option("results/stdp_spiking", "output folder")
    brian_device: str = option("numpy", "Brian2 target", choices=TARGETS)
    kernels: tuple[str, ...] = option(KERNELS, "smoothing kernels (S1, S2)")
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

    def validate(self) -> None:
        check_choice("brian_device", self.brian_device, TARGETS)
        for k in self.kernels:
            check_choice("kernels", k, KERNELS)
        check_choice("s3_kernel", self.s3_kernel, KERNELS)
        for name in ("width_ms", "dt_ms", "s2_duration", "s2_frequency", "s3_eta", "s3_scale", "bin_ms"):
            check_positive(name, getattr(self, name))
        for name in ("s1_delays", "s2_trials", "s3_samples", "s3_test", "s3_population", "s3_dim"):
            check_positive(name, getattr(self, name), integer=True)
        for k in set(self.kernels) | {self.s3_kernel}:
            check_time_step(self.kernel(k), self.dt_ms * 1e-3)  # raises naming dt
        if self.s2_rate < 0:
            raise ConfigError(f"s2_rate={self.s2_rate} Hz is not allowed; firing rates must be >= 0")
        if self.s3_rate - 2 * self.s3_scale < 0:
            raise ConfigError(f"s3_rate={self.s3_rate} Hz with s3_scale={self.s3_scale} Hz gives negative rates "
                              "at a z-score of -2; need s3_rate >= 2 s3_scale")
        self.glom_config()
        periods = self.s2_duration * self.s2_frequency
        if abs(periods - round(periods)) > 1e-9:
            raise ConfigError(f"s2_duration={self.s2_duration} s is not allowed; it must hold whole periods of "
                              f"s2_frequency={self.s2_frequency} Hz")

    def glom_config(self) -> GlomConfig:
        """The rate model that supplies S3's inputs and consensus: 2 levels on 8x8 digits."""
        return GlomConfig(levels=2, dim=self.s3_dim, image_size=8, patch_size=2, channels=1, hidden=32,
                          radius=(1, 3), seed=self.seed)

    def kernel(self, name: str):
        from brian2 import ms

        return make_kernel(name, self.width_ms * ms)


PRESETS = {"quick": dict(s1_delays=21, s2_trials=400, s2_duration=2.0, s3_samples=6, s3_test=20,
                         s3_population=3, s3_dim=4, kernels=("exponential", "gaussian"))}


def checkpointed(out: Path, name: str, resume: bool, compute) -> xr.Dataset:
    """``compute()``'s dataset, written to ``out/checkpoints/name.nc``; with ``resume``, the one already there."""
    path = out / "checkpoints" / f"{name}.nc"
    if resume and path.exists():
        print(f"{name}: from {path}")
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            return ds.load()
    ds = compute()
    write_netcdf(ds, path)
    return ds


def s1(opts, name: str, directory: Path) -> xr.Dataset:
    kernel, dt = opts.kernel(name), opts.dt_ms * 1e-3
    delays = np.linspace(-5, 5, opts.s1_delays) * kernel.width
    with brian_device(opts.brian_device, directory):
        net, mon = window_network(kernel, delays, dt=dt)
        timing = simulate(net, mon["duration"], opts.brian_device, directory)
        measured = np.asarray(mon["synapses"].w[:])
    analytic = kernel.window(delays)
    return xr.Dataset(
        {"s1_measured": ("delay", measured, {"units": "1/s**2", "long_name": "weight change per pair (eta = 1 s**2)"}),
         "s1_analytic": ("delay", analytic, {"units": "1/s**2", "long_name": "-K'(delay)"}),
         "s1_traces": ("delay", kernel.trace_window(delays), {"units": "1/s**2", "long_name": "window of the traces"})},
        coords={"delay": ("delay", delays, {"units": "s", "long_name": "t_post - t_pre"})},
        attrs={"tolerance": kernel.slope_bound * dt + kernel.fit_error * np.abs(analytic).max(),
               "fit_error": kernel.fit_error, "peak": float(np.abs(analytic).max()), "run_s": timing["run"]})


def s2_rates(opts) -> tuple[np.ndarray, np.ndarray, float]:
    dt = opts.dt_ms * 1e-3
    t = np.arange(int(round(opts.s2_duration / dt))) * dt
    w = 2 * np.pi * opts.s2_frequency
    return opts.s2_rate * (1 + np.sin(w * t)), opts.s2_rate * (1 - np.cos(w * t)), dt


def s2(opts, name: str, directory: Path) -> xr.Dataset:
    kernel = opts.kernel(name)
    pre, post, dt = s2_rates(opts)
    with brian_device(opts.brian_device, directory):
        import brian2

        brian2.seed(opts.seed)
        net, mon = poisson_pair_network(kernel, pre, post, trials=opts.s2_trials, dt=dt)
        timing = simulate(net, mon["duration"], opts.brian_device, directory)
        w = np.asarray(mon["synapses"].w[:])
    return xr.Dataset({"s2_change": ("trial", w, {"units": "Hz**2", "long_name": "sum over pairs of W"})},
                      coords={"trial": np.arange(len(w))},
                      attrs={"exact": pair_expectation(kernel, pre, post, dt), "rate_rule": rate_rule(pre, post, dt),
                             "run_s": timing["run"]})


def se_curve(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Standard error of the mean of the first ``n`` trials for ``n`` halving from all
    trials down to 25, and the slope of log(se) against log(n)."""
    n = [len(w)]
    while n[-1] // 2 >= 25:
        n.append(n[-1] // 2)
    n = np.array(n[::-1])
    se = np.array([w[:k].std(ddof=1) / np.sqrt(k) for k in n])
    slope = float(np.polyfit(np.log(n), np.log(se), 1)[0]) if len(n) > 1 else float("nan")
    return n, se, slope


def glom_signals(opts, device) -> tuple[np.ndarray, np.ndarray]:
    """The centre column's level-0 state and level-1 consensus after settling an untrained
    GLOM on digits, z-scored per dimension and clipped to +-2: ``[samples, D]`` each."""
    cfg = opts.glom_config()
    model = Glom(cfg).to(device).eval()
    n = opts.s3_samples + opts.s3_test
    images = load_digits(8).images[torch.randperm(1797, generator=torch.Generator().manual_seed(opts.seed))[:n]]
    with torch.no_grad():
        states = model.settle(images.to(device), steps=4).states[-1].double().cpu().numpy()  # [b, L, N, D]
    h, w = cfg.grid
    column = (h // 2) * w + w // 2
    x, c = states[:, 0, column], states[:, 1, column]

    def z(v):
        return np.clip((v - v.mean(0)) / (v.std(0) + 1e-9), -2, 2)

    return z(x), z(c)


def s3(opts, device, directory: Path) -> xr.Dataset:
    kernel, dt = opts.kernel(opts.s3_kernel), opts.dt_ms * 1e-3
    zx, zc = glom_signals(opts, device)
    a, c = opts.s3_rate + opts.s3_scale * zx, opts.s3_rate + opts.s3_scale * zc
    train = slice(0, opts.s3_samples)
    d = opts.s3_dim
    w0 = np.full((d, d), 1.0 / d)
    with brian_device(opts.brian_device, directory):
        import brian2

        brian2.seed(opts.seed)
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


def prediction_corr(w: np.ndarray, a: np.ndarray, c: np.ndarray) -> float:
    """Mean over output units of the correlation across samples between ``a W`` and ``c``."""
    p = a @ w
    p, c = p - p.mean(0), c - c.mean(0)
    scale = np.sqrt((p**2).sum(0) * (c**2).sum(0))
    # a constant prediction has correlation 0
    return float(np.mean(np.where(scale > 1e-12, (p * c).sum(0) / np.maximum(scale, 1e-300), 0.0)))


def claims(s1s: dict, s2s: dict, col: xr.Dataset) -> tuple[list[Claim], dict]:
    nums = {}
    ratios = []
    for k, ds in s1s.items():
        err = float(np.abs(ds.s1_measured - ds.s1_analytic).max())
        nums[f"s1_{k}"] = dict(max_error=err, tolerance=ds.attrs["tolerance"], peak=ds.attrs["peak"])
        ratios.append(err / ds.attrs["tolerance"])
    c1 = Claim("S1", max(ratios), max(ratios) <= 1,
               "measured STDP window = -K' of the smoothing kernel for every kernel: largest |measured - analytic| "
               "within dt max|W'| + the traces' fit error (value: largest error / that tolerance)")
    devs, ok = [], True
    for k, ds in s2s.items():
        w = ds.s2_change.values
        mean, se = float(w.mean()), float(w.std(ddof=1) / np.sqrt(len(w)))
        n, ses, slope = se_curve(w)
        dev = abs(mean - ds.attrs["rate_rule"]) / abs(ds.attrs["rate_rule"])
        bias = abs(mean - ds.attrs["exact"]) / se
        nums[f"s2_{k}"] = dict(mean=mean, se=se, rate_rule=ds.attrs["rate_rule"], exact=ds.attrs["exact"],
                               deviation=dev, bias_in_se=bias, se_slope=slope)
        devs.append(dev)
        ok &= dev < 0.05 and bias < 3 and abs(slope + 0.5) < 0.1
    c2 = Claim("S2", max(devs), ok,
               "spike estimate noisy but unbiased, every kernel: mean change within 5% of the rate rule "
               "integral pre dpost/dt, within 3 s.e. of the exact pair expectation, and s.e. ~ trials^(-1/2) "
               "(log-log slope -0.5 +- 0.1) (value: largest relative deviation from the rate rule)")
    w0 = col.weight.isel(sample=0).values
    ds_w, dr_w = col.weight.isel(sample=-1).values - w0, col.rate_weight.isel(sample=-1).values - w0
    corr = float(np.corrcoef(ds_w.ravel(), dr_w.ravel())[0, 1])
    test = col.is_test.values
    a, c = col.inputs.values[test], col.targets.values[test]
    pred = {name: prediction_corr(w, a, c) for name, w in
            (("initial", w0), ("spiking", col.weight.isel(sample=-1).values),
             ("rate", col.rate_weight.isel(sample=-1).values))}
    nums["s3"] = dict(weight_change_corr=corr, **{f"prediction_corr_{k}": v for k, v in pred.items()})
    c3 = Claim("S3", corr, corr >= 0.9 and pred["spiking"] >= pred["initial"] + 0.2,
               "the spiking column's learned bottom-up weight changes correlate with the rate model's "
               "temporal_derivative rule's (>= 0.9), and its weights predict the held-out consensus better than "
               "the initial ones (prediction correlation up by >= 0.2) (value: correlation of weight changes)")
    return [c1, c2, c3], nums


def results_dataset(kernels: list[str], s1s: dict, s2s: dict, col: xr.Dataset, nums: dict) -> xr.Dataset:
    """S1-S3 in one dataset: every measured number a variable (along ``kernel`` for S1 and
    S2, along ``model`` for S3's prediction test), S2's change of every trial, S3's
    variables ``s3_*`` on their own dimensions."""
    s1_all = xr.concat([s1s[k].assign_attrs({}) for k in kernels], "kernel").assign_coords(kernel=kernels)
    s1_all["s1_tolerance"] = ("kernel", [nums[f"s1_{k}"]["tolerance"] for k in kernels], {"units": "1/s**2"})
    s2 = {name: ("kernel", [nums[f"s2_{k}"][key] for k in kernels], {"units": unit}) for name, key, unit in (
        ("s2_mean", "mean", "Hz**2"), ("s2_se", "se", "Hz**2"), ("s2_rate_rule", "rate_rule", "Hz**2"),
        ("s2_exact", "exact", "Hz**2"), ("s2_se_slope", "se_slope", "1"))}
    s2["s2_change"] = (("kernel", "trial"), np.stack([s2s[k].s2_change.values for k in kernels]), {"units": "Hz**2"})
    s3_all = col.assign_attrs({}).rename({v: f"s3_{v}" for v in col.data_vars})
    s3_all["s3_weight_change_corr"] = ((), nums["s3"]["weight_change_corr"])
    models = ["initial", "spiking", "rate"]
    s3_all["s3_prediction_corr"] = ("model", [nums["s3"][f"prediction_corr_{m}"] for m in models])
    return xr.merge([s1_all, xr.Dataset(s2, coords={"kernel": kernels}), s3_all.assign_coords(model=models)])


def figures(out: Path, s1s: dict, s2s: dict, col: xr.Dataset) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(s1s), figsize=(4.5 * len(s1s), 3.2), squeeze=False)
    for ax, (k, ds) in zip(axes[0], s1s.items()):
        d = ds.delay.values * 1e3
        ax.plot(d, ds.s1_analytic, "k-", label="-K' (analytic)")
        ax.plot(d, ds.s1_measured, "o", ms=3, label="measured (Brian2)")
        ax.set(title=f"S1: {k} kernel", xlabel="t_post - t_pre (ms)", ylabel="weight change (1/s$^2$)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out / "window.png")

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
    for i, (k, ds) in enumerate(s2s.items()):
        w = ds.s2_change.values
        ax1.errorbar([i], [w.mean()], yerr=[2 * w.std(ddof=1) / np.sqrt(len(w))], fmt="o", capsize=4,
                     label="spikes: mean +- 2 s.e." if i == 0 else None)
        ax1.plot([i - 0.3, i + 0.3], [ds.attrs["rate_rule"]] * 2, "k-", label="rate rule" if i == 0 else None)
        ax1.plot([i - 0.3, i + 0.3], [ds.attrs["exact"]] * 2, "k:", label="exact pair expectation" if i == 0 else None)
        n, se, slope = se_curve(w)
        ax2.loglog(n, se, "o-", label=f"{k} (slope {slope:.2f})")
    ax1.set(xticks=range(len(s2s)), xticklabels=list(s2s), ylabel="weight change (Hz$^2$)", title="S2: estimate")
    ax1.legend(fontsize=7)
    ax2.set(xlabel="trials", ylabel="standard error", title="S2: s.e. against trials")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out / "estimate.png")

    w0 = col.weight.isel(sample=0).values
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
    ax1.plot((col.rate_weight.isel(sample=-1).values - w0).ravel(), (col.weight.isel(sample=-1).values - w0).ravel(),
             "o", ms=3)
    lim = np.abs(ax1.get_xlim()).max()
    ax1.plot([-lim, lim], [-lim, lim], "k:", lw=1)
    ax1.set(xlabel="rate model: weight change", ylabel="spiking column: weight change", title="S3: learned weights")
    ax2.plot(col.sample, np.linalg.norm((col.weight - col.weight.isel(sample=-1)).values, axis=(1, 2)), label="spiking")
    ax2.plot(col.sample, np.linalg.norm((col.rate_weight - col.rate_weight.isel(sample=-1)).values, axis=(1, 2)),
             label="rate")
    ax2.set(xlabel="sample", ylabel="||W - W_final||", title="S3: convergence")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out / "weights.png")


def main(argv=None) -> int:
    opts, device, out = start_run(Options, argv, description=__doc__.split("\n\n")[0], presets=PRESETS)
    build = out / "brian_build"
    s1s, s2s = {}, {}
    for k in opts.kernels:
        s1s[k] = checkpointed(out, f"s1-{k}", opts.resume, lambda: s1(opts, k, build / f"s1-{k}"))
        print(f"S1 {k}: done")
        s2s[k] = checkpointed(out, f"s2-{k}", opts.resume, lambda: s2(opts, k, build / f"s2-{k}"))
        print(f"S2 {k}: done")
    col = checkpointed(out, "s3", opts.resume, lambda: s3(opts, device, build / "s3"))
    print("S3: done")
    cl, nums = claims(s1s, s2s, col)

    ds = xr.merge([claims_dataset(cl), results_dataset(list(opts.kernels), s1s, s2s, col, nums)],
                  combine_attrs="override")
    ds.attrs = run_attrs(asdict(opts), opts.seed, status="complete")
    write_netcdf(ds, out / "stdp_spiking.nc")
    figures(out, s1s, s2s, col)

    print(f"\nSpikes: Brian2 on {opts.brian_device}, dt {opts.dt_ms} ms, kernel width {opts.width_ms} ms")
    for k in opts.kernels:
        n = nums[f"s2_{k}"]
        print(f"S2 {k}: mean {n['mean']:.1f} +- {n['se']:.1f} Hz^2 (s.e.), rate rule {n['rate_rule']:.1f}, "
              f"exact {n['exact']:.1f}, s.e. slope {n['se_slope']:.2f}")
    n = nums["s3"]
    print(f"S3: weight-change correlation {n['weight_change_corr']:.3f}; held-out prediction correlation "
          f"initial {n['prediction_corr_initial']:.3f}, spiking {n['prediction_corr_spiking']:.3f}, "
          f"rate {n['prediction_corr_rate']:.3f}")
    print(format_claims(cl))
    print(f"wrote {out / 'stdp_spiking.nc'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main))
