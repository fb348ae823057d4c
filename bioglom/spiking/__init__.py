"""Spiking variants in Brian2 (docs/design.md §7; paper 12.3): the derivative-filter STDP
synapse, builders of the S1-S3 networks, the devices they run on, and the conversion of
monitors to the rate model's xarray layout. The rate model never imports this package."""

from .column import ColumnSchedule, column_network, glom_signals, rate_column, unit_weights
from .devices import TARGETS, brian_device, check_target, simulate
from .kernels import KERNELS, Kernel, check_rates, check_time_step, make_kernel, pair_expectation, rate_rule
from .networks import poisson_pair_network, stdp_synapses, window_network
from .record import column_dataset, population_rates
from .synapses import stdp_equations

__all__ = ["ColumnSchedule", "column_network", "glom_signals", "rate_column", "unit_weights", "TARGETS", "brian_device",
           "check_target", "simulate", "KERNELS", "Kernel", "check_rates", "check_time_step", "make_kernel",
           "pair_expectation", "rate_rule", "poisson_pair_network", "stdp_synapses", "window_network",
           "column_dataset", "population_rates", "stdp_equations"]
