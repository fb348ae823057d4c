"""From Brian2 monitors to the xarray layout of the rate model's outputs (docs/design.md §8):
the spiking column's population rates become ``state`` over ``step, level, dim`` (a step
is a time bin here, with its time as a coordinate), as ``Trajectory.to_xarray`` names
them, and its unit weights ``weight`` over ``sample, pre_dim, dim``."""

from __future__ import annotations

import numpy as np
import xarray as xr
from brian2 import second

from ..config import ConfigError
from .column import unit_weights


def population_rates(indices, times, *, population: int, units: int, bin_width: float, duration: float) -> np.ndarray:
    """Mean firing rate (Hz) of each unit's ``population`` neurons in bins of
    ``bin_width`` s: ``[bins, units]``; neuron ``k`` belongs to unit ``k // population``."""
    if not 0 < bin_width <= duration:
        raise ConfigError(f"bin_width={bin_width} s is not allowed; it must be > 0 and <= the run's {duration} s")
    bins = int(round(duration / bin_width))
    idx = np.asarray(indices, dtype=np.int64)
    b = np.minimum((np.asarray(times, dtype=np.float64) / bin_width).astype(np.int64), bins - 1)
    counts = np.bincount(b * units + idx // population, minlength=bins * units).reshape(bins, units)
    return counts / (population * bin_width)


def column_dataset(monitors: dict, *, population: int, units: int, bin_width: float) -> xr.Dataset:
    """The spiking column's record: ``state`` (rates, ``[step, level, dim]``; level 0 the
    presynaptic, level 1 the postsynaptic population) and ``weight`` (unit weights at the
    start of every sample and at the end, ``[sample, pre_dim, dim]``)."""
    duration = float(monitors["duration"] / second)
    levels = [population_rates(monitors[k].i[:], monitors[k].t[:] / second, population=population, units=units,
                               bin_width=bin_width, duration=duration) for k in ("pre", "post")]
    state = np.stack(levels, 1)
    syn = monitors["synapses"]
    pre, post = np.asarray(syn.i[:]), np.asarray(syn.j[:])
    history = np.concatenate([np.asarray(monitors["weights"].w[:]).T, np.asarray(syn.w[:])[None]])
    weight = unit_weights(history, pre, post, population=population, d=units)
    steps = np.arange(state.shape[0])
    return xr.Dataset(
        {"state": (("step", "level", "dim"), state, {"long_name": "population firing rate", "units": "Hz"}),
         "weight": (("sample", "pre_dim", "dim"), weight,
                    {"long_name": "bottom-up unit weight (mean over the populations' synapses)"})},
        coords={"step": steps, "time": ("step", (steps + 0.5) * bin_width, {"units": "s"}),
                "level": [0, 1], "dim": np.arange(units), "pre_dim": np.arange(units),
                "sample": np.arange(weight.shape[0])})
