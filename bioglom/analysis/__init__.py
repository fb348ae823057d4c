"""Analysis of results: islands, metrics, the xarray recorder and figures (DESIGN.md 8)."""

from .islands import adjusted_rand_index, extract_islands, island_counts, island_scores, island_sizes
from .metrics import accuracy_stderr, alignment, dimension_std, effective_rank, linear_probe, mean_norm, uniformity
from .distillery import column_outputs, dispersion, ensemble_gain
from .recorder import Claim, claims_dataset, evaluations_dataset, format_claims, history_dataset, run_attrs, write_netcdf

__all__ = [
    "adjusted_rand_index", "extract_islands", "island_counts", "island_scores", "island_sizes",
    "accuracy_stderr", "alignment", "dimension_std", "effective_rank", "linear_probe", "mean_norm", "uniformity",
    "Claim", "claims_dataset", "evaluations_dataset", "history_dataset",
    "column_outputs", "dispersion", "ensemble_gain", "format_claims", "run_attrs", "write_netcdf",
]
