"""Builders of the S1 and S2 networks (docs/claims.md): each returns ``(network, monitors)``
without running it; ``monitors`` maps names to the Brian2 objects to read after the run,
and ``monitors["duration"]`` is the run's length.

Every trial is its own pre/post pair joined one-to-one, so one run measures many trials
at once on every target, ``cpp_standalone`` included.
"""

from __future__ import annotations

import numpy as np
from brian2 import (Hz, Network, PoissonGroup, SpikeGeneratorGroup, Synapses, TimedArray, second)

from ..config import ConfigError
from .kernels import Kernel, check_rates, check_time_step
from .synapses import stdp_equations


def stdp_synapses(kernel: Kernel, source, target, *, dt: float, eta: float = 1.0, gate: str = "1",
                  extra_model: str = "", namespace: dict | None = None, name: str = "stdp"):
    """A :class:`brian2.Synapses` from ``source`` to ``target`` with the kernel's
    derivative-filter STDP (:func:`.synapses.stdp_equations`), ``eta`` in s**2, not yet
    connected; ``extra_model`` goes into its model (:func:`.synapses.stdp_equations`)."""
    eq = stdp_equations(kernel, gate=gate, extra_model=extra_model)
    return Synapses(source, target, eq["model"], on_pre=eq["on_pre"], on_post=eq["on_post"],
                    namespace={**eq["namespace"], **(namespace or {})}, dt=dt * second, name=name)


def reset_plasticity(syn, eta: float) -> None:
    """Set a connected STDP synapse's learning rate ``eta`` (s**2), zero its weights and
    put its last spike times before the run, so no pair is counted as fresh at t = 0."""
    syn.eta = eta * second**2
    syn.tpre = -1 * second
    syn.tpost = -1 * second
    syn.w = 0


def window_network(kernel: Kernel, delays, *, dt: float):
    """S1: one pre spike and one post spike, ``delay = t_post - t_pre`` apart (s; each
    rounded to the ``dt`` grid), per synapse. After the run ``w`` of synapse ``k`` (with
    ``eta = 1 s**2``) is the window the synapse implements at ``delays[k]``, in 1/s**2."""
    check_time_step(kernel, dt)
    delays = np.asarray(delays, dtype=np.float64)
    if delays.ndim != 1 or delays.size == 0 or not np.isfinite(delays).all():
        raise ConfigError(f"delays must be a non-empty 1-D array of finite times in s; got shape {delays.shape}")
    n = delays.size
    start = np.abs(delays).max() + kernel.support
    pre_t = np.full(n, np.round(start / dt) * dt)
    post_t = np.round((start + delays) / dt) * dt
    idx = np.arange(n)
    pre = SpikeGeneratorGroup(n, idx, pre_t * second, dt=dt * second, name="pre")
    post = SpikeGeneratorGroup(n, idx, post_t * second, dt=dt * second, name="post")
    syn = stdp_synapses(kernel, pre, post, dt=dt)
    syn.connect(j="i")
    reset_plasticity(syn, 1.0)
    duration = (2 * start + kernel.support + 10 * dt) * second
    return Network(pre, post, syn), {"synapses": syn, "duration": duration}


def poisson_pair_network(kernel: Kernel, pre_rate, post_rate, *, trials: int, dt: float):
    """S2: ``trials`` independent pairs of Poisson neurons whose rates follow
    ``pre_rate`` and ``post_rate`` (Hz, one value per time step ``dt``); after the run,
    ``w`` per synapse (``eta = 1 s**2``) is that trial's ``sum_pairs W`` in Hz**2."""
    check_time_step(kernel, dt)
    pre_r, post_r = check_rates("pre_rate", pre_rate), check_rates("post_rate", post_rate)
    if pre_r.shape != post_r.shape or pre_r.ndim != 1:
        raise ConfigError(f"pre_rate and post_rate must be 1-D and of equal length; got {pre_r.shape}, {post_r.shape}")
    if trials < 1:
        raise ConfigError(f"trials={trials} is not allowed; it must be >= 1")
    ns = {"pre_rate": TimedArray(pre_r * Hz, dt=dt * second), "post_rate": TimedArray(post_r * Hz, dt=dt * second)}
    pre = PoissonGroup(trials, rates="pre_rate(t)", namespace=ns, dt=dt * second, name="pre")
    post = PoissonGroup(trials, rates="post_rate(t)", namespace=ns, dt=dt * second, name="post")
    syn = stdp_synapses(kernel, pre, post, dt=dt)
    syn.connect(j="i")
    reset_plasticity(syn, 1.0)
    return Network(pre, post, syn), {"synapses": syn, "duration": len(pre_r) * dt * second}
