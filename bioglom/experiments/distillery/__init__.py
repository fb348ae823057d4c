"""The giant-distillery experiment (paper 12.1; docs/claims.md D1-D5): its measures of
unshared, distilled and shared column nets, its claims and table, its figures."""

from .measures import (column_outputs, dispersion, ensemble_gain, net_inputs, object_ensemble_ratio, ink_columns,
                       DIRECTIONS, distillery_point, distillery_finals, final_quality)
from .claims import DISTILLERY_TARGETS, distillery_claims, distillery_table, find_run
from .figures import distillery_figures

__all__ = [
    "column_outputs", "dispersion", "ensemble_gain", "net_inputs", "object_ensemble_ratio", "ink_columns",
    "DIRECTIONS", "distillery_point", "distillery_finals", "final_quality", "DISTILLERY_TARGETS",
    "distillery_claims", "distillery_table", "find_run", "distillery_figures"
]
