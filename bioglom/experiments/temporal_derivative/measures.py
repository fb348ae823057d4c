"""What the temporal-derivative simulation measures (docs/claims.md T1-T3; paper 7, 12.1,
12.3): per held-out sample, the quality of a trained model, its denoising before and
after settling and, for ``temporal_derivative``, the T1 alignment of its update with
delta's; and T3's peak memory of one update, each configuration in a fresh process."""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from ...analysis.collapse import COLLAPSE_MEASURES, collapse_measures
from ...analysis.metrics import linear_probe, representation_metrics
from ...analysis.parse_eval import settle_states, settled_features

__all__ = ["temporal_measures", "measurements_dataset", "memory_dataset", "few_label_indices", "MEMORY_RULES"]

# T3's rules: (name, rule, extra rule options)
MEMORY_RULES = (("backprop", "backprop", {}), ("delta", "delta", {}),
                ("temporal_derivative", "temporal_derivative", {"hidden_credit": "local_backprop"}))

# dimensions of the per-sample measurements beyond ``seed, columns, condition``
EXTRA_DIMS = {"probe_correct": ("sample",), "probe_correct_raw": ("sample",), "raw_pixels_correct": ("sample",),
              "probe_few_correct": ("sample",), "raw_pixels_few_correct": ("sample",), "denoise_error": ("moment", "sample"),
              "object_ari": ("moment", "sample"), "part_ari": ("moment", "sample"), "fill_error": ("moment", "sample"),
              "raw_pixels_ari": ("sample",), "baseline_ari": ("sample",), "alignment": ("batch", "step", "direction", "level"),
              "alignment_trivial": ("batch", "step", "direction", "level"), "collapse": ("level", "collapse_measure")}


def few_label_indices(labels: torch.Tensor, per_class: int) -> torch.Tensor:
    """The first ``per_class`` positions of each class in ``labels`` (in their order): the
    few labelled examples of the few-label probe, the same for every condition of a seed."""
    picks = [torch.nonzero(labels == c)[:per_class, 0] for c in torch.unique(labels)]
    return torch.sort(torch.cat(picks)).values


def temporal_measures(model, steps: int, source, held_out, *, alignment_rule=None, alignment_batches: int = 0,
                      batch: int = 1, few_labels: int = 10) -> dict:
    """Per-sample measurements of one model (read by
    :func:`~bioglom.experiments.temporal_derivative.claims`):

    - quality: on digits (``source = (data, {"train", "val", "test": indices})``) the
      validation probe accuracy (``val_accuracy``, what chooses the hidden credit) and
      the test probe's correctness per digit, standardised and raw, and the model-free
      reference, the standardised probe on the pixels (``raw_pixels_correct``,
      ``raw_pixels_val_accuracy``); the same standardised probe fitted on ``few_labels``
      training digits per class only (:func:`few_label_indices`), of the features
      (``probe_few_correct``) and of the pixels (``raw_pixels_few_correct``); on scenes (``source``
      a :class:`~bioglom.data.scene_task.HeldOutScenes`) the
      :func:`~bioglom.analysis.scene_quality` measures, the validation object ARI as
      ``val_accuracy``;
    - the test features' :func:`~bioglom.analysis.representation_metrics`, and ``collapse``
      ``[level, measure]``, the :func:`~bioglom.analysis.collapse.collapse_measures` of every
      level's settled test states (spread within and across images, participation ratio;
      on scenes also the cosine within and between objects);
    - ``denoise_error [moment, sample]``: the squared error of the image decoded from
      level 0 of ``held_out.corrupted`` at the bottom-up pass and after settling, against
      ``held_out.clean``;
    - ``alignment``, ``alignment_trivial [batch, step, direction, level]``: with
      ``alignment_rule`` (a ``temporal_derivative`` rule built with
      ``measure_alignment=True``), T1 on ``alignment_batches`` held-out batches of
      ``batch``, the weights unchanged; NaN otherwise.
    """
    from ...data.scene_task import HeldOutScenes
    from ...learning import Batch

    model.eval()
    if isinstance(source, HeldOutScenes):
        from ...analysis.scene_quality import scene_quality

        out = scene_quality(model, steps, source)
        out["val_accuracy"] = out["val_object_ari"]  # what chooses the hidden credit; the Q reference reads both
        test = settled_features(model, source.test.images, steps)
    else:
        data, split = source
        feats = {k: settled_features(model, data.images[v], steps) for k, v in split.items()}
        labels = {k: data.labels[v] for k, v in split.items()}
        out = {"val_accuracy": linear_probe(feats["train"], labels["train"], feats["val"], labels["val"])}
        for key, standardise in (("probe_correct", True), ("probe_correct_raw", False)):
            out[key] = linear_probe(feats["train"], labels["train"], feats["test"], labels["test"],
                                    return_correct=True, standardise=standardise).double().numpy()
        # a probe that sees few labels: where learned features can beat the pixels they come from
        few = few_label_indices(labels["train"], few_labels)
        out["probe_few_correct"] = linear_probe(feats["train"][few], labels["train"][few], feats["test"],
                                                labels["test"], return_correct=True).double().numpy()
        # the model-free reference: the same probe on the pixels (the same for every condition of a seed)
        pixels = {k: data.images[v].flatten(1) for k, v in split.items()}
        out["raw_pixels_val_accuracy"] = linear_probe(pixels["train"], labels["train"], pixels["val"], labels["val"])
        out["raw_pixels_correct"] = linear_probe(pixels["train"], labels["train"], pixels["test"], labels["test"],
                                                 return_correct=True).double().numpy()
        out["raw_pixels_few_correct"] = linear_probe(pixels["train"][few], labels["train"][few], pixels["test"],
                                                     labels["test"], return_correct=True).double().numpy()
        test = feats["test"]
        out["collapse"] = collapse_measures(settle_states(model, data.images[split["test"]], steps,
                                                          record=False)[-1]).numpy()
    out.update(representation_metrics(test))
    with torch.no_grad():
        states = model.settle(held_out.corrupted.to(model.device), steps).states
        out["denoise_error"] = np.stack([((model.decode(states[k][:, 0]).cpu() - held_out.clean) ** 2)
                                         .flatten(1).mean(1).double().numpy() for k in (0, -1)])  # moment sample
    shape = (alignment_batches, steps, 2, model.cfg.levels)
    out["alignment"], out["alignment_trivial"] = np.full(shape, np.nan), np.zeros(shape, bool)
    if alignment_rule is not None:
        for i in range(alignment_batches):
            part = slice(i * batch, (i + 1) * batch)
            m = alignment_rule.accumulate(model, Batch(held_out.clean[part], held_out.corrupted[part],
                                                       held_out.keep[part]).to(model.device), phase="positive").metrics
            out["alignment"][i], out["alignment_trivial"][i] = m["alignment"].numpy(), m["alignment_trivial"].numpy()
        model.zero_grad(set_to_none=True)
    return out


def measurements_dataset(per_seed: list[dict], seeds: list[int], columns, conditions) -> xr.Dataset:
    """Each seed's ``{(columns, condition name): temporal_measures result}`` stacked over
    ``seed, columns, condition`` (``conditions`` with ``name``, ``rule``,
    ``hidden_credit`` and ``optimizer``); a seed's ``(columns, "chosen_credit")`` entry,
    the hidden credit its plain-SGD run took, becomes ``sgd_hidden_credit``."""
    keys = per_seed[0][(columns[0], conditions[0].name)].keys()
    arrays = {k: np.stack([np.stack([np.stack([np.asarray(r[(c, cond.name)][k]) for cond in conditions])
                                     for c in columns]) for r in per_seed]) for k in keys}
    chosen = [[r.get((c, "chosen_credit"), "") for c in columns] for r in per_seed]
    dims = ("seed", "columns", "condition")
    ds = xr.Dataset({k: (dims + EXTRA_DIMS.get(k, ()), v) for k, v in arrays.items()},
                    coords={"seed": seeds, "columns": list(columns), "condition": [c.name for c in conditions],
                            "rule": ("condition", [c.rule for c in conditions]),
                            "hidden_credit": ("condition", [c.hidden_credit for c in conditions]),
                            "optimizer": ("condition", [c.optimizer for c in conditions]),
                            "lr_scale": ("condition", [float(getattr(c, "lr_scale", 1.0)) for c in conditions]),
                            "moment": ["bottom_up_pass", "settled"], "direction": ["bottom_up", "top_down"],
                            **({"collapse_measure": list(COLLAPSE_MEASURES)} if "collapse" in keys else {})})
    ds.alignment.attrs.update(long_name="T1: cosine between the temporal-derivative and the delta output-layer "
                              "updates", units="1")
    ds["sgd_hidden_credit"] = (("seed", "columns"), np.array(chosen, dtype=str),
                               {"long_name": "hidden credit of the plain-SGD run, chosen on validation among the Adam "
                                "runs", "units": "1"})
    return ds


def memory_dataset(configs: dict, memory_steps, batch: int, device) -> xr.Dataset:
    """T3: peak memory and time of one update of every rule of :data:`MEMORY_RULES`, for
    each column kind (``configs``: ``{columns: GlomConfig}``) and number of settling steps,
    each measured once in its own process (:func:`~bioglom.learning.profile.measure_in_subprocess`)."""
    from ...learning.profile import measure_in_subprocess

    shape = (len(MEMORY_RULES), len(configs), len(memory_steps))
    peak, seconds = np.zeros(shape), np.zeros(shape)
    for i, (_, rule, extra) in enumerate(MEMORY_RULES):
        for j, cfg in enumerate(configs.values()):
            for k, steps in enumerate(memory_steps):
                m = measure_in_subprocess({"config": cfg.to_dict(), "rule": rule, "rule_options": {"steps": steps, **extra},
                                           "batch": batch, "device": str(device)})
                peak[i, j, k], seconds[i, j, k] = m["peak_bytes"], m["seconds_per_update"]
    dims = ("memory_rule", "columns", "memory_steps")
    coords = {"memory_rule": [r[0] for r in MEMORY_RULES], "columns": list(configs), "memory_steps": list(memory_steps)}
    return xr.Dataset({"peak_memory": (dims, peak), "seconds_per_update": (dims, seconds)}, coords=coords)
