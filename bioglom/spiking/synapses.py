"""The derivative-filter STDP synapse as Brian2 equations (paper 12.3; docs/design.md §7).

Each synapse keeps event-driven trace cascades of its presynaptic (``x_m``) and
postsynaptic (``y_m``) spikes (:mod:`.kernels`). At a postsynaptic spike the weight grows
by ``eta * sum_m c_m x_m`` (every earlier presynaptic spike, ``W(delta > 0)``); at a
presynaptic spike it falls by ``eta * sum_m c_m y_m`` (every earlier postsynaptic spike,
``W(delta < 0) = -W(|delta|)``). That is all-to-all pairing, so the summed change is
``eta * sum_pairs W(t_post - t_pre)``: presynaptic activity times the derivative-filtered
postsynaptic train. A pre and a post spike in the same time step count zero
(``W(0) = 0``) whichever pathway Brian2 runs first: each pathway takes back the fresh
spike's ``c_0`` when the other side spiked at this ``t``.

``gate`` is a Brian2 expression ``g(t)`` (a ``TimedArray``, for instance) that scales
the presynaptic factor, ``dw = eta g(t) pre(t) dr_post/dt``: a presynaptic spike leaves
a trace of size ``g`` and takes its post-before-pre pairs at ``g``. Gating the
presynaptic side, not whichever spike comes later, matters: over a gated episode with
steady rates at its edges, the expected change is then ``eta a (r_end - r_start)``;
gating the later spike of each pair gives half of that. Phases inside one standalone run
switch learning on and off this way.
"""

from __future__ import annotations

from brian2 import second

from .kernels import Kernel


def stdp_equations(kernel: Kernel, *, gate: str = "1", extra_model: str = "") -> dict:
    """``model``, ``on_pre``, ``on_post`` strings and the ``namespace`` of constants for a
    :class:`brian2.Synapses` implementing the kernel's window. Synaptic variables: ``w``
    (dimensionless), ``eta`` (``second**2``, shared: weight change per unit of
    ``sum W``), ``tpre``/``tpost`` (last spike times; set them below 0 before a run);
    ``extra_model`` lines are appended to the model (a summed variable, for instance)."""
    order = len(kernel.coefficients)
    lines = ["w : 1", "eta : second**2 (shared, constant)", "tpre : second", "tpost : second"]
    for side in ("x", "y"):
        lines.append(f"d{side}0/dt = -{side}0 / tau_trace : 1 (event-driven)")
        lines += [f"d{side}{m}/dt = ({side}{m - 1} - {side}{m}) / tau_trace : 1 (event-driven)"
                  for m in range(1, order)]
    namespace = {"tau_trace": kernel.trace_tau * second,
                 **{f"c_{m}": c / second**2 for m, c in enumerate(kernel.coefficients)}}

    def total(side: str) -> str:
        return " + ".join(f"c_{m} * {side}{m}" for m in range(order))

    fresh = "int(t - {} < 0.5 * dt)"
    on_pre = [f"w -= eta * ({gate}) * ({total('y')} - c_0 * {fresh.format('tpost')})", "tpre = t", f"x0 += {gate}"]
    on_post = [f"w += eta * ({total('x')} - c_0 * ({gate}) * {fresh.format('tpre')})", "tpost = t", "y0 += 1"]
    if extra_model:
        lines.append(extra_model)
    return {"model": "\n".join(lines), "on_pre": "\n".join(on_pre), "on_post": "\n".join(on_post),
            "namespace": namespace}

