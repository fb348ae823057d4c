"""The wake/sleep experiment (paper 12.2; docs/claims.md W0-W4): what it measures on a model
during training, its claims and summary table, its figures."""

from .measures import ALONG, pixel_probe, probe_point, scene_point
from .claims import (validation_gain, sleep_table, SLEEP_TARGETS, sleep_claims, final_window, final_readout,
                     find_schedule)
from .figures import sleep_figures

__all__ = [
    "ALONG", "pixel_probe", "probe_point", "scene_point", "validation_gain", "sleep_table", "SLEEP_TARGETS",
    "sleep_claims", "final_window", "final_readout", "find_schedule", "sleep_figures"
]
