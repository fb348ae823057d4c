"""Quality on the part-whole scenes, for any simulation run with ``--data scenes``
(docs/claims.md, "Quality on the part-whole scenes"), and how much of the positive
controls' gain a rule, condition or schedule reaches.

:func:`scene_quality` measures one trained model on the held-out scenes of
:class:`~bioglom.data.scene_task.SceneTask`:

- ``object_ari``: foreground ARI of the top level's islands against the objects, at the
  bottom-up pass (step 0) and after settling, island thresholds chosen per level on the
  validation scenes (:func:`~bioglom.analysis.islands.choose_thresholds`);
- ``part_ari``: the same for level 0 against the parts;
- ``fill_error``: squared error of the removed pixels, decoded from level 0 of the masked
  test scenes, at step 0 and after settling;
- ``val_object_ari``: the settled top level's mean ARI on the validation scenes (the
  thresholds chosen there too), for choices made on validation;
- ``raw_pixels_ari``: the model-free baseline, columns grouped by identical patches;
- ``baseline_ari``: the strongest model-free baseline of
  :mod:`~bioglom.analysis.baselines` on the validation scenes (with the motion grouping,
  the same-signal baseline ``motion_pairs`` among them, counted from the held-out
  scenes' ``signal_images`` and ``signal_segments``), ``baseline_index`` its index in
  :data:`~bioglom.analysis.baselines.BASELINES`, ``val_baseline_ari`` its validation mean;
- ``collapse``: the collapse measures of every level's settled test states
  (:func:`~bioglom.analysis.collapse.collapse_measures`: spread within and across images,
  participation ratio, cosine within and between objects), ``[level, measure]``.

:func:`scene_claims` turns them into Q0-Q3 for every condition against a reference, the
stronger on validation of the untrained network of the same seed and the strongest
model-free baseline, and a positive control trained on the same scenes with the same
budget; :func:`gain_fraction` is Q2's statistic.
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from .claim_rows import ABOVE_ZERO, at_least, missing, per_sample
from .collapse import COLLAPSE_MEASURES, collapse_measures
from .islands import THRESHOLDS, choose_thresholds, extract_islands, foreground_ari, raw_pixel_islands
from .parse import masked_error
from .parse_eval import settle_states
from .names import VARIABLES
from .recorder import Claim
from .verdicts import interval, difference_of_means, relative_reduction

__all__ = ["MOMENTS", "SCENE_TARGETS", "scene_quality", "scene_means", "scene_dataset", "scene_part", "gain_fraction",
           "scene_claims", "fraction_table", "reference"]

MOMENTS = ("bottom_up_pass", "settled")
SCENE_TARGETS = dict(fraction=0.5)

SCENE_VARIABLES = ("object_ari", "part_ari", "fill_error", "val_object_ari", "raw_pixels_ari", "baseline_ari",
                   "val_baseline_ari", "baseline_index", "collapse")
# the dimensions of a variable that is not per scene
OWN_DIMS = {"collapse": ("level", "collapse_measure")}


def _labels(scenes, patch_size: int, levels: int):
    from ..data import column_labels

    labels = column_labels(scenes, patch_size, levels)  # b l n
    parts, objects = labels[:, 0], labels[:, 1]
    return parts, objects, objects > 0, torch.stack([parts] + [objects] * (levels - 1), 1)


@torch.no_grad()
def scene_quality(model, steps: int, held, thresholds=THRESHOLDS) -> dict:
    """The measures of the module docstring for ``model`` settled ``steps`` steps on
    ``held`` (:class:`~bioglom.data.scene_task.HeldOutScenes`). Returns numpy arrays:
    ``object_ari``, ``part_ari``, ``fill_error`` ``[moment, sample]`` (moments
    :data:`MOMENTS`), ``raw_pixels_ari`` and ``baseline_ari`` ``[sample]``, and the numbers
    ``val_object_ari``, ``val_baseline_ari`` and ``baseline_index``."""
    from .baselines import BASELINES, strongest
    from .parse_eval import baseline_islands

    cfg = model.cfg
    p, L = cfg.patch_size, cfg.levels
    v_parts, v_objects, v_fg, v_target = _labels(held.val, p, L)
    parts, objects, fg, _ = _labels(held.test, p, L)
    v_states = settle_states(model, held.val.images, steps, record=False)  # m b l n d: the two MOMENTS
    states = settle_states(model, held.test.images, steps, record=False)
    chosen = torch.stack([choose_thresholds(v, v_target, v_fg, thresholds) for v in v_states])  # m l
    islands = extract_islands(states, chosen[:, None, :])  # m b l n
    v_islands = extract_islands(v_states[-1], chosen[-1])  # b l n
    masked = settle_states(model, held.corrupted, steps, record=False)[:, :, 0]  # m b n d (level 0)
    clean = model.retinal(held.test.images.to(model.device)).cpu()
    fill = []
    for m in masked:  # two moments
        recon = torch.cat([model.decode(m[i:i + 128].to(model.device)).cpu() for i in range(0, len(m), 128)])
        fill.append(masked_error(recon, clean, held.keep))
    pairs = None
    if held.signal_images is not None:  # the same-signal baseline: the motion segments the model trained on
        from .pair_statistics import count_pairs

        pairs = count_pairs(held.signal_images, held.signal_segments, cfg.grid, p)
    base = baseline_islands(held.val, held.test, p, L, cfg.grid, thresholds, pairs)
    best = strongest({k: v[1] for k, v in base.items()})
    return {
        "baseline_ari": foreground_ari(objects, base[best][0], fg).numpy(),
        "val_baseline_ari": base[best][1],
        "baseline_index": float(BASELINES.index(best)),
        "object_ari": foreground_ari(objects[None].expand_as(islands[:, :, -1]), islands[:, :, -1], fg[None]).numpy(),
        "part_ari": foreground_ari(parts[None].expand_as(islands[:, :, 0]), islands[:, :, 0], fg[None]).numpy(),
        "fill_error": torch.stack(fill).double().numpy(),
        "raw_pixels_ari": foreground_ari(objects, raw_pixel_islands(held.test.images, p), fg).numpy(),
        "val_object_ari": float(np.nanmean(foreground_ari(v_objects, v_islands[:, -1], v_fg).numpy())),
        "collapse": collapse_measures(states[-1], objects).numpy(),
    }


def scene_means(quality: dict) -> dict:
    """Means over the test scenes of a :func:`scene_quality` result after settling, for the
    curves along ``update``: ``object_ari_mean`` (scenes without a defined ARI left out)
    and ``fill_error_mean``."""
    return {"object_ari_mean": float(np.nanmean(quality["object_ari"][-1])),
            "fill_error_mean": float(quality["fill_error"][-1].mean())}


def scene_dataset(results: dict, dims: tuple[str, ...], keys: list) -> xr.Dataset:
    """Stack :func:`scene_quality` results ``{key: result}`` (``key`` a tuple over ``dims``,
    each dimension's labels in the order of ``keys``) into one dataset over ``dims``,
    ``moment`` and ``sample``, with ``long_name`` and ``units``."""
    labels = [list(dict.fromkeys(k[i] for k in keys)) for i in range(len(dims))]
    shape = tuple(len(v) for v in labels)
    data = {}
    for var in SCENE_VARIABLES:
        if var not in results[keys[0]]:
            continue  # a result without model-free baselines: the untrained network is the reference
        long_name, units = VARIABLES[var]
        first = np.asarray(results[keys[0]][var])
        arr = np.full(shape + first.shape, np.nan)
        for k in keys:
            arr[tuple(labels[i].index(k[i]) for i in range(len(dims)))] = results[k][var]
        extra = OWN_DIMS.get(var) or {0: (), 1: ("sample",), 2: ("moment", "sample")}[first.ndim]
        data[var] = (dims + extra, arr, {"long_name": long_name, "units": units})
    coords = {**dict(zip(dims, labels)), "moment": list(MOMENTS)}
    if "collapse" in data:
        coords["collapse_measure"] = list(COLLAPSE_MEASURES)
    return xr.Dataset(data, coords=coords)


def scene_part(ds: xr.Dataset, **renamed: str) -> xr.Dataset:
    """The :func:`scene_dataset` a result holds, read back from the result (a one-process
    run's, or per-seed results merged by ``python -m bioglom.claims``): its variables of
    scene quality, with the dimensions the result renamed given their names back
    (``renamed``: the result's name = :func:`scene_dataset`'s, e.g. ``settling="moment"``).
    Raises :class:`~bioglom.config.ConfigError` when the result holds none."""
    from ..config import ConfigError

    names = [v for v in SCENE_VARIABLES if v in ds.data_vars]
    if "object_ari" not in names:
        raise ConfigError("the result holds no scene quality (variable 'object_ari'); give results of --data scenes "
                          "runs written by this version")
    return ds[names].rename(renamed)


def gain_fraction(rule, control, untrained):
    """Statistic: the fraction of the control's gain over the untrained network that the
    rule reaches, ``(mean rule - mean untrained) / (mean control - mean untrained)``."""
    m = lambda x: np.nanmean(x, axis=(-2, -1))  # noqa: E731
    return (m(rule) - m(untrained)) / (m(control) - m(untrained))


def reference(ds: xr.Dataset, dim: str, untrained: str) -> tuple[str, np.ndarray]:
    """The reference a rule's islands must beat: the untrained network of the same seed
    (settled object ARI) or the strongest model-free baseline, whichever has the higher
    mean on the validation scenes. Returns its name and its per-sample ARI ``[seeds,
    samples]``."""
    from .baselines import BASELINES

    untrained_val = float(ds.val_object_ari.sel({dim: untrained}).mean())
    settled = per_sample(ds.object_ari.sel({dim: untrained, "moment": "settled"}))
    if "baseline_ari" not in ds or untrained_val >= float(ds.val_baseline_ari.sel({dim: untrained}).mean()):
        return "the untrained network", settled
    index = int(np.round(float(ds.baseline_index.sel({dim: untrained}).max())))
    return f"the {BASELINES[index]} baseline", per_sample(ds.baseline_ari.sel({dim: untrained}))


def scene_claims(ds: xr.Dataset, dim: str, conditions, untrained: str, control: str | None,
                 resamples: int = 2000, targets: dict | None = None) -> list[Claim]:
    """Q0-Q3 for each of ``conditions`` (labels along ``dim`` of ``ds``, a
    :func:`scene_dataset` with a ``seed`` dimension), against the :func:`reference` (the
    untrained network or the strongest model-free baseline, named in the rows) and the
    positive ``control`` (None: Q2 not measured):

    - Q0 (once): the control itself learns islands, its settled object ARI minus the
      reference's > 0; Q2 is left undecided unless Q0 holds, since a fraction of a gain
      that is not there says nothing;
    - Q1: it learns islands, settled object ARI minus the reference's > 0;
    - Q2: it reaches a ``fraction`` of the control's gain over the reference,
      :func:`gain_fraction` >= 0.5;
    - Q3: settling fills in removed parts, 1 - the fill error after settling / at the
      bottom-up pass of the same model > 0 (a decoder that merely learns to reconstruct
      lowers both; only inference from the rest of the object lowers the settled one).
    """
    t = dict(SCENE_TARGETS, **(targets or {}))
    bs = dict(resamples=resamples)
    settled = ds.sel(moment="settled")
    at = lambda var, c: per_sample(settled[var].sel({dim: c}))  # noqa: E731
    name, base = reference(ds, dim, untrained)
    rows = []
    if control is not None:  # a fraction of a gain means something only where the control gains
        q0 = at_least(f"Q0 {control}", interval(difference_of_means, at("object_ari", control), base, **bs),
                      ABOVE_ZERO,
                      f"the positive control {control} learns islands: settled object ARI minus {name}'s > 0 (the "
                      "stronger reference on validation; Q2 is measured only where this holds)")
        rows.append(q0)
        if q0.verdict != "held":
            control = None
    for c in conditions:
        rule = at("object_ari", c)
        rows.append(at_least(f"Q1 {c}", interval(difference_of_means, rule, base, **bs), ABOVE_ZERO,
                             f"{c} learns islands: settled top-level foreground ARI against objects minus {name}'s "
                             "> 0 (the stronger reference on validation)"))
        if control is None:
            rows.append(missing(f"Q2 {c}", "a positive control that gains (Q0 held)"))
        else:
            rows.append(at_least(f"Q2 {c}", interval(gain_fraction, rule, at("object_ari", control), base, **bs),
                                 t["fraction"],
                                 f"{c} reaches {t['fraction']} of the gain of {control} (same scenes and budget) over "
                                 f"{name}: (ARI - reference) / (control's ARI - reference) >= {t['fraction']}"))
        fill = ds.fill_error.sel({dim: c})
        rows.append(at_least(f"Q3 {c}", interval(relative_reduction, per_sample(fill.sel(moment="settled")),
                                                  per_sample(fill.sel(moment="bottom_up_pass")), **bs), ABOVE_ZERO,
                             f"{c}: settling fills in removed parts, 1 - fill error after settling / at the "
                             "bottom-up pass (same model) > 0"))
    return rows


def fraction_table(ds: xr.Dataset, dim: str, untrained: str, controls: list[str], resamples: int = 2000) -> str:
    """One line per label of ``dim``: settled object ARI, the same at the bottom-up pass
    (step 0), the settled ARI minus the untrained network's (paired per seed and scene, with
    its 95 % interval), part ARI and fill error (means over seeds and scenes), the top
    level's spread across images and participation ratio where the result holds them, and
    the fraction of each control's ARI gain with its 95 % interval (the same interval as
    :func:`scene_claims`, so Q2's row and the table agree) -- shown only for a control whose
    own gain over the reference is above 0 over its whole interval (Q0), since a fraction of
    a gain that is not there says nothing."""
    settled = ds.sel(moment="settled")
    name, base = reference(ds, dim, untrained)
    gains = {c: interval(difference_of_means, per_sample(settled.object_ari.sel({dim: c})), base,
                          resamples=resamples) for c in controls}
    width = max(len(str(c)) for c in ds[dim].values) + 2
    cell = max([28] + [len(c) + 12 for c in controls])
    collapse = "collapse" in ds
    rows = [f"{'':<{width}}{'object ARI':>11}{'step 0':>8}{'- untrained [95 %]':>26}{'part ARI':>10}{'fill err':>10}"
            + (f"{'across':>8}{'PR':>6}" if collapse else "")
            + "".join(f"{'of ' + c + ' gain':>{cell}}" for c in controls)]
    untrained_ari = per_sample(settled.object_ari.sel({dim: untrained}))
    for c in ds[dim].values:
        e = settled.sel({dim: c})
        over = ""
        if c != untrained:
            g = interval(difference_of_means, per_sample(e.object_ari), untrained_ari, resamples=resamples)
            over = f"{g.value:+.3f} [{g.low:.3f}, {g.high:.3f}]"
        start = float(ds.object_ari.sel({dim: c, "moment": "bottom_up_pass"}).mean())
        cells = []
        for ctrl in controls:
            if c in (untrained, ctrl):
                text = f"(gain {gains[ctrl].value:.3f} [{gains[ctrl].low:.3f}, {gains[ctrl].high:.3f}])" if c == ctrl else ""
            elif gains[ctrl].low <= 0:
                text = "- (no control gain)"
            else:
                f = interval(gain_fraction, per_sample(e.object_ari), per_sample(settled.object_ari.sel({dim: ctrl})),
                              base, resamples=resamples)
                text = f"{f.value:.2f} [{f.low:.2f}, {f.high:.2f}]"
            cells.append(f"{text:>{cell}}")
        spread = ""
        if collapse:
            top = ds.collapse.sel({dim: c}).isel(level=-1)
            top = top.mean("seed") if "seed" in top.dims else top
            spread = (f"{float(top.sel(collapse_measure='spread_across')):>8.3f}"
                      f"{float(top.sel(collapse_measure='participation_ratio')):>6.2f}")
        rows.append(f"{str(c):<{width}}{float(e.object_ari.mean()):>11.3f}{start:>8.3f}{over:>26}"
                    f"{float(e.part_ari.mean()):>10.3f}"
                    f"{float(e.fill_error.mean()):>10.4f}" + spread + "".join(cells))
    raw = float(ds.raw_pixels_ari.mean())
    return "\n".join(rows) + (f"\n(settled; raw_pixels baseline object ARI {raw:.3f}; gains and fractions over {name}, "
                              f"the stronger reference on validation (ARI {float(np.nanmean(base)):.3f}); a control's "
                              "row gives its gain; 95 % intervals over seeds and scenes"
                              + ("; across, PR: the top level's spread across images and participation ratio, "
                                 "bioglom.analysis.collapse" if collapse else "") + ")")
