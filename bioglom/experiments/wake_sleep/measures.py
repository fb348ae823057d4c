"""What the wake/sleep simulation measures on a model during training (docs/claims.md
W0-W4; paper 12.2): on digits, linear probes of the settled levels and the shape of the
top level's states; on the part-whole scenes, island quality and the same shape."""

from __future__ import annotations

import numpy as np
import torch

from ...analysis.collapse import collapse_measures
from ...analysis.metrics import alignment, dimension_std, linear_probe, representation_metrics, uniformity
from ...analysis.parse_eval import settled_features
from ...analysis.scene_quality import scene_means, scene_quality

__all__ = ["ALONG", "pixel_probe", "probe_point", "scene_point"]

# the evaluations of probe_point that are arrays, and their dimensions (per held-out digit, per level)
ALONG = {"probe_correct": ("sample",), "centred_norm": ("sample",), "level_accuracy": ("level",),
         "collapse": ("level", "collapse_measure")}


def probe_point(model, steps: int, probe_fit, probe_eval, probe_val=None) -> dict:
    """On videos ``probe_fit`` and ``probe_eval`` (:class:`~bioglom.data.Digits`-like, images
    ``[b, 2, C, H, W]``), settled ``steps`` steps from their first frame and averaged over
    columns: the standardised linear-probe accuracy of the top level (``accuracy``) and of
    every level (``level_accuracy``, along ``level``), the scale-sensitive probe (``accuracy_raw``), per digit its
    correctness (``probe_correct``) and centred norm, and the top level's
    :func:`~bioglom.analysis.representation_metrics`, per-dimension std, alignment of each
    digit's two frames and uniformity; ``collapse`` ``[level, measure]``, the
    :func:`~bioglom.analysis.collapse.collapse_measures` of the held-out digits' settled
    states (spread within and across images, participation ratio)."""
    model.eval()
    with torch.no_grad():
        fit, columns, nxt = (model.settle(v.to(model.device), steps, record=False).final.cpu()  # b l n d
                             for v in (probe_fit.images[:, 0], probe_eval.images[:, 0], probe_eval.images[:, 1]))
        fit, ev, nxt = fit.mean(2), columns.mean(2), nxt.mean(2)  # b l d: averaged over columns
    acc_level = [linear_probe(fit[:, l], probe_fit.labels, ev[:, l], probe_eval.labels) for l in range(fit.shape[1])]
    top = ev[:, -1]
    correct = linear_probe(fit[:, -1], probe_fit.labels, top, probe_eval.labels, return_correct=True)
    raw = linear_probe(fit[:, -1], probe_fit.labels, top, probe_eval.labels, standardise=False)
    val = {}
    if probe_val is not None:
        with torch.no_grad():
            v = model.settle(probe_val.images[:, 0].to(model.device), steps, record=False).final.mean(2).cpu()
        val["val_accuracy"] = linear_probe(fit[:, -1], probe_fit.labels, v[:, -1], probe_val.labels)
    model.train()
    shape = representation_metrics(top)
    return {"accuracy": acc_level[-1], "level_accuracy": np.array(acc_level, float),
            "accuracy_raw": raw, "norm": shape["norm"], "spread": shape["spread"],
            "dimension_std": float(dimension_std(top).mean()), "effective_rank": shape["effective_rank"],
            "alignment": alignment(top, nxt[:, -1]), "uniformity": uniformity(top),
            "probe_correct": correct.double().numpy(),
            "centred_norm": (top - top.mean(0)).double().norm(dim=1).numpy(),
            "collapse": collapse_measures(columns).numpy(), **val}


def pixel_probe(probe_fit, probe_eval):
    """The model-free reference of W0a: per held-out digit, 1 where the standardised linear
    probe of the first frame's pixels classifies it correctly (``[sample]``, float64)."""
    return linear_probe(probe_fit.images[:, 0].flatten(1), probe_fit.labels, probe_eval.images[:, 0].flatten(1),
                        probe_eval.labels, return_correct=True).double().numpy()


@torch.no_grad()
def scene_point(model, steps: int, held) -> dict:
    """On held-out scenes (:class:`~bioglom.data.scene_task.HeldOutScenes`): the means of
    the settled object ARI and fill-in error (:func:`~bioglom.analysis.scene_means`) and the
    :func:`~bioglom.analysis.representation_metrics` of the settled top level."""
    out = scene_means(scene_quality(model, steps, held))
    out.update(representation_metrics(settled_features(model, held.test.images, steps)))
    model.train()
    return out
