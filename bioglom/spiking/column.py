"""S3: a spiking GLOM column, two adjacent levels as rate-coded populations, whose
bottom-up synapses learn by the derivative-filter rule (paper 12.1, 12.3).

Level ``l-1`` (``pre``) and level ``l`` (``post``) each have ``D`` units, every unit a
population of ``M`` Poisson neurons firing at the unit's rate. All ``D M x D M`` synapses
learn; unit ``i``'s weight onto unit ``j`` is the mean of its ``M x M`` synapses. Each
sample (one frame) lasts ``20 w`` (``w`` the kernel width) and has two phases, set by a
phase variable that a ``TimedArray`` holds, so one standalone run plays them all:

1. bottom-up (``0 <= t < 10 w``): presynaptic rates ``a`` (the frame's level-``l-1``
   embedding as rates); the postsynaptic rate is the bottom-up prediction
   ``u_j = sum_i W_ij a_i`` (a summed variable over the synapses: rate coding, so a single
   presynaptic spike does not itself raise the postsynaptic rate);
2. consensus: the postsynaptic rate moves to the consensus ``c`` (from the rate model)
   as ``u + (c - u)(1 - exp(-(t - 10 w) / (w / 2)))``.

Plasticity is on from ``5 w`` to ``15 w``, where rates are steady at both edges, so the
expected weight change per sample is ``eta a_i (c_j - u_j)``: presynaptic activity times
the postsynaptic rate's change, the temporal-derivative rule of the rate model
(:class:`bioglom.learning.local.TemporalDerivativeRule`, with the state at its
bottom-up prediction). :func:`rate_column` runs that rule on the same samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from brian2 import Hz, Network, NeuronGroup, SpikeMonitor, StateMonitor, TimedArray, second

from ..config import ConfigError
from .kernels import Kernel, check_rates, check_time_step
from .networks import reset_plasticity, stdp_synapses

BOTTOM_UP, MOVE_TAU, GATE_OPEN, GATE_CLOSE, SAMPLE = 10.0, 0.5, 5.0, 15.0, 20.0  # in kernel widths


@dataclass(frozen=True)
class ColumnSchedule:
    """Times (s) of one sample for a kernel of width ``width``."""

    width: float

    @property
    def sample(self) -> float:
        return SAMPLE * self.width

    def phase(self, t) -> np.ndarray:
        """How far the postsynaptic rate has moved from ``u`` to ``c`` at time ``t`` in a sample."""
        tin = np.asarray(t) % self.sample
        moved = 1 - np.exp(-(tin - BOTTOM_UP * self.width) / (MOVE_TAU * self.width))
        return np.where(tin >= BOTTOM_UP * self.width, moved, 0.0)

    def gate(self, t) -> np.ndarray:
        tin = np.asarray(t) % self.sample
        return ((tin >= GATE_OPEN * self.width) & (tin < GATE_CLOSE * self.width)).astype(np.float64)


def check_column(inputs, targets, w0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = check_rates("inputs", inputs)
    c = check_rates("targets", targets)
    w0 = np.asarray(w0, dtype=np.float64)
    if a.ndim != 2 or c.shape != a.shape:
        raise ConfigError(f"inputs and targets must be [samples, D] rates of one shape; got {a.shape} and {c.shape}")
    if w0.shape != (a.shape[1], a.shape[1]):
        raise ConfigError(f"w0 has shape {w0.shape}; it must be [D, D] = {(a.shape[1], a.shape[1])}")
    return a, c, w0


def column_network(kernel: Kernel, inputs, targets, w0, *, population: int, eta: float, dt: float):
    """The spiking column for ``inputs`` and ``targets`` (``[samples, D]`` rates in Hz),
    starting from unit weights ``w0`` (``[D, D]``, pre x post), learning rate ``eta``
    (s**2). Returns ``(network, monitors)``: ``synapses``, spike monitors ``pre`` and
    ``post``, ``weights`` (every synapse's ``w`` at each sample's end), ``duration``."""
    check_time_step(kernel, dt)
    a, c, w0 = check_column(inputs, targets, w0)
    if population < 1:
        raise ConfigError(f"population={population} is not allowed; it must be >= 1")
    n, d = a.shape
    sched = ColumnSchedule(kernel.width)
    t = np.arange(int(round(n * sched.sample / dt))) * dt
    ns = {"inputs": TimedArray(a * Hz, dt=sched.sample * second),
          "targets": TimedArray(c * Hz, dt=sched.sample * second),
          "phase": TimedArray(sched.phase(t), dt=dt * second),
          "plastic": TimedArray(sched.gate(t), dt=dt * second),
          "M": population}
    pre = NeuronGroup(d * population, "unit : integer (constant)\nrate = inputs(t, unit) : Hz",
                      threshold="rand() < rate * dt", namespace=ns, dt=dt * second, name="pre")
    post = NeuronGroup(d * population, """unit : integer (constant)
                       u : Hz
                       rate = clip((1 - phase(t)) * u + phase(t) * targets(t, unit), 0 * Hz, 1000 * Hz) : Hz""",
                       threshold="rand() < rate * dt", namespace=ns, dt=dt * second, name="post")
    pre.unit = "i // M"
    post.unit = "i // M"
    ns["initial_weight"] = TimedArray(w0.reshape(-1), dt=1 * second)  # a lookup table by (i * D + j) * second
    ns["D"] = d
    # the bottom-up prediction u_j = sum_i W_ij a_i, W the mean over each unit pair's synapses
    syn = stdp_synapses(kernel, pre, post, dt=dt, gate="plastic(t)", namespace=ns, name="bottom_up",
                        extra_model="u_post = w * rate_pre / M : Hz (summed)")
    syn.connect()
    reset_plasticity(syn, eta)
    syn.w = "initial_weight((unit_pre * D + unit_post) * second)"
    monitors = {
        "synapses": syn,
        "pre": SpikeMonitor(pre, name="pre_spikes"),
        "post": SpikeMonitor(post, name="post_spikes"),
        "weights": StateMonitor(syn, "w", record=np.arange((d * population) ** 2), dt=sched.sample * second, when="end", name="weights"),
        "duration": n * sched.sample * second,
    }
    return Network(pre, post, syn, *(m for k, m in monitors.items() if k not in ("synapses", "duration"))), monitors


def rate_column(inputs, targets, w0, *, eta: float) -> np.ndarray:
    """The rate model on the same samples: for each, the column state starts at its
    bottom-up prediction ``s = W^T a`` and the consensus ``c`` is the teacher; the
    ``temporal_derivative`` rule's error ``e = s - c`` gives ``dW = -eta a e^T``
    (presynaptic activity times the state's change). Returns ``W`` after every sample,
    ``[samples + 1, D, D]``."""
    from ..learning.local import TemporalDerivativeRule

    a, c, w = check_column(inputs, targets, w0)
    rule = TemporalDerivativeRule()
    a_t, c_t = torch.as_tensor(a), torch.as_tensor(c)
    w = torch.as_tensor(w).clone()
    out = [w.clone()]
    for k in range(len(a_t)):
        state = a_t[k] @ w
        e = rule.positive_error(state, state, c_t[k])
        w -= eta * torch.outer(a_t[k], e)
        out.append(w.clone())
    return torch.stack(out).numpy()


def unit_weights(w, pre_index, post_index, *, population: int, d: int) -> np.ndarray:
    """Unit weights ``W_ij`` (mean over the synapses from population ``i`` to population
    ``j``) from synaptic weights ``w`` (``[..., synapses]``) and their neuron indices."""
    w = np.asarray(w, dtype=np.float64)
    pair = (np.asarray(pre_index) // population) * d + np.asarray(post_index) // population
    member = np.eye(d * d)[pair]  # synapses x unit pairs
    return (w @ member / member.sum(0)).reshape(w.shape[:-1] + (d, d))


def glom_signals(cfg, samples: int, seed: int, device="cpu", steps: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """What a spiking column learns from: an untrained GLOM of ``cfg`` (2 levels, 8x8
    input) settled ``steps`` steps on ``samples`` of scikit-learn's digits drawn by
    ``seed``; the centre column's level-0 state and level-1 consensus, z-scored per
    dimension and clipped to +-2: ``[samples, D]`` each."""
    from ..data import load_digits
    from ..model import Glom

    model = Glom(cfg).to(device).eval()
    digits = load_digits(8).images
    images = digits[torch.randperm(len(digits), generator=torch.Generator().manual_seed(seed))[:samples]]
    with torch.no_grad():
        states = model.settle(images.to(device), steps=steps).states[-1].double().cpu().numpy()  # [b, L, N, D]
    h, w = cfg.grid
    column = (h // 2) * w + w // 2
    x, c = states[:, 0, column], states[:, 1, column]

    def z(v):
        return np.clip((v - v.mean(0)) / (v.std(0) + 1e-9), -2, 2)

    return z(x), z(c)
