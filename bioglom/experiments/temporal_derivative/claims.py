"""Claims T1-T3 (docs/claims.md, "Temporal derivatives") from per-sample measurements
stacked over a ``seed`` dimension.

The dataset holds, for every ``condition`` (a trained rule, or ``untrained``; coordinates
``rule``, ``hidden_credit`` and ``optimizer`` along it) and column kind (``columns``):

- ``probe_correct`` and ``probe_correct_raw`` (``seed, columns, condition, sample``): 1
  where the linear probe of the top level (standardised features; features as they
  are) classifies a held-out test digit correctly;
- ``val_accuracy`` (``seed, columns, condition``): the standardised probe's accuracy on
  validation digits, which chooses the hidden credit of ``temporal_derivative``;
- ``denoise_error`` (``seed, columns, condition, moment, sample``): squared error of the
  image decoded from level 0, at the bottom-up pass and after settling;
- ``alignment`` and ``alignment_trivial`` (``seed, columns, condition, batch, step,
  direction, level``): the cosine between the temporal-derivative and the delta
  output-layer updates, and where it is 1 by construction (the state is the student's
  own prediction), per held-out evaluation batch.

The hidden credit of ``temporal_derivative`` is chosen per seed, column kind and
optimizer on the validation accuracy, never on the test digits. Every value comes with
a 95 % interval from :func:`~bioglom.analysis.verdicts.interval` over seeds and test
samples (digits, or evaluation batches for T1) and a three-way verdict.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ...analysis.claim_rows import ABOVE_ZERO, at_least, collapse_gate, combined, missing, per_sample
from ...analysis.recorder import Claim
from ...analysis.verdicts import interval, difference_of_means, mean_of, relative_reduction

__all__ = ["chosen_credit", "chosen_backprop", "reference", "temporal_claims", "memory_claim", "temporal_table"]

TD = "temporal_derivative"

# T2's parts: (id, variable, condition minus condition, what it needs, criterion); "adam" and
# "sgd" stand for the temporal-derivative condition chosen on validation with that optimizer
T2_PARTS = (
    ("T2a", "probe_correct", "adam", "reference", "temporal_derivative (Adam) learns: its probe accuracy minus "
     "REFERENCE's > 0 (standardised probe; the stronger reference on validation)"),
    ("T2b", "probe_correct", "backprop", "adam", "not as well as backprop: backprop's probe accuracy minus "
     "temporal_derivative's (Adam) > 0 (each the best of its variants on validation: hidden credits, learning rates)"),
    ("T2c", "probe_correct", "sgd", "reference", "temporal_derivative learns with its own change (plain SGD): probe "
     "accuracy minus REFERENCE's > 0"),
    ("T2d", "probe_correct_raw", "adam", "untrained", "temporal_derivative (Adam) learns on the scale-sensitive probe "
     "too (features as they are, so collapse shows): accuracy minus the untrained network's > 0"),
    ("T2e", "probe_few_correct", "adam", "reference", "temporal_derivative (Adam) learns more than the pixels hold "
     "where labels are few: its few-label probe accuracy (a few labelled digits per class) minus REFERENCE's with the "
     "same probe > 0 (the reference T2a uses)"),
)
STANDARDISED = ("T2a", "T2b", "T2c", "T2e")  # the parts that read the standardised probe (collapse-gated)


def reference(d: xr.Dataset, quality: str = "probe_correct") -> tuple[str, np.ndarray | None]:
    """The stronger reference on validation, per sample ``[seeds, samples]``: the untrained
    network or the model-free one (on digits the same probe on the pixels; on scenes the
    strongest baseline of :func:`~bioglom.analysis.scene_quality.reference`), with its name."""
    if "untrained" not in set(d.condition.values):
        return "the untrained network", None
    if quality != "probe_correct":
        from ...analysis.scene_quality import reference as scene_reference

        if "baseline_ari" in d:
            return scene_reference(d, "condition", "untrained")
    q = d[quality]
    untrained = per_sample(q.sel(moment="settled", condition="untrained") if "moment" in q.dims
                           else q.sel(condition="untrained"))
    if "raw_pixels_correct" in d and quality == "probe_correct" and (
            float(d.raw_pixels_val_accuracy.sel(condition="untrained").mean())
            > float(d.val_accuracy.sel(condition="untrained").mean())):
        return "raw pixels", per_sample(d.raw_pixels_correct.sel(condition="untrained"))
    return "the untrained network", untrained


def chosen_credit(ds: xr.Dataset, optimizer: str) -> xr.DataArray | None:
    """The ``temporal_derivative`` condition with the best validation accuracy, per seed and
    column kind, among those trained with ``optimizer`` (None if there is none)."""
    return _best_on_validation(ds, ds.condition[(ds.rule == TD) & (ds.optimizer == optimizer)].values)


def chosen_backprop(ds: xr.Dataset) -> xr.DataArray | str | None:
    """The label-free backprop condition with the best validation accuracy, per seed and
    column kind, among its learning rates (``lr_scale``): backprop gets as many tries as
    the rule T2b compares it with. The label-trained control is not among them."""
    from ...learning.controls import LABEL_TRAINED

    pool = ds.condition[(ds.rule == "backprop") & (ds.condition != LABEL_TRAINED)].values
    return _best_on_validation(ds, pool)


def _best_on_validation(ds: xr.Dataset, pool) -> xr.DataArray | None:
    if len(pool) == 0:
        return None
    val = ds.val_accuracy.sel(condition=pool)
    best = val.fillna(-1).argmax("condition")
    return xr.DataArray(pool[best.values], dims=best.dims, coords={k: best[k] for k in best.dims if k in best.coords})


def temporal_claims(ds: xr.Dataset, columns: str, resamples: int = 2000, quality: str = "probe_correct",
                    quality_raw: str | None = "probe_correct_raw") -> list[Claim]:
    """T1 and T2 for one column kind (see the module docstring for ``ds``).

    ``quality`` and ``quality_raw`` name the per-sample quality T2 compares (on the
    part-whole scenes: ``object_ari``, read after settling where it has a ``moment``
    dimension, and no scale-sensitive variant, so T2d is not measured).

    - T1: mean cosine of the non-trivial alignment entries (every step and level where
      the state is not the student's prediction), per evaluation batch, of the chosen
      temporal-derivative rule (Adam) > 0 for the bottom-up and for the top-down nets
      (a mean over both could hide opposite signs); T1p, its precondition: settling
      lowers the decoding error of that rule's model, ``1 - error settled / error at the
      bottom-up pass > 0``.
    - T2: the chosen temporal-derivative rule learns, not as well as backprop: its probe
      accuracy minus the untrained network's > 0 (T2a, Adam; T2c, plain SGD; T2d, Adam,
      with the scale-sensitive probe) and backprop's minus its > 0 (T2b).
    """
    d = ds.sel(columns=columns)
    bs = dict(resamples=resamples)
    names = set(d.condition.values)
    rows = []
    adam, sgd = chosen_credit(d, "adam"), chosen_credit(d, "sgd")

    if adam is None:
        rows += [missing("T1", "temporal_derivative with adam"), missing("T1p", "temporal_derivative with adam")]
    else:
        al = d.alignment.sel(condition=adam)
        al = al.where(~d.alignment_trivial.sel(condition=adam).astype(bool))
        parts = [at_least(f"T1 {direction}", interval(mean_of, per_sample(
            al.sel(direction=direction).mean(("step", "level"), skipna=True), "batch"), **bs), ABOVE_ZERO,
            f"{str(direction).replace('_', '-')} nets: mean cosine over settling steps and levels > 0")
            for direction in al.direction.values]
        overall = interval(mean_of, per_sample(al.mean(("step", "direction", "level"), skipna=True), "batch"), **bs)
        rows.append(combined("T1", parts, "the temporal-derivative update points where the delta (local gradient) "
                             "update points, in the bottom-up and the top-down nets: cosine of the two output-layer "
                             "updates, entries that are 1 by construction left out, hidden credit chosen on "
                             "validation (Adam); held when both directions are (value: mean over both)",
                             main=Claim.measured("T1", overall, "undecided", "")))
        rows += parts
        err = d.denoise_error.sel(condition=adam)
        rows.append(at_least("T1p", interval(relative_reduction, per_sample(err.sel(moment="settled")),
                                              per_sample(err.sel(moment="bottom_up_pass")), **bs), ABOVE_ZERO,
                             "T1's precondition, representations improve during settling: 1 - decoding error after "
                             "settling / at the bottom-up pass > 0 (same model)"))

    chosen = {"adam": adam, "sgd": sgd, "untrained": "untrained" if "untrained" in names else None,
              "backprop": chosen_backprop(d)}
    ref_name, ref = reference(d, quality)
    chosen["reference"] = "reference" if ref is not None else None
    parts = []
    few = "probe_few_correct" if quality == "probe_correct" and "probe_few_correct" in d else None
    names = {"probe_correct": quality, "probe_correct_raw": quality_raw, "probe_few_correct": few}
    for id_, var, a, b, criterion in T2_PARTS:
        var = names[var]
        if var is None and id_ == "T2e":
            continue  # the few-label probe is measured on digits only
        if chosen[a] is None or chosen[b] is None or var is None:
            parts.append(missing(id_, f"the {a} and {b} conditions" if var else "a scale-sensitive probe"))
            continue
        q = d[var].sel(moment="settled") if "moment" in d[var].dims else d[var]
        criterion = criterion.replace("REFERENCE", ref_name)
        if var not in ("probe_correct", "probe_few_correct"):
            label = "settled object ARI" if var == "object_ari" else var.replace("_", " ")
            criterion = criterion.replace("probe accuracy", label).replace(" (standardised probe", " (")\
                .replace(" (; ", " (")
        reference_values = ref
        if var == "probe_few_correct" and ref is not None:  # the same reference, read with the few-label probe
            reference_values = per_sample(d.raw_pixels_few_correct.sel(condition="untrained")) \
                if ref_name == "raw pixels" else per_sample(q.sel(condition="untrained"))
        values = [reference_values if k == "reference" else per_sample(q.sel(condition=chosen[k])) for k in (a, b)]
        row = at_least(id_, interval(difference_of_means, *values, **bs), ABOVE_ZERO, criterion)
        if id_ in STANDARDISED and var == "probe_correct" and "spread" in d:
            row = collapse_gate(row, _spreads(d, {k: chosen[k] for k in (a, b) if k not in ("reference", "untrained")}))
        parts.append(row)
    rows.append(combined("T2", parts, f"T2a-T2{'e' if few else 'd'} all held (value: T2a)"))
    return rows + parts


def memory_claim(peak: xr.DataArray, local_bound: float = 1.2, resolution: float = 0.0) -> Claim:
    """T3 from ``peak`` (``memory_rule, columns, memory_steps``; ``memory_rule`` ``backprop``
    first): every local rule's peak at the most steps within ``local_bound`` times its
    peak at the fewest, and backprop through time's above that.

    Each peak is one measurement in a fresh process, known to ``+- resolution`` bytes
    (:func:`~bioglom.learning.profile.peak_resolution`), so each ratio ``p_most / p_fewest``
    lies in ``[(p_most - r) / (p_fewest + r), (p_most + r) / (p_fewest - r)]``. The value
    is the largest local ratio, with that interval; held when the largest local ratio's
    upper end is within the bound and backprop's smallest lower end above it, not held when
    the measurements put either on the wrong side, undecided otherwise (peaks the size of
    the resolution decide nothing)."""
    steps = peak.memory_steps.values
    most, fewest = peak.isel(memory_steps=-1), peak.isel(memory_steps=0)
    ratio = most / np.maximum(fewest, 1)  # memory_rule columns
    low = np.maximum(most - resolution, 0) / np.maximum(fewest + resolution, 1)
    high = (most + resolution) / np.maximum(fewest - resolution, 1)
    local_rules, bptt_rule = ratio.memory_rule != "backprop", "backprop"
    local = float(ratio.sel(memory_rule=local_rules).max())
    local_low, local_high = float(low.sel(memory_rule=local_rules).max()), float(high.sel(memory_rule=local_rules).max())
    bptt = float(ratio.sel(memory_rule=bptt_rule).min())
    bptt_low, bptt_high = float(low.sel(memory_rule=bptt_rule).min()), float(high.sel(memory_rule=bptt_rule).min())
    if local_high <= local_bound < bptt_low:
        verdict = "held"
    elif local_low > local_bound or bptt_high <= local_bound:
        verdict = "not held"
    else:
        verdict = "undecided"
    return Claim("T3", local, verdict == "held",
                 f"local rules' peak memory at {steps[-1]} steps within {local_bound}x of that at {steps[0]} steps, "
                 f"and backprop through time's above {local_bound}x (value: largest local ratio; backprop's "
                 f"{bptt:.2f} [{bptt_low:.2f}, {bptt_high:.2f}]; one measurement per configuration in a fresh "
                 f"process, the interval from its resolution of {resolution / 2**10:.0f} KiB)", local_low, local_high,
                 verdict)


def _spreads(d: xr.Dataset, conditions: dict) -> dict:
    """``{name: (spread, the untrained network's)}`` of ``conditions`` (``{name: condition}``,
    a condition a label or a per-seed choice), means over seeds: the spread of the probe's
    features and, where recorded, the top level's spread across images (``collapse``)."""
    if "untrained" not in set(d.condition.values):
        return {}
    untrained = float(d.spread.sel(condition="untrained").mean())
    names = {"adam": "temporal_derivative (Adam)", "sgd": "temporal_derivative (SGD)", "backprop": "backprop"}
    out = {names.get(k, k): (float(d.spread.sel(condition=c).mean()), untrained) for k, c in conditions.items()}
    if "collapse" in d:  # a net that outputs the same vector whatever the input keeps its spread within an image
        across = d.collapse.isel(level=-1).sel(collapse_measure="spread_across")
        start = float(across.sel(condition="untrained").mean())
        out.update({f"{names.get(k, k)}, top level across images": (float(across.sel(condition=c).mean()), start)
                    for k, c in conditions.items()})
    return out


def temporal_table(ds: xr.Dataset) -> str:
    """The temporal-derivative summary on digits: per condition and column kind the probe
    accuracy (standardised and raw), the settled denoising error, spread and effective
    rank, means over seeds."""
    m = ds.mean("seed")
    head = f"{'condition':<42}" + "".join(f"{c:>34}" for c in ds.columns.values)
    rows = [head, f"{'':<42}" + "".join(f"{'probe  raw  denoise spread rank':>34}" for _ in ds.columns.values)]
    for n in ds.condition.values:
        cells = []
        for c in ds.columns.values:
            x = m.sel(columns=c, condition=n)
            cells.append(f"{float(x.probe_correct.mean()):>8.3f}{float(x.probe_correct_raw.mean()):>6.3f}"
                         f"{float(x.denoise_error.sel(moment='settled').mean()):>9.4f}{float(x.spread):>7.3f}"
                         f"{float(x.effective_rank):>5.1f}")
        rows.append(f"{n:<42}" + "".join(f"{c:>34}" for c in cells))
    if "raw_pixels_correct" in ds and "untrained" in set(ds.condition.values):
        u = ds.sel(condition="untrained")
        rows.append(f"{'raw pixels (the same standardised probe)':<42}" + "".join(
            f"{float(u.raw_pixels_correct.sel(columns=c).mean()):>8.3f}" + " " * 26 for c in ds.columns.values))
        rows.append("validation: raw pixels " + ", ".join(
            f"{float(u.raw_pixels_val_accuracy.sel(columns=c).mean()):.3f}" for c in ds.columns.values)
            + "; untrained network " + ", ".join(f"{float(u.val_accuracy.sel(columns=c).mean()):.3f}"
                                                 for c in ds.columns.values))
    return "\n".join(rows)
