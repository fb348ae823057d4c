"""One table of what every result variable means: ``long_name`` and ``units``.

:func:`describe` gives a variable that has no ``long_name`` the one this table holds,
so every NetCDF file the simulations write is self-describing (docs/design.md §8).
A variable's own attributes, set where it is computed, win over the table.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

__all__ = ["VARIABLES", "COORDINATES", "CONVENTIONS", "UNITS", "describe", "lookup"]

CONVENTIONS = "CF-1.10"
# every units string a result may carry: each is valid UDUNITS-2 (tests/test_result_names.py)
UNITS = ("1", "s", "Hz", "Hz**2", "1/s**2", "bytes")

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
    "teacher_ari": ("the teacher's quality: foreground ARI of a training clip's motion segments against its objects",
                    "1"),
    "teacher_part_ari": ("the part-scale teacher's quality: foreground ARI of a training clip's part-scale motion "
                         "segments against its parts", "1"),
    "kept_update": ("the update whose weights the test scenes measure (--keep: the last, or the best on the "
                    "training curve's tracked validation scenes)", "1"),
    "fresh_seed": ("whether the seed is apart from every seed the sweeps that chose the defaults ran on", "1"),
    "velocity_mixed": ("whether an object of the training clip shares a velocity or stands still", "1"),
    # quality on the part-whole scenes (bioglom.analysis.scene_quality)
    "object_ari": ("foreground ARI of the top level's islands against the objects (held-out scenes)", "1"),
    "part_ari": ("foreground ARI of level 0's islands against the parts (held-out scenes)", "1"),
    "fill_error": ("squared error of the removed pixels, decoded from level 0 of the masked scenes", "1"),
    "collapse": ("collapse measures of the settled test states per level (bioglom.analysis.collapse): spread within "
                 "and across images, participation ratio, cosine within and between objects", "1"),
    "vote_collapse": ("collapse measures of the bottom-up votes at the first and the last settling step per level "
                      "(bioglom.analysis.settling.bottom_up_votes)", "1"),
    "val_object_ari": ("settled top level's foreground ARI against objects on the validation scenes", "1"),
    "raw_pixels_ari": ("baseline: identical raw patches, foreground ARI against objects", "1"),
    "baseline_ari": ("the strongest model-free baseline on the validation scenes, foreground ARI against objects", "1"),
    "val_baseline_ari": ("the strongest model-free baseline's mean foreground ARI on the validation scenes", "1"),
    "baseline_index": ("index of the strongest model-free baseline in bioglom.analysis.baselines.BASELINES", "1"),
    "object_ari_mean": ("settled top level's foreground ARI against objects, mean over test scenes", "1"),
    "fill_error_mean": ("squared error of the removed pixels after settling, mean over test scenes", "1"),
    # probes and representation metrics (bioglom.analysis.metrics)
    "schedule_period": ("wake, sleep or both at each training update (the schedule's period)", "1"),
    "s3_weight": ("S3: bottom-up unit weight of the spiking column", "1"),
    "s3_rate_weight": ("S3: the rate model's unit weight", "1"),
    "accuracy": ("linear-probe accuracy of the top level on held-out digits", "1"),
    "level_accuracy": ("linear-probe accuracy of each level on held-out digits", "1"),
    "denoise_mse": ("squared error of the image decoded from a masked input after settling", "1"),
    "norm": ("mean norm of the top-level probe features", "1"),
    "spread": ("mean norm of the centred top-level probe features (collapse: toward 0)", "1"),
    "dimension_std": ("mean per-dimension std of the normalised top-level features", "1"),
    "effective_rank": ("effective rank of the centred top-level probe features (Roy & Vetterli 2007)", "1"),
    "alignment": ("alignment of positive pairs (Wang & Isola 2020; lower: closer)", "1"),
    # temporal derivatives (bioglom.experiments.temporal_derivative.claims)
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
    "probe_few_correct": ("1 where the standardised linear probe fitted on a few labelled digits per class "
                          "(few_labels) classifies the test digit correctly", "1"),
    "raw_pixels_few_correct": ("1 where the same few-label probe on the pixels classifies the test digit correctly",
                               "1"),
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
    # distillery (bioglom.experiments.distillery.measures)
    "dispersion": ("dispersion of the nets' outputs (bottom-up or top-down: direction) across columns on inputs "
                   "drawn from the data, mean over levels", "1"),
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

# coordinates: (long_name, units or None for labels)
COORDINATES: dict[str, tuple[str, str | None]] = {
    "seed": ("seed of weights, data streams and evaluation sets", None),
    "update": ("training update at which the model was evaluated", "1"),
    "train_update": ("training update", "1"),
    "level": ("level of the part-whole hierarchy (0: parts, top: objects)", "1"),
    "step": ("settling step (0: the state before settling)", "1"),
    "sample": ("held-out test image", None),
    "target": ("what islands are scored against: parts or objects", None),
    "direction": ("direction of the column nets: bottom-up or top-down", None),
    "islands": ("how islands are read from the embeddings", None),
    "baseline": ("model-free baseline", None),
    "clip_baseline": ("model-free baseline on clips", None),
    "threshold": ("cosine threshold of the islands", "1"),
    "pair": ("kind of column pair", None),
    "contribution": ("contribution to the consensus", None),
    "probe_step": ("settling moment probed", None),
    "moment": ("settling moment", None),
    "collapse_measure": ("collapse measure (bioglom.analysis.collapse)", None),
    "claim": ("claim and the condition it is read on (docs/claims.md)", None),
    "claim_id": ("claim id of docs/claims.md, without its condition", None),
    "claim_condition": ("condition (run, rule or schedule) the claim is read on; empty: the claim has one reading",
                        None),
    "claim_criterion": ("what the claim asserts and how it is decided", None),
    "condition": ("condition of the run", None),
    "schedule": ("wake/sleep schedule", None),
    "kind": ("schedule kind", None),
    "block": ("day-night block length in updates (0: none)", "1"),
    "run": ("training run (columns, retina and rule)", None),
    "rule": ("learning rule", None),
    "y": ("column row", "1"),
    "x": ("column position in the row", "1"),
    "py": ("pixel row", "1"),
    "px": ("pixel position in the row", "1"),
    "channel": ("colour channel", None),
    "example": ("example test scene", None),
    "clip": ("held-out clip", None),
    "training_clip": ("training clip, in the order of the stream", None),
    "clip_example": ("example held-out clip", None),
    "probe_column": ("column whose attention is shown (one per object)", None),
    "kernel": ("STDP kernel", None),
    "time": ("time", "s"),
    "dim": ("embedding dimension", None),
    "pre_dim": ("presynaptic dimension", None),
    "model": ("spiking or rate model", None),
    "columns": ("column nets: shared or unshared", None),
    "memory_rule": ("learning rule whose peak memory is measured", None),
    "memory_steps": ("settling steps of the memory measurement", "1"),
    "hidden_credit": ("hidden credit of the local rule", None),
    "optimizer": ("optimiser of the run", None),
    "lr_scale": ("learning rate relative to the default", "1"),
    "cycle": ("updates of one wake and sleep cycle", "1"),
    "length": ("updates of the schedule", "1"),
    "images": ("training images seen", "1"),
    "retina": ("retina of the run", None),
    "location": ("whether the column nets read their location", None),
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
    """``(long_name, units)`` for a variable name, or None. Handles ``train_<metric>``."""
    if name in VARIABLES:
        return VARIABLES[name]
    if name.startswith("train_") and name[6:] in TRAINING:
        return f"{TRAINING[name[6:]]}, per training update", "1"
    return None


def describe(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with ``long_name`` and ``units`` from :data:`VARIABLES` on every data variable,
    and from :data:`COORDINATES` on every coordinate, that lacks them, and the CF
    ``Conventions`` attribute (in place, and returned)."""
    for name in ds.data_vars:
        entry = lookup(str(name))
        if entry is None:
            continue
        attrs = ds[name].attrs
        attrs.setdefault("long_name", entry[0])
        attrs.setdefault("units", entry[1])
    for dim in ("channel", "py", "px"):  # image axes: positions, so they can be selected and plotted
        if dim in ds.dims and dim not in ds.coords:
            ds.coords[dim] = np.arange(ds.sizes[dim])
    for name in ds.coords:
        entry = COORDINATES.get(str(name))
        if entry is not None:
            ds[name].attrs.setdefault("long_name", entry[0])
            if entry[1] is not None:  # labels (strings) have no units
                ds[name].attrs.setdefault("units", entry[1])
    ds.attrs.setdefault("Conventions", CONVENTIONS)
    return ds
