"""What the islands experiment measures beside the parse evaluation: the top level's islands
of a model in one call (the untrained network of a seed; a model during training) and the
collapse measures that go with them."""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from ...analysis.collapse import COLLAPSE_MEASURES, collapse_measures
from ...analysis.islands import THRESHOLDS, foreground_ari
from ...analysis.parse_eval import ISLANDS, _islands_of, _truth, settle_states

__all__ = ["top_level_islands", "training_curve"]


def top_level_islands(model, steps: int, val, test, thresholds=THRESHOLDS, examples: int = 6) -> xr.Dataset:
    """The top level's settled islands of ``test`` scenes against the objects, thresholds
    chosen on ``val`` (as :func:`~bioglom.analysis.parse_eval.evaluate_parse` chooses them),
    and the collapse measures of every level after settling: ``top_ari`` (``islands,
    sample``), ``top_collapse`` (``level, collapse_measure``) and the island ids of the
    first ``examples`` test scenes, ``top_example_islands`` (``islands, example, y, x``)."""
    cfg = model.cfg
    _, v_objects, v_fg = _truth(val, cfg.patch_size, cfg.levels)
    _, objects, fg = _truth(test, cfg.patch_size, cfg.levels)
    v_states = settle_states(model, val.images, steps, record=False)[-1:, :, -1:]  # 1 b 1 n d
    states = settle_states(model, test.images, steps, record=False)[-1:]  # 1 b l n d
    _, islands = _islands_of(v_states, states[:, :, -1:], v_objects[:, None], v_fg, thresholds, cfg.grid)  # k 1 b 1 n
    ari = foreground_ari(objects[None].expand_as(islands[:, 0, :, 0]), islands[:, 0, :, 0], fg[None])  # k b
    k, (h, w) = min(examples, len(objects)), cfg.grid
    return xr.Dataset({
        "top_example_islands": (("islands", "example", "y", "x"),
                                islands[:, 0, :k, 0].reshape(len(ISLANDS), k, h, w).numpy(),
                                {"long_name": "top level's settled island ids of the example scenes", "units": "1"}),
        "top_ari": (("islands", "sample"), ari.numpy(),
                    {"long_name": "top level's settled foreground ARI against objects", "units": "1"}),
        "top_collapse": (("level", "collapse_measure"), collapse_measures(states[0], objects).numpy(),
                         {"long_name": "collapse measures of the settled test states (bioglom.analysis.collapse)",
                          "units": "1"}),
    }, coords={"islands": list(ISLANDS), "sample": np.arange(len(objects)), "level": np.arange(cfg.levels),
               "example": np.arange(k), "y": np.arange(h), "x": np.arange(w),
               "collapse_measure": list(COLLAPSE_MEASURES)})


@torch.no_grad()
def training_curve(model, steps: int, scenes, thresholds=THRESHOLDS) -> dict:
    """One point of a training curve on ``scenes`` (validation scenes tracked during
    training): the top level's connected-island ARI against objects at step 0 and settled,
    with the threshold that scores best on these same scenes (an optimistic read-out, for
    the shape of the curve, never a claim), and the settled collapse measures per level.
    ``{"curve_ari": [2] (step 0, settled), "curve_collapse": [L, 5]}``."""
    cfg = model.cfg
    _, objects, fg = _truth(scenes, cfg.patch_size, cfg.levels)
    was = model.training
    states = settle_states(model, scenes.images, steps, record=False)  # 2 b l n d
    model.train(was)
    top = states[:, :, -1:]
    aris = []
    for s in range(2):  # step 0, settled
        _, islands = _islands_of(top[s:s + 1], top[s:s + 1], objects[:, None], fg, thresholds, cfg.grid)
        aris.append(float(foreground_ari(objects, islands[ISLANDS.index("connected"), 0, :, 0], fg).nanmean()))
    return {"curve_ari": np.array(aris), "curve_collapse": collapse_measures(states[-1], objects).numpy()}
