"""The islands experiment (paper 3-7; docs/claims.md I1-I5): its claims and table (the parse
evaluation it reads is an instrument, bioglom.analysis.parse_eval)."""

from .figures import (parse_figure, example_aris, ari_band_figure, similarity_figure, clip_figure,
                      attention_maps_figure, rules_figure)
from .claims import (ISLAND_TARGETS, LOCAL_TARGETS, island_claims, island_table, local_claims, local_table,
                     strongest_baseline)

__all__ = ["parse_figure", "example_aris", "ari_band_figure", "similarity_figure", "clip_figure",
           "attention_maps_figure",
           "rules_figure", "ISLAND_TARGETS", "LOCAL_TARGETS", "island_claims", "island_table", "local_claims",
           "local_table", "strongest_baseline"]
