"""Evaluate a settled GLOM against the parse of held-out scenes, with baselines in the same run.

:func:`evaluate_parse` settles validation and test scenes and returns one
``xarray.Dataset`` of per-scene measurements (so intervals can resample scenes):

- foreground ARI of every level's islands against parts and against objects, at every
  settling step, with the full-image ARI beside it;
- island thresholds chosen on the validation scenes per step and level (never on the
  test scenes), and the whole threshold sweep on the test scenes for the record;
- baselines: ``raw_pixels`` (columns grouped by identical patches), ``raw_tuned`` (raw
  patches through the same threshold islands, threshold chosen on validation), the
  ground-truth parts scored against the objects, and step 0 (the bottom-up pass);
- mean island size of foreground columns, the attention similarity of same-part,
  same-object and other-object pairs, a linear probe of the object kind from single
  columns at step 0 and after settling, and the error of filling in removed parts
  decoded before and after settling.
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from ..frontend import patchify
from .islands import (THRESHOLDS, adjusted_rand_index, choose_thresholds, extract_islands, foreground_ari,
                      raw_pixel_islands, threshold_sweep)
from .parse import PAIR_KINDS, foreground_island_size, kind_probe, masked_error, pair_similarity

__all__ = ["evaluate_parse", "settle_states", "settled_features"]


@torch.no_grad()
def settle_states(model, images: torch.Tensor, steps: int, batch: int = 128, record: bool = True) -> torch.Tensor:
    """``Trajectory.states`` of ``images`` in batches, on the CPU: ``[S+1, B, L, N, D]``, or
    with ``record=False`` only the bottom-up pass and the last step, ``[2, B, L, N, D]``."""
    model.eval()
    out = [model.settle(images[i:i + batch].to(model.device), steps, record=record).states.cpu()
           for i in range(0, len(images), batch)]
    return torch.cat(out, 1)


@torch.no_grad()
def settled_features(model, images: torch.Tensor, steps: int, level: int | None = -1, chunk: int = 256) -> torch.Tensor:
    """Embeddings after settling ``images``, averaged over columns, on the CPU: ``[n, D]`` of
    ``level`` (the top level by default), or ``[n, L, D]`` of every level (``level=None``)."""
    out = []
    for i in range(0, len(images), chunk):
        final = model.settle(images[i:i + chunk].to(model.device), steps, record=False).final.mean(2)  # b l d
        out.append((final if level is None else final[:, level]).cpu())
    return torch.cat(out)


def _truth(scenes, patch_size, levels):
    from ..data import column_labels

    labels = column_labels(scenes, patch_size, levels)  # b l n
    return labels[:, 0], labels[:, 1], labels[:, 1] > 0  # parts, objects, foreground


def evaluate_parse(model, steps: int, val, test, *, masked=None, thresholds=THRESHOLDS, examples: int = 6,
                   kind_count: int | None = None) -> xr.Dataset:
    """Per-scene measurements of the parse on ``test`` scenes (see the module docstring).

    Parameters
    ----------
    model : a :class:`~bioglom.model.Glom`.
    steps : settling steps.
    val, test : :class:`~bioglom.data.scenes.Scenes`; ``val`` chooses the island thresholds
        and trains the kind probe, ``test`` is scored.
    masked : ``(corrupted, keep)`` of the test images with parts removed, or None (no
        filling-in measure).
    thresholds : cosine thresholds searched on ``val``.
    examples : test scenes whose island maps are kept.
    kind_count : number of kinds (probe classes); default from the labels.

    Returns
    -------
    ``xarray.Dataset`` over ``step``, ``sample``, ``level`` (and ``threshold``, ``pair``,
    ``example``, ``y``, ``x``) with ``ari_objects``, ``ari_parts``, ``ari_full``,
    ``island_size``, ``similarity``, the baselines ``raw_pixels_*``, ``raw_tuned_*``,
    ``parts_vs_objects``, and where measurable ``kind_accuracy`` and ``fill_error``.
    """
    cfg = model.cfg
    p, L = cfg.patch_size, cfg.levels
    h, w = cfg.grid
    v_parts, v_objects, v_fg = _truth(val, p, L)
    parts, objects, fg = _truth(test, p, L)
    v_states = settle_states(model, val.images, steps)  # s b l n d
    states = settle_states(model, test.images, steps)
    S1, B = states.shape[:2]

    # thresholds per step and level, chosen on validation scenes against each level's own target
    v_target = torch.stack([v_parts] + [v_objects] * (L - 1), 1)  # b l n
    chosen = torch.stack([choose_thresholds(v_states[s], v_target, v_fg, thresholds) for s in range(S1)])  # s l
    islands = extract_islands(states, chosen[:, None, :])  # s b l n
    ari_obj = foreground_ari(objects[None, :, None].expand_as(islands), islands, fg[None, :, None])
    ari_part = foreground_ari(parts[None, :, None].expand_as(islands), islands, fg[None, :, None])
    target = torch.stack([parts] + [objects] * (L - 1), 1)  # b l n
    ari_full = adjusted_rand_index(target[None].expand_as(islands), islands)
    size = foreground_island_size(islands, fg[None, :, None])
    sweep_obj = threshold_sweep(states[-1], objects[:, None], fg[:, None], thresholds).nanmean(1)  # t l
    sweep_part = threshold_sweep(states[-1], parts[:, None], fg[:, None], thresholds).nanmean(1)
    sim = torch.stack([pair_similarity(states[s], parts, objects, cfg.similarity) for s in (0, S1 - 1)])  # 2 b l 3

    # baselines: identical raw patches, and raw patches through the same thresholded islands
    raw = raw_pixel_islands(test.images, p)
    raw_patches = patchify(test.images, p)[:, None]  # b 1 n k
    v_raw = patchify(val.images, p)[:, None]
    raw_th = choose_thresholds(v_raw, v_objects[:, None], v_fg, thresholds)  # 1
    raw_tuned = extract_islands(raw_patches, raw_th)[:, 0]

    data = {
        "ari_objects": (("step", "sample", "level"), ari_obj.numpy(),
                        {"long_name": "foreground ARI of islands against objects", "units": "1"}),
        "ari_parts": (("step", "sample", "level"), ari_part.numpy(),
                      {"long_name": "foreground ARI of islands against parts", "units": "1"}),
        "ari_full": (("step", "sample", "level"), ari_full.numpy(),
                     {"long_name": "full-image ARI of islands (level 0 against parts, others against objects)",
                      "units": "1"}),
        "island_size": (("step", "sample", "level"), size.numpy(),
                        {"long_name": "mean size of the island holding a foreground column", "units": "columns"}),
        "threshold_chosen": (("step", "level"), chosen.numpy(),
                             {"long_name": "island cosine threshold chosen on validation scenes", "units": "1"}),
        "sweep_ari_objects": (("threshold", "level"), sweep_obj.numpy(),
                              {"long_name": "test foreground ARI against objects after settling, per threshold",
                               "units": "1"}),
        "sweep_ari_parts": (("threshold", "level"), sweep_part.numpy(),
                            {"long_name": "test foreground ARI against parts after settling, per threshold",
                             "units": "1"}),
        "similarity": (("probe_step", "sample", "level", "pair"), sim.numpy(),
                       {"long_name": "attention similarity of foreground column pairs", "units": "1"}),
        "raw_pixels_objects": ("sample", foreground_ari(objects, raw, fg).numpy(),
                               {"long_name": "baseline: identical raw patches, foreground ARI against objects",
                                "units": "1"}),
        "raw_pixels_parts": ("sample", foreground_ari(parts, raw, fg).numpy(),
                             {"long_name": "baseline: identical raw patches, foreground ARI against parts",
                              "units": "1"}),
        "raw_tuned_objects": ("sample", foreground_ari(objects, raw_tuned, fg).numpy(),
                              {"long_name": "baseline: thresholded raw patches, foreground ARI against objects",
                               "units": "1"}),
        "raw_tuned_parts": ("sample", foreground_ari(parts, raw_tuned, fg).numpy(),
                            {"long_name": "baseline: thresholded raw patches, foreground ARI against parts",
                             "units": "1"}),
        "parts_vs_objects": ("sample", foreground_ari(objects, parts, fg).numpy(),
                             {"long_name": "baseline: ground-truth parts scored against objects", "units": "1"}),
        "foreground_fraction": ("sample", fg.double().mean(-1).numpy(),
                                {"long_name": "fraction of columns in the foreground", "units": "1"}),
    }

    # wholes from ambiguous parts: probe the kind from single foreground columns
    from ..data import column_kinds

    v_kind = column_kinds(val, torch.stack([v_parts, v_objects], 1))  # b n
    kind = column_kinds(test, torch.stack([parts, objects], 1))
    scene_of = torch.arange(B)[:, None].expand_as(kind)[fg]
    acc = torch.full((2, B, L), float("nan"), dtype=torch.float64)
    for i, s in enumerate((0, S1 - 1)):  # two probe steps, not columns
        for l in range(L):  # one probe per level
            acc[i, :, l] = kind_probe(v_states[s][:, l][v_fg], v_kind[v_fg], states[s][:, l][fg], kind[fg],
                                      scene_of, B)
    data["kind_accuracy"] = (("probe_step", "sample", "level"), acc.numpy(),
                             {"long_name": "linear probe of the object kind from one column", "units": "1"})

    if masked is not None:
        corrupted, keep = masked
        m_states = settle_states(model, corrupted, steps)
        with torch.no_grad():
            errs = []
            for s in (0, S1 - 1):
                recon = torch.cat([model.decode(m_states[s][i:i + 128, 0].to(model.device)).cpu()
                                   for i in range(0, B, 128)])
                errs.append(masked_error(recon, model.retinal(test.images.to(model.device)).cpu(), keep))
        data["fill_error"] = (("probe_step", "sample"), torch.stack(errs).numpy(),
                              {"long_name": "squared error of the removed pixels, decoded from level 0",
                               "units": "intensity^2"})

    k = min(examples, B)
    data["example_islands"] = (("step", "example", "level", "y", "x"), islands[:, :k].reshape(S1, k, L, h, w).numpy(),
                               {"long_name": "island ids"})
    data["example_truth"] = (("example", "level", "y", "x"), target[:k].reshape(k, L, h, w).numpy(),
                             {"long_name": "ground-truth segment ids (level 0 parts, others objects)"})
    data["example_image"] = (("example", "channel", "py", "px"), test.images[:k].numpy(), {"long_name": "test scene"})
    coords = {"step": np.arange(S1), "sample": np.arange(B), "level": np.arange(L), "threshold": np.asarray(thresholds),
              "pair": list(PAIR_KINDS), "probe_step": ["step 0", "settled"], "example": np.arange(k),
              "y": np.arange(h), "x": np.arange(w)}
    ds = xr.Dataset(data, coords=coords)
    ds["raw_tuned_threshold"] = ((), float(raw_th[0]), {"long_name": "threshold of the raw-patch islands", "units": "1"})
    return ds
