"""One table of what every result variable means: ``long_name`` and ``units``.

:func:`describe` gives a variable that has no ``long_name`` the one this table holds,
so every NetCDF file the simulations write is self-describing (docs/design.md §8).
A variable's own attributes, set where it is computed, win over the table.
"""

from __future__ import annotations

import re

import xarray as xr

__all__ = ["VARIABLES", "describe", "lookup"]

# name: (long_name, units)
VARIABLES: dict[str, tuple[str, str]] = {
    # claims (docs/claims.md)
    "claim_value": ("measured value of the claim", "1"),
    "claim_low": ("lower end of the claim value's 95 % interval", "1"),
    "claim_high": ("upper end of the claim value's 95 % interval", "1"),
    "claim_verdict": ("verdict: held, not held or undecided", "1"),
    "claim_held": ("whether the verdict is held", "1"),
    # islands
    "example_islands": ("island ids of example test scenes", "1"),
    "example_truth": ("ground-truth segment ids (level 0 parts, others objects)", "1"),
    "example_image": ("example test scene", "1"),
    # quality on the part-whole scenes (bioglom.analysis.scene_quality)
    "object_ari": ("foreground ARI of the top level's islands against the objects (held-out scenes)", "1"),
    "part_ari": ("foreground ARI of level 0's islands against the parts (held-out scenes)", "1"),
    "fill_error": ("squared error of the removed pixels, decoded from level 0 of the masked scenes", "intensity^2"),
    "val_object_ari": ("settled top level's foreground ARI against objects on the validation scenes", "1"),
    "raw_pixels_ari": ("baseline: identical raw patches, foreground ARI against objects", "1"),
    "baseline_ari": ("the strongest model-free baseline on the validation scenes, foreground ARI against objects", "1"),
    "val_baseline_ari": ("the strongest model-free baseline's mean foreground ARI on the validation scenes", "1"),
    "baseline_index": ("index of the strongest model-free baseline in bioglom.analysis.baselines.BASELINES", "1"),
    "object_ari_mean": ("settled top level's foreground ARI against objects, mean over test scenes", "1"),
    "fill_error_mean": ("squared error of the removed pixels after settling, mean over test scenes", "intensity^2"),
    # probes and representation metrics (bioglom.analysis.metrics)
    "schedule_period": ("wake, sleep or both at each training update (the schedule's period)", "1"),
    "s3_weight": ("S3: bottom-up unit weight of the spiking column", "1"),
    "s3_rate_weight": ("S3: the rate model's unit weight", "1"),
    "accuracy": ("linear-probe accuracy of the top level on held-out digits", "1"),
    "denoise_mse": ("squared error of the image decoded from a masked input after settling", "1"),
    "norm": ("mean norm of the top-level probe features", "1"),
    "spread": ("mean norm of the centred top-level probe features (collapse: toward 0)", "1"),
    "dimension_std": ("mean per-dimension std of the normalised top-level features", "1"),
    "effective_rank": ("effective rank of the centred top-level probe features (Roy & Vetterli 2007)", "1"),
    "alignment": ("alignment of positive pairs (Wang & Isola 2020; lower: closer)", "1"),
    # temporal derivatives (bioglom.analysis.temporal_claims)
    "val_accuracy": ("linear-probe accuracy of the top level on validation digits (standardised features)", "1"),
    "halo_bytes_per_step": ("bytes all processes sent each other per settling step in training (--distributed: "
                            "the halo rows of the column grid)", "bytes"),
    "probe_correct": ("1 where the linear probe (standardised features) classifies the test digit correctly", "1"),
    "probe_correct_raw": ("1 where the linear probe of the features as they are (scale-sensitive) classifies the "
                          "test digit correctly", "1"),
    "probe_correct_start": ("1 where the linear probe (standardised features) of the run's untrained start "
                            "classifies the test digit correctly", "1"),
    "raw_pixels_correct": ("1 where the same standardised linear probe on the pixels (the model-free reference) "
                           "classifies the test digit correctly", "1"),
    "raw_pixels_val_accuracy": ("accuracy of the standardised linear probe on the pixels, validation digits", "1"),
    "feature_spread": ("mean norm of the centred top-level probe features of the test digits, before (start) and "
                       "after (end) training (collapse: toward 0)", "1"),
    "accuracy_raw": ("linear-probe accuracy of the top level's features as they are (scale-sensitive), held-out "
                     "digits", "1"),
    "centred_norm": ("norm of a held-out digit's centred top-level probe features (their mean is the spread)", "1"),
    "denoise_error": ("mean squared error of the image decoded from level 0, from a masked test digit", "1"),
    "alignment_trivial": ("whether the state equals the student's prediction, so the T1 cosine is 1 by "
                          "construction", "1"),
    "peak_memory": ("peak memory of one training update above the pre-update baseline", "bytes"),
    "uniformity": ("uniformity on the sphere (Wang & Isola 2020; lower: more even)", "1"),
    # distillery (bioglom.analysis.distillery)
    "dispersion_bottom_up": ("dispersion of the bottom-up nets' outputs across columns on inputs drawn from the data, "
                             "mean over levels", "1"),
    "dispersion_top_down": ("dispersion of the top-down nets' outputs across columns on inputs drawn from the data, "
                            "mean over levels", "1"),
    "ensemble_gain": ("ensemble gain of island-averaged predictions over single columns, mean over levels", "1"),
    "dispersion_inputs": ("dispersion of the unshared column nets on one common input drawn from the data, mean "
                          "over levels and directions", "1"),
    "ensemble_ratio": ("error of the object-averaged bottom-up prediction over the single predictions' error, on a "
                       "digit's ink columns, mean over levels", "1"),
    # timing
    "seconds_per_update": ("wall time per training update", "s"),
    # spikes (simulations/stdp_spiking.py)
    "s1_tolerance": ("S1: largest allowed |measured - analytic| window: dt max|W'| + the traces' fit error", "1/s**2"),
    "s2_change": ("S2: summed weight change of one Poisson trial", "Hz**2"),
    "s2_se_slope": ("S2: log-log slope of the standard error against the number of trials (-0.5 expected)", "1"),
    "s3_weight_change_corr": ("S3: correlation of the spiking column's weight changes with the rate model's", "1"),
    "s3_prediction_corr": ("S3: held-out correlation of the predicted with the target consensus, per model", "1"),
    "s2_mean": ("S2: mean weight change over Poisson trials", "Hz**2"),
    "s2_se": ("S2: standard error of the mean weight change", "Hz**2"),
    "s2_rate_rule": ("S2: the rate rule's weight change, integral of pre x d(post)/dt", "Hz**2"),
    "s2_exact": ("S2: exact expectation of the pair-based weight change", "Hz**2"),
    "s3_inputs": ("S3: presynaptic rates of each sample (level-0 state of an untrained GLOM)", "1"),
    "s3_targets": ("S3: postsynaptic target of each sample (level-1 consensus)", "1"),
    "s3_is_test": ("S3: whether the sample is held out from learning", "1"),
}

# metrics a rule reports per update, kept as train_<name>
TRAINING = {
    "loss": "the rule's loss", "recon": "reconstruction error", "agree": "agreement of predictions with the consensus",
    "separate": "negative hinge", "agreement": "agreement of predictions with the consensus",
    "movement": "movement of the consensus between steps", "hinge": "negative hinge",
    "autoencoder": "the front end's local autoencoder error", "supervised": "supervised island loss (control)",
    "field": "neural-field prediction error of the top level",
    "grouped": "island loss against the label-free grouping (motion segments)",
    "contrast": "scene-level contrast of two views",
}


def lookup(name: str) -> tuple[str, str] | None:
    """``(long_name, units)`` for a variable name, or None. Handles ``train_<metric>`` and
    ``<name>_level<N>``."""
    if name in VARIABLES:
        return VARIABLES[name]
    if name.startswith("train_") and name[6:] in TRAINING:
        return f"{TRAINING[name[6:]]}, per training update", "1"
    m = re.fullmatch(r"(.+)_level(\d+)", name)
    if m:
        base = lookup(m.group(1))
        if base:
            level = f"level {m.group(2)}"
            if ", mean over levels" in base[0]:
                long_name = base[0].replace(", mean over levels", f", {level}")
            else:
                long_name = re.sub(r"the top level|top-level", level, base[0], count=1)
                long_name = long_name if long_name != base[0] else f"{base[0]} ({level})"
            return long_name, base[1]
    return None


def describe(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with ``long_name`` and ``units`` from :data:`VARIABLES` on every data variable
    that lacks them (in place, and returned)."""
    for name in ds.data_vars:
        entry = lookup(str(name))
        if entry is None:
            continue
        attrs = ds[name].attrs
        attrs.setdefault("long_name", entry[0])
        attrs.setdefault("units", entry[1])
    return ds
