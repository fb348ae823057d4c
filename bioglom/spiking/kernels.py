"""Smoothing kernels and the STDP windows they imply (paper 12.3; docs/design.md §7).

A spike train ``s(t) = sum_k delta(t - t_k)`` smoothed by a symmetric kernel ``K``
(``integral K = 1``) estimates the rate behind it, ``r(t) = (K * s)(t)``. The rate rule
"presynaptic activity times the rate of change of postsynaptic activity", summed over a
presynaptic train, is then a sum over spike pairs::

    dw / eta = integral s_pre(t) dr_post/dt dt = sum_pre sum_post K'(t_pre - t_post)
             = sum_pairs W(t_post - t_pre),      W(delta) = -K'(delta)

because ``K'`` is odd: pair-based STDP whose window is minus the derivative of the
smoothing kernel. ``W`` is in ``1/s**2`` (Hz of rate change per second, per presynaptic
spike); ``W(0) = 0``.

Every window here is realised exactly by a cascade of linear traces: for ``delta > 0``::

    W(delta) = sum_{m=0}^{M} c_m (delta/tau)^m / m! exp(-delta/tau),   W(-delta) = -W(delta)

where trace ``m`` of a spike train obeys ``dx_0/dt = -x_0/tau``,
``dx_m/dt = (x_{m-1} - x_m)/tau`` and a spike adds 1 to ``x_0``, so one spike leaves
``x_m(delta) = (delta/tau)^m/m! exp(-delta/tau)`` behind it (:mod:`.synapses`).

- ``exponential``: ``K(s) = exp(-|s|/tau) / (2 tau)`` (the autocorrelation of a causal
  exponential filter), ``W(delta) = sign(delta) exp(-|delta|/tau) / (2 tau^2)``: the
  classic antisymmetric STDP window; one trace, exact.
- ``gaussian``: ``K = N(0, sigma^2)``, ``W(delta) = delta / sigma^2 K(delta)`` (the
  derivative of a Gaussian); seven traces with ``tau = 0.3 sigma`` and coefficients fitted
  by least squares, which leave a largest error of 0.25 % of the window's peak
  (:attr:`Kernel.fit_error`).

Numerics take and return floats in SI units (seconds, 1/s**2); Brian2 quantities appear
only where a user passes a parameter (:func:`make_kernel`).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import factorial, pi, sqrt

import numpy as np
from brian2 import check_units, second

from ..config import ConfigError

KERNELS = ("exponential", "gaussian")

# The gaussian window's trace cascade: order and time constant in units of sigma (a scan
# of orders 2-6 and tau/sigma 0.15-0.5 gave the smallest error here, with |c_m| < 2).
GAUSS_ORDER, GAUSS_TAU = 6, 0.3


@dataclass(frozen=True)
class Kernel:
    """A smoothing kernel of width ``width`` (tau or sigma, seconds) and its trace form:
    ``coefficients`` ``c_m`` (1/s**2) of traces with time constant ``trace_tau`` (s)."""

    name: str
    width: float
    trace_tau: float
    coefficients: tuple[float, ...]

    def smoothing(self, s) -> np.ndarray:
        """``K(s)`` in 1/s."""
        s = np.abs(np.asarray(s, dtype=np.float64))
        if self.name == "exponential":
            return np.exp(-s / self.width) / (2 * self.width)
        return np.exp(-0.5 * (s / self.width) ** 2) / (self.width * sqrt(2 * pi))

    def window(self, delays) -> np.ndarray:
        """The analytic window ``W(delta) = -K'(delta)`` (1/s**2), ``delta = t_post - t_pre`` (s)."""
        d = np.asarray(delays, dtype=np.float64)
        if self.name == "exponential":
            return np.sign(d) * self.smoothing(d) / self.width
        return d / self.width**2 * self.smoothing(d)

    def trace_window(self, delays) -> np.ndarray:
        """The window the traces implement: ``sign(delta) sum_m c_m (|delta|/tau)^m/m! exp(-|delta|/tau)``."""
        d = np.asarray(delays, dtype=np.float64)
        u = np.abs(d) / self.trace_tau
        basis = np.stack([u**m / factorial(m) for m in range(len(self.coefficients))], -1)
        return np.sign(d) * np.exp(-u) * (basis @ np.asarray(self.coefficients))

    @property
    def support(self) -> float:
        """A delay (s) beyond which the window is below 1e-6 of its peak on both sides."""
        return (14.0 if self.name == "exponential" else 5.5) * self.width

    @property
    def fit_error(self) -> float:
        """Largest ``|trace_window - window|`` over delays, relative to the window's peak."""
        d = np.linspace(0, self.support, 20001)
        exact = self.window(d)
        return float(np.abs(self.trace_window(d) - exact).max() / np.abs(exact).max())

    @property
    def slope_bound(self) -> float:
        """An upper bound on ``|W'|`` (1/s**3): a spike moved by ``dt`` changes a pair's
        contribution by at most ``slope_bound * dt``."""
        d = np.linspace(1e-9 * self.width, self.support, 200001)
        w = self.trace_window(d)
        return float(np.abs(np.diff(w) / np.diff(d)).max())


def _gaussian_coefficients(sigma: float) -> tuple[tuple[float, ...], float]:
    tau = GAUSS_TAU * sigma
    u = np.linspace(0, 7, 7001)
    target = u * np.exp(-0.5 * u**2) / sqrt(2 * pi)
    # orders 1..M only: W(0+) must vanish, as the Gaussian window does, so c_0 = 0
    basis = np.stack([(u / GAUSS_TAU) ** m / factorial(m) * np.exp(-u / GAUSS_TAU)
                      for m in range(1, GAUSS_ORDER + 1)], 1)
    c, *_ = np.linalg.lstsq(basis, target, rcond=None)
    return (0.0, *(float(x) / sigma**2 for x in c)), tau


@check_units(width=second)
def make_kernel(name: str, width) -> Kernel:
    """The kernel ``name`` (one of :data:`KERNELS`) of width ``width`` (a Brian2 time:
    tau of the exponential, sigma of the Gaussian). A width without time units raises
    Brian2's ``DimensionMismatchError`` naming ``width``."""
    if name not in KERNELS:
        raise ConfigError(f"kernel={name!r} is not a kernel; allowed: {', '.join(KERNELS)}")
    w = float(width / second)
    if not w > 0:
        raise ConfigError(f"kernel width={w} s is not allowed; it must be > 0")
    if name == "exponential":
        return Kernel(name, w, w, (1.0 / (2 * w * w),))
    coefficients, tau = _gaussian_coefficients(w)
    return Kernel(name, w, tau, coefficients)


def check_time_step(kernel: Kernel, dt: float) -> None:
    """Raise naming ``dt`` unless the time step (s) resolves the kernel: ``dt < trace_tau``."""
    if not 0 < dt < kernel.trace_tau:
        raise ConfigError(f"dt={dt * 1e3:g} ms is not allowed for the {kernel.name} kernel of width "
                          f"{kernel.width * 1e3:g} ms: it must be > 0 and below the kernel's time constant "
                          f"{kernel.trace_tau * 1e3:g} ms")


def check_rates(name: str, rates) -> np.ndarray:
    """Raise naming ``name`` unless ``rates`` (Hz) are finite and non-negative; return them as floats."""
    r = np.asarray(rates, dtype=np.float64)
    if r.size == 0 or not np.isfinite(r).all() or (r < 0).any():
        bad = r[~np.isfinite(r) | (r < 0)] if r.size else r
        raise ConfigError(f"{name} has values {bad[:3].tolist()} Hz; firing rates must be finite and >= 0")
    return r


def pair_expectation(kernel: Kernel, pre_rate, post_rate, dt: float) -> float:
    """The exact mean of ``sum_pairs W(t_post - t_pre)`` for independent Poisson trains of
    rates ``pre_rate``, ``post_rate`` (Hz, sampled every ``dt`` s over the run):
    ``integral integral pre(t) post(t') W(t' - t) dt dt'`` on the grid, with the traces'
    window (what the synapse computes). Pairs inside one time bin count zero, as in
    :mod:`.synapses`."""
    pre, post = np.asarray(pre_rate, np.float64), np.asarray(post_rate, np.float64)
    n = len(pre)
    lags = np.arange(-(n - 1), n) * dt
    # products[k + n - 1] = sum_i pre[i] post[i + k]: pre in bin i, post k bins later
    products = np.correlate(post, pre, mode="full")
    return float(kernel.trace_window(lags) @ products * dt * dt)


def rate_rule(pre_rate, post_rate, dt: float) -> float:
    """The rate rule's prediction ``integral pre(t) d post(t)/dt dt`` (Hz**2), by the
    trapezoid rule with central differences, on rates sampled every ``dt`` s."""
    pre, post = np.asarray(pre_rate, np.float64), np.asarray(post_rate, np.float64)
    f = pre * np.gradient(post, dt)
    return float((f[1:] + f[:-1]).sum() * dt / 2)
