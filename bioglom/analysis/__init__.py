"""The instruments every experiment uses (docs/design.md §8): islands and ARI, model-free
baselines, the parse evaluation, metrics and probes, verdicts and claim rows, the xarray
recorder, result names, comparison and figures. What one experiment measures, claims
and draws is in :mod:`bioglom.experiments`."""

from .islands import (THRESHOLDS, adjusted_rand_index, choose_thresholds, connected_islands, extract_islands,
                      foreground_ari, island_counts, island_scores, island_sizes, raw_pixel_islands, threshold_sweep)
from .baselines import BASELINES, colour_components, foreground_components
from .settling import bottom_up_votes, consensus_shares, without_lateral
from .metrics import (accuracy_stderr, alignment, dimension_std, effective_rank, linear_probe, mean_norm,
                      representation_metrics, uniformity)
from .parse import PAIR_KINDS, foreground_island_size, kind_probe, masked_error, pair_similarity
from .parse_eval import ISLANDS, evaluate_clips, evaluate_parse, objects_touch, settle_states, settled_features
from .scene_quality import MOMENTS, fraction_table, gain_fraction, scene_claims, scene_dataset, scene_means, scene_quality
from .verdicts import (VERDICTS, Interval, bootstrap, interval, combine_verdicts, difference_of_means, mean_of,
                       relative_reduction, verdict_at_least, verdict_at_most, verdict_within)
from .recorder import (Claim, claims_dataset, evaluations_dataset, format_claims, history_dataset, run_attrs,
                       stack_datasets, write_netcdf)

__all__ = [
    "THRESHOLDS", "choose_thresholds", "foreground_ari", "raw_pixel_islands", "threshold_sweep",
    "adjusted_rand_index", "extract_islands", "connected_islands", "BASELINES", "colour_components",
    "foreground_components", "consensus_shares", "bottom_up_votes", "without_lateral", "ISLANDS", "evaluate_clips", "objects_touch",
    "island_counts", "island_scores", "island_sizes", "accuracy_stderr", "alignment", "dimension_std",
    "effective_rank", "linear_probe", "mean_norm", "uniformity", "representation_metrics", "scene_means",
    "VERDICTS", "Interval", "bootstrap", "interval", "combine_verdicts", "difference_of_means", "mean_of",
    "relative_reduction", "verdict_at_least", "verdict_at_most", "verdict_within", "PAIR_KINDS",
    "foreground_island_size", "kind_probe", "masked_error", "pair_similarity", "evaluate_parse", "settle_states",
    "settled_features", "Claim", "claims_dataset", "evaluations_dataset", "history_dataset", "stack_datasets",
    "MOMENTS", "fraction_table", "gain_fraction", "scene_claims", "scene_dataset", "scene_quality", "format_claims",
    "run_attrs", "write_netcdf",
]
