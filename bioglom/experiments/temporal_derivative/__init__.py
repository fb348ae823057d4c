"""The temporal-derivative experiment (paper 12.3; docs/claims.md T1-T3): its measures of local
rules against backprop, its claims and table, its figures."""

from .measures import temporal_measures, measurements_dataset, memory_dataset, MEMORY_RULES
from .claims import chosen_credit, chosen_backprop, reference, temporal_claims, memory_claim, temporal_table
from .figures import temporal_figures

__all__ = [
    "temporal_measures", "measurements_dataset", "memory_dataset", "MEMORY_RULES", "chosen_credit",
    "chosen_backprop", "reference", "temporal_claims", "memory_claim", "temporal_table", "temporal_figures"
]
