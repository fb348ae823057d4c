"""bioglom.spiking: kernels against closed forms, the Brian2 synapse against the analytic
window and the exact pair expectation, the column against the rate rule's sign, the
monitor conversion against a naive count, and bad input."""

import numpy as np
import pytest
from brian2 import DimensionMismatchError, ms, mV

from bioglom.config import ConfigError
from bioglom.spiking import (brian_device, column_network, make_kernel, pair_expectation, poisson_pair_network,
                             population_rates, rate_column, simulate, unit_weights, window_network)

WIDTH = 20 * ms


@pytest.mark.parametrize("name", ["exponential", "gaussian"])
def test_window_is_minus_the_kernel_derivative(name):
    k = make_kernel(name, WIDTH)
    d = np.linspace(-0.08, 0.08, 161) + 1e-4
    h = 1e-7
    numeric = -(k.smoothing(d + h) - k.smoothing(d - h)) / (2 * h)
    assert np.allclose(k.window(d), numeric, rtol=1e-5, atol=1e-6 * np.abs(numeric).max())
    assert np.isclose(k.smoothing(np.linspace(-1, 1, 200001)).sum() * 1e-5, 1.0, rtol=1e-4)  # integral K = 1


def test_trace_windows():
    assert make_kernel("exponential", WIDTH).fit_error < 1e-12  # one trace is exact
    g = make_kernel("gaussian", WIDTH)
    assert g.fit_error < 0.003
    assert g.trace_window(np.array([0.0]))[0] == 0.0


def test_pair_expectation_matches_a_naive_double_loop():
    k = make_kernel("exponential", 5 * ms)
    dt = 1e-3
    rng = np.random.default_rng(0)
    pre, post = rng.uniform(0, 50, 60), rng.uniform(0, 50, 60)
    naive = sum(pre[i] * post[j] * k.trace_window((j - i) * dt) for i in range(60) for j in range(60)) * dt * dt
    assert np.isclose(pair_expectation(k, pre, post, dt), naive, rtol=1e-10)


@pytest.mark.parametrize("name", ["exponential", "gaussian"])
def test_measured_window_matches_analytic_within_the_time_step(name):
    k, dt = make_kernel(name, WIDTH), 5e-4
    delays = np.linspace(-0.1, 0.1, 33) + 1.7e-4  # off the dt grid
    with brian_device("numpy"):
        net, mon = window_network(k, np.append(delays, 0.0), dt=dt)
        simulate(net, mon["duration"], "numpy")
        w = np.asarray(mon["synapses"].w[:])
    tol = k.slope_bound * dt + k.fit_error * np.abs(k.window(delays)).max()
    assert np.abs(w[:-1] - k.window(delays)).max() <= tol
    assert w[-1] == 0.0  # a pre and a post spike in the same step count zero
    # the sign flips across zero delay: potentiation when post follows pre (within 2.5 widths)
    near = np.abs(delays) < 2.5 * k.width
    assert (w[:-1][near & (delays > 0.005)] > 0).all() and (w[:-1][near & (delays < -0.005)] < 0).all()


def test_spike_estimate_is_unbiased():
    k, dt, trials = make_kernel("exponential", 30 * ms), 5e-4, 3000
    t = np.arange(4000) * dt
    pre, post = 30 * (1 + np.sin(np.pi * t)), 30 * (1 - np.cos(np.pi * t))
    with brian_device("numpy"):
        import brian2

        brian2.seed(1)
        net, mon = poisson_pair_network(k, pre, post, trials=trials, dt=dt)
        simulate(net, mon["duration"], "numpy")
        w = np.asarray(mon["synapses"].w[:])
    exact = pair_expectation(k, pre, post, dt)
    se = w.std(ddof=1) / np.sqrt(trials)
    assert exact > 10 * se  # the check has power: the mean is far from zero
    assert abs(w.mean() - exact) < 3.5 * se


def test_rate_column_is_the_delta_rule():
    rng = np.random.default_rng(0)
    a, c = rng.uniform(10, 60, (20, 3)), rng.uniform(10, 60, (20, 3))
    w = np.full((3, 3), 1 / 3)
    got = rate_column(a, c, w, eta=1e-4)
    for k in range(20):
        w = w + 1e-4 * np.outer(a[k], c[k] - a[k] @ w)
        assert np.allclose(got[k + 1], w, rtol=1e-12)


@pytest.mark.parametrize("shift", [+30.0, -30.0])
def test_spiking_column_learns_toward_the_consensus(shift):
    d, m = 2, 10
    a = np.full((3, d), 40.0)  # three samples of one input
    w0 = np.full((d, d), 0.5)
    c = a @ w0 + shift  # consensus 30 Hz above (or below) the bottom-up prediction
    k = make_kernel("exponential", 10 * ms)
    with brian_device("numpy"):
        import brian2

        brian2.seed(0)
        net, mon = column_network(k, a, c, w0, population=m, eta=5e-6, dt=5e-4)
        simulate(net, mon["duration"], "numpy")
        syn = mon["synapses"]
        w = unit_weights(np.asarray(syn.w[:]), syn.i[:], syn.j[:], population=m, d=d)
    expected = rate_column(a, c, w0, eta=5e-6)[-1] - w0  # about 3 x 5e-6 x 40 x 30 = 0.018 per weight
    assert np.sign(w - w0).tolist() == np.sign(expected).tolist()
    assert np.isclose((w - w0).mean(), expected.mean(), rtol=0.6)


def test_population_rates_match_a_naive_count():
    rng = np.random.default_rng(0)
    idx, times = rng.integers(0, 6, 500), rng.uniform(0, 1.0, 500)
    got = population_rates(idx, times, population=3, units=2, bin_width=0.25, duration=1.0)
    for b in range(4):
        for u in range(2):
            n = ((idx // 3 == u) & (times >= b * 0.25) & (times < (b + 1) * 0.25)).sum()
            assert got[b, u] == n / (3 * 0.25)


def test_unit_mistake_names_the_parameter():
    for bad in (20, 20 * mV):
        with pytest.raises(DimensionMismatchError, match="width"):
            make_kernel("exponential", bad)


def test_bad_input_names_the_field():
    with pytest.raises(ConfigError, match="kernel='boxcar'"):
        make_kernel("boxcar", WIDTH)
    k = make_kernel("exponential", WIDTH)
    with pytest.raises(ConfigError, match="dt=25 ms"):
        window_network(k, [0.01], dt=0.025)
    with pytest.raises(ConfigError, match="pre_rate"):
        poisson_pair_network(k, [10.0, -5.0], [10.0, 10.0], trials=2, dt=1e-4)
    with pytest.raises(ConfigError, match="targets"):
        column_network(k, [[10.0]], [[-1.0]], [[1.0]], population=1, eta=1e-5, dt=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("target", ["cython", "cpp_standalone"])
def test_compiled_targets_give_the_numpy_window(target, tmp_path):
    k, dt = make_kernel("gaussian", WIDTH), 5e-4
    delays = np.linspace(-0.1, 0.1, 9)
    results = {}
    for t in ("numpy", target):
        with brian_device(t, tmp_path / t):
            net, mon = window_network(k, delays, dt=dt)
            simulate(net, mon["duration"], t, tmp_path / t)
            results[t] = np.asarray(mon["synapses"].w[:])
    assert np.allclose(results[target], results["numpy"], rtol=1e-9, atol=1e-9)


def test_unit_weights_are_the_mean_over_each_population_pair():
    rng = np.random.default_rng(0)
    m, d = 3, 2
    pre, post = np.meshgrid(np.arange(m * d), np.arange(m * d), indexing="ij")
    pre, post = pre.ravel(), post.ravel()
    w = rng.normal(size=(4, pre.size))
    got = unit_weights(w, pre, post, population=m, d=d)
    for i in range(d):
        for j in range(d):
            sel = (pre // m == i) & (post // m == j)
            np.testing.assert_allclose(got[:, i, j], w[:, sel].mean(1), rtol=1e-12)
