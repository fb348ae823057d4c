"""The spiking STDP experiment (paper 12.3; docs/claims.md S1-S3): its claims from the spiking
and rate runs, and its figures."""

from .claims import se_curve, prediction_corr, spike_claims, spike_dataset
from .figures import spike_figures

__all__ = ["se_curve", "prediction_corr", "spike_claims", "spike_dataset", "spike_figures"]
