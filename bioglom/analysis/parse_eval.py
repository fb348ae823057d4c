"""Evaluate a settled GLOM against the parse of held-out scenes, with baselines in the same run.

:func:`evaluate_parse` settles validation and test scenes and returns one
``xarray.Dataset`` of per-scene measurements (so intervals can resample scenes):

- foreground ARI of every level's islands against parts and against objects, at every
  settling step, with the full-image ARI beside it, for threshold islands and for
  spatially connected islands (:data:`ISLANDS`);
- island thresholds chosen on the validation scenes per kind, step and level (never on
  the test scenes), and the whole threshold sweep on the test scenes for the record;
- the model-free baselines of :mod:`~bioglom.analysis.baselines` (raw pixels, thresholded
  raw patches, connected components of the foreground and of equal colour), their free
  parameters and which is strongest chosen on the validation scenes; the ground-truth
  parts scored against the objects; step 0 (the bottom-up pass); whether objects touch;
- settling that matters (:mod:`~bioglom.analysis.settling`): each contribution's share of
  the consensus per level, and the settled ARI with the lateral term switched off;
- collapse in sight (:mod:`~bioglom.analysis.collapse`): spread within and across images,
  participation ratio and the cosine within and between objects, per level, at step 0
  and settled;
- mean island size of foreground columns, the attention similarity of same-part,
  same-object and other-object pairs, a linear probe of the object kind from single
  columns at step 0 and after settling, and the error of filling in removed parts
  decoded before and after settling.
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from ..consensus import CONTRIBUTIONS
from ..frontend import patchify
from .baselines import (BLOCK_SIDES, COLOUR_TOLERANCES, colour_components, foreground_components,
                        position_blocks)
from .collapse import COLLAPSE_MEASURES, collapse_measures
from .islands import (THRESHOLDS, adjusted_rand_index, choose_thresholds, extract_islands, foreground_ari,
                      raw_pixel_islands, threshold_sweep)
from .pair_statistics import KMEANS_CLUSTERS, PAIR_THRESHOLDS, colour_position_kmeans, pair_islands
from .parse import PAIR_KINDS, foreground_island_size, kind_probe, masked_error, pair_similarity
from .settling import bottom_up_votes, consensus_shares, without_lateral

__all__ = ["ISLANDS", "TARGETS", "CLIP_BASELINES", "evaluate_parse", "evaluate_clips", "baseline_islands", "objects_touch", "settle_states", "settled_features"]

# how islands are extracted from a level's states (bioglom.analysis.islands.extract_islands)
ISLANDS = ("threshold", "connected")
TARGETS = ("parts", "objects")  # what islands are scored against: level 0 should be parts, higher levels objects


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


def objects_touch(objects: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Whether two different objects hold 4-adjacent columns, per scene: ``objects [B, N]``
    (0 background) -> ``[B]`` bool. Where no object touches another, connected components
    of the foreground are already the objects."""
    h, w = grid
    o = objects.reshape(-1, h, w)
    across = (o[:, :, 1:] != o[:, :, :-1]) & (o[:, :, 1:] > 0) & (o[:, :, :-1] > 0)
    down = (o[:, 1:] != o[:, :-1]) & (o[:, 1:] > 0) & (o[:, :-1] > 0)
    return across.flatten(1).any(1) | down.flatten(1).any(1)


def _islands_of(v_states, states, v_target, v_fg, thresholds, grid):
    """Per kind of :data:`ISLANDS`: thresholds chosen per step and level on validation
    states ``[s, b, l, n, d]`` against ``v_target [b, l, n]``, and the test islands
    ``[s, b, l, n]``. Returns ``(chosen [k, s, l], islands [k, s, b, l, n])``."""
    chosen, islands = [], []
    for kind in ISLANDS:  # two extraction kinds
        g = grid if kind == "connected" else None
        th = torch.stack([choose_thresholds(v_states[s], v_target, v_fg, thresholds, g)
                          for s in range(v_states.shape[0])])  # s l
        chosen.append(th)
        islands.append(extract_islands(states, th[:, None, :], g))
    return torch.stack(chosen), torch.stack(islands)


def baseline_islands(val, test, patch_size: int, levels: int, grid, thresholds=THRESHOLDS, pairs=None) -> dict:
    """The model-free baselines of :mod:`~bioglom.analysis.baselines` on ``test`` scenes,
    with their free parameters chosen on ``val``: ``{name: (test ids [B, N], validation
    foreground ARI against objects (mean), parameter)}``. With ``pairs`` (a
    :class:`~bioglom.analysis.pair_statistics.PairTable` counted from the training clips'
    motion segments), the same-signal baseline ``motion_pairs`` too."""
    v_parts, v_objects, v_fg = _truth(val, patch_size, levels)
    parts, objects, fg = _truth(test, patch_size, levels)
    out = {"raw_pixels": (raw_pixel_islands(test.images, patch_size),
                          float(foreground_ari(v_objects, raw_pixel_islands(val.images, patch_size), v_fg).nanmean()),
                          float("nan"))}
    v_raw = patchify(val.images, patch_size)[:, None]  # b 1 n k
    raw_th = choose_thresholds(v_raw, v_objects[:, None], v_fg, thresholds)  # 1
    out["raw_tuned"] = (extract_islands(patchify(test.images, patch_size)[:, None], raw_th)[:, 0],
                        float(foreground_ari(v_objects, extract_islands(v_raw, raw_th)[:, 0], v_fg).nanmean()),
                        float(raw_th[0]))
    out["foreground_components"] = (foreground_components(fg, grid),
                                     float(foreground_ari(v_objects, foreground_components(v_fg, grid), v_fg).nanmean()),
                                     float("nan"))
    tol_scores = [float(foreground_ari(v_objects, colour_components(val.images, patch_size, tol), v_fg).nanmean())
                  for tol in COLOUR_TOLERANCES]
    best = int(np.argmax(tol_scores))
    out["colour_components"] = (colour_components(test.images, patch_size, COLOUR_TOLERANCES[best]),
                                tol_scores[best], COLOUR_TOLERANCES[best])
    sides = [side for side in BLOCK_SIDES if side <= max(grid)]
    side_scores = [float(foreground_ari(v_objects, position_blocks(grid, side, len(v_objects)), v_fg).nanmean())
                   for side in sides]
    best = int(np.argmax(side_scores))
    out["position_blocks"] = (position_blocks(grid, sides[best], len(objects)).clone(), side_scores[best],
                              float(sides[best]))
    for name, weight in (("position_kmeans", 0.0), ("colour_position_kmeans", 1.0)):
        k_scores = [float(foreground_ari(v_objects, colour_position_kmeans(val.images, v_fg, patch_size, grid, k,
                                                                           weight), v_fg).nanmean())
                    for k in KMEANS_CLUSTERS]
        best = int(np.argmax(k_scores))
        out[name] = (colour_position_kmeans(test.images, fg, patch_size, grid, KMEANS_CLUSTERS[best], weight),
                     k_scores[best], float(KMEANS_CLUSTERS[best]))
    if pairs is not None:
        p_scores = [float(foreground_ari(v_objects, pair_islands(val.images, v_fg, pairs, t, grid), v_fg).nanmean())
                    for t in PAIR_THRESHOLDS]
        best = int(np.argmax(p_scores))
        out["motion_pairs"] = (pair_islands(test.images, fg, pairs, PAIR_THRESHOLDS[best], grid), p_scores[best],
                               PAIR_THRESHOLDS[best])
    return out


def _baseline_data(baselines: dict, parts, objects, fg) -> dict:
    names = list(baselines)
    return {
        "baseline_ari": (("target", "baseline", "sample"),
                         torch.stack([torch.stack([foreground_ari(truth, baselines[k][0], fg) for k in names])
                                      for truth in (parts, objects)]).numpy(),
                         {"long_name": "model-free baseline: foreground ARI against the target", "units": "1"}),
        "val_baseline_ari": ("baseline", np.array([baselines[k][1] for k in names]),
                             {"long_name": "model-free baseline: mean foreground ARI against objects on the "
                                           "validation scenes (chooses the strongest)", "units": "1",
                              "target": "objects"}),
        "baseline_parameter": ("baseline", np.array([baselines[k][2] for k in names]),
                               {"long_name": "free parameter of the baseline chosen on validation scenes (cosine "
                                             "threshold of raw_tuned, colour tolerance of colour_components, "
                                             "block side of position_blocks, clusters of position_kmeans and "
                                             "colour_position_kmeans, "
                                             "probability threshold of motion_pairs)",
                                "units": "1"}),
    }


def _settled_without_lateral(model, steps, v_images, images, v_target, v_fg, objects, fg, thresholds, grid):
    """Foreground ARI against objects ``[k, b, l]`` of the same model settled with its
    lateral term off (:func:`~bioglom.analysis.settling.without_lateral`), thresholds
    chosen on validation for that model."""
    twin = without_lateral(model)
    v_states = settle_states(twin, v_images, steps, record=False)[-1:]  # 1 b l n d
    states = settle_states(twin, images, steps, record=False)[-1:]
    _, islands = _islands_of(v_states, states, v_target, v_fg, thresholds, grid)  # k 1 b l n
    return foreground_ari(objects[None, :, None].expand_as(islands[:, 0]), islands[:, 0], fg[None, :, None])


def _example_attention(model, final: torch.Tensor, objects: torch.Tensor, probes: int = 3) -> torch.Tensor:
    """The top level's attention weights at ``beta_end`` from one column of each of the first
    ``probes`` objects of each scene (its first column in row-major order; labels choose
    which columns to draw, nothing else), ``[b, probes, h, w]``; 0 where a scene has fewer
    objects."""
    from ..attention import lateral_attention

    cfg = model.cfg
    h, w = cfg.grid
    with torch.no_grad():
        _, weights = lateral_attention(final[:, -1:].to(model.device), model.attention_mask[-1:].to(model.device),
                                       cfg.beta_end, cfg.similarity)  # b 1 n m
    weights = weights[:, 0].cpu().float()
    out = torch.zeros(len(final), probes, h * w)
    for i in range(len(final)):  # a few example scenes, for a figure
        for j, obj in enumerate(objects[i][objects[i] > 0].unique()[:probes].tolist()):
            column = int((objects[i] == obj).nonzero()[0])
            out[i, j] = weights[i, column]
    return out.reshape(len(final), probes, h, w)


def evaluate_parse(model, steps: int, val, test, *, masked=None, thresholds=THRESHOLDS, examples: int = 6,
                   kind_count: int | None = None, shares_scenes: int = 64, pairs=None, part_pairs=None) -> xr.Dataset:
    """Per-scene measurements of the parse on ``test`` scenes (see the module docstring).

    Parameters
    ----------
    model : a :class:`~bioglom.model.Glom`.
    steps : settling steps.
    val, test : :class:`~bioglom.data.scenes.Scenes`; ``val`` chooses the island thresholds,
        the baselines' parameters and trains the kind probe, ``test`` is scored.
    masked : ``(corrupted, keep)`` of the test images with parts removed, or None (no
        filling-in measure).
    thresholds : cosine thresholds searched on ``val``.
    examples : test scenes whose island maps are kept.
    kind_count : number of kinds (probe classes); default from the labels.
    shares_scenes : test scenes the consensus shares are averaged over.
    pairs : a :class:`~bioglom.analysis.pair_statistics.PairTable` from the training clips'
        motion segments, for the same-signal baseline ``motion_pairs``; None: not measured.
    part_pairs : the same counted from the part-scale motion segments, for level 0's
        same-signal baseline against the parts (``part_pairs_ari``, its threshold chosen
        on ``val`` against the parts); None: not measured.

    Returns
    -------
    ``xarray.Dataset`` over ``islands`` (:data:`ISLANDS`), ``step``, ``sample``, ``level``
    (and ``baseline``, ``threshold``, ``pair``, ``contribution``, ``example``, ``y``,
    ``x``, ``target``: parts, objects) with ``ari`` (per target), ``ari_full``, ``island_size``,
    ``ari_no_lateral``, ``consensus_share``, ``similarity``, the baselines
    ``baseline_ari`` (per target), ``val_baseline_ari`` (against objects),
    ``true_parts_ari``, ``objects_touch``, and where measurable ``kind_accuracy``,
    ``fill_error`` and ``part_pairs_ari``.
    """
    cfg = model.cfg
    p, L, grid = cfg.patch_size, cfg.levels, cfg.grid
    h, w = grid
    v_parts, v_objects, v_fg = _truth(val, p, L)
    parts, objects, fg = _truth(test, p, L)
    v_states = settle_states(model, val.images, steps)  # s b l n d
    states = settle_states(model, test.images, steps)
    S1, B = states.shape[:2]

    # thresholds per kind, step and level, chosen on validation scenes against each level's own target
    v_target = torch.stack([v_parts] + [v_objects] * (L - 1), 1)  # b l n
    chosen, islands = _islands_of(v_states, states, v_target, v_fg, thresholds, grid)  # k s l, k s b l n
    at = (None, None, slice(None), None)  # objects [b] -> [k, s, b, l]
    ari_obj = foreground_ari(objects[at].expand_as(islands), islands, fg[at])
    ari_part = foreground_ari(parts[at].expand_as(islands), islands, fg[at])
    target = torch.stack([parts] + [objects] * (L - 1), 1)  # b l n
    ari_full = adjusted_rand_index(target[None, None].expand_as(islands), islands)
    size = foreground_island_size(islands, fg[at])
    sweep_obj = threshold_sweep(states[-1], objects[:, None], fg[:, None], thresholds).nanmean(1)  # t l
    sweep_part = threshold_sweep(states[-1], parts[:, None], fg[:, None], thresholds).nanmean(1)
    sim = torch.stack([pair_similarity(states[s], parts, objects, cfg.similarity) for s in (0, S1 - 1)])  # 2 b l 3
    no_lateral = _settled_without_lateral(model, steps, val.images, test.images, v_target, v_fg, objects, fg,
                                          thresholds, grid)  # k b l
    shares = consensus_shares(model, test.images[:shares_scenes], steps)  # l i
    baselines = baseline_islands(val, test, p, L, grid, thresholds, pairs)

    data = {
        "ari": (("target", "islands", "step", "sample", "level"), torch.stack([ari_part, ari_obj]).numpy(),
                {"long_name": "foreground ARI of islands against the target (parts or objects)", "units": "1"}),
        "ari_full": (("islands", "step", "sample", "level"), ari_full.numpy(),
                     {"long_name": "full-image ARI of islands (level 0 against parts, others against objects)",
                      "units": "1"}),
        "island_size": (("islands", "step", "sample", "level"), size.numpy(),
                        {"long_name": "mean size of the island holding a foreground column", "units": "1"}),
        "threshold_chosen": (("islands", "step", "level"), chosen.numpy(),
                             {"long_name": "island cosine threshold chosen on validation scenes", "units": "1"}),
        "ari_no_lateral": (("islands", "sample", "level"), no_lateral.numpy(),
                           {"long_name": "foreground ARI against objects after settling with the lateral term "
                                         "switched off (same model; thresholds chosen on validation)",
                            "units": "1", "target": "objects"}),
        "consensus_share": (("level", "contribution"), shares,
                            {"long_name": "share of each contribution in the consensus (effective weight a pi / "
                                          "sum a pi, mean over steps, scenes, columns and dimensions)",
                             "units": "1"}),
        "sweep_ari": (("target", "threshold", "level"), torch.stack([sweep_part, sweep_obj]).numpy(),
                      {"long_name": "test foreground ARI against the target after settling, per threshold "
                                    "(threshold islands)", "units": "1"}),
        "similarity": (("probe_step", "sample", "level", "pair"), sim.numpy(),
                       {"long_name": "attention similarity of foreground column pairs", "units": "1"}),
        **_baseline_data(baselines, parts, objects, fg),
        "object_size": ("sample", foreground_island_size(objects, fg).numpy(),
                        {"long_name": "mean size of the ground-truth object holding a foreground column",
                         "units": "1"}),
        "true_parts_ari": ("sample", foreground_ari(objects, parts, fg).numpy(),
                           {"long_name": "the ground-truth parts taken as islands, foreground ARI against objects",
                            "units": "1", "target": "objects"}),
        "foreground_fraction": ("sample", fg.double().mean(-1).numpy(),
                                {"long_name": "fraction of columns in the foreground", "units": "1"}),
        "objects_touch": ("sample", objects_touch(objects, grid).numpy(),
                          {"long_name": "whether two objects hold 4-adjacent columns", "units": "1"}),
        "collapse": (("probe_step", "level", "collapse_measure"),
                     torch.stack([collapse_measures(states[s], objects) for s in (0, S1 - 1)]).numpy(),
                     {"long_name": "collapse measures of the test states (bioglom.analysis.collapse): spread within "
                                   "and across images, participation ratio, cosine within and between objects",
                      "units": "1"}),
        "vote_collapse": (("probe_step", "level", "collapse_measure"),
                          torch.stack([collapse_measures(v, objects) for v in bottom_up_votes(model, test.images, steps)]).numpy(),
                          {"long_name": "collapse measures of the bottom-up votes of the test scenes at the first and the "
                                        "last settling step (bioglom.analysis.settling.bottom_up_votes): a vote that "
                                        "separates objects more at the last step got that from settling", "units": "1"}),
    }

    if part_pairs is not None:  # level 0's same-signal baseline: pairs counted from part-scale motion, against parts
        scores = [float(foreground_ari(v_parts, pair_islands(val.images, v_fg, part_pairs, t, grid), v_fg).nanmean())
                  for t in PAIR_THRESHOLDS]
        best = PAIR_THRESHOLDS[int(np.argmax(scores))]
        data["part_pairs_ari"] = ("sample", foreground_ari(parts, pair_islands(test.images, fg, part_pairs, best, grid),
                                                           fg).numpy(),
                                  {"long_name": "level 0's same-signal baseline: foreground ARI against parts of the "
                                                "connected components left after cutting edges unlikely under the "
                                                "pair statistics of the training clips' part-scale motion segments",
                                   "units": "1", "target": "parts"})
        data["part_pairs_threshold"] = ((), best, {"long_name": "probability threshold of part_pairs_ari, chosen on "
                                                                "validation scenes against parts", "units": "1"})

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
                               "units": "1"})

    k = min(examples, B)
    data["example_attention"] = (("example", "probe_column", "y", "x"), _example_attention(model, states[-1][:k],
                                                                                           objects[:k]).numpy(),
                                 {"long_name": "top level's attention (beta_end) of one column of each object, after "
                                               "settling", "units": "1"})
    data["example_islands"] = (("islands", "step", "example", "level", "y", "x"),
                               islands[:, :, :k].reshape(len(ISLANDS), S1, k, L, h, w).numpy(),
                               {"long_name": "island ids"})
    data["example_truth"] = (("example", "level", "y", "x"), target[:k].reshape(k, L, h, w).numpy(),
                             {"long_name": "ground-truth segment ids (level 0 parts, others objects)"})
    data["example_image"] = (("example", "channel", "py", "px"), test.images[:k].numpy(), {"long_name": "test scene"})
    coords = {"islands": list(ISLANDS), "step": np.arange(S1), "sample": np.arange(B), "level": np.arange(L),
              "threshold": np.asarray(thresholds), "pair": list(PAIR_KINDS), "probe_step": ["step 0", "settled"],
              "example": np.arange(k), "y": np.arange(h), "x": np.arange(w), "baseline": list(baselines),
              "probe_column": np.arange(3), "target": list(TARGETS),
              "contribution": list(CONTRIBUTIONS), "collapse_measure": list(COLLAPSE_MEASURES)}
    return xr.Dataset(data, coords=coords)


CLIP_BASELINES = ("raw_pixels", "foreground_components", "colour_components", "position_blocks", "position_kmeans",
                  "colour_position_kmeans", "motion_pairs", "motion_segments")


def evaluate_clips(model, steps: int, val, test, thresholds=THRESHOLDS, examples: int = 4, pairs=None) -> xr.Dataset:
    """Islands on the last frame of held-out clips (:class:`~bioglom.data.clips.Clips`),
    with the motion segments of each clip among the baselines.

    The last frame is settled as a still image: with ``init_state="bottom_up"`` the model
    carries no state from one frame to the next, so this is what settling the clip gives
    for that frame. Thresholds and baseline parameters are chosen on ``val`` clips.
    Returns a dataset over ``islands``, ``moment`` (step 0, settled), ``clip`` and
    ``clip_baseline`` with ``clip_ari``, ``clip_baseline_ari`` and
    ``clip_val_baseline_ari``; ``pairs`` as in :func:`evaluate_parse`.
    """
    from ..data.motion import motion_segments

    cfg = model.cfg
    p, L, grid = cfg.patch_size, cfg.levels, cfg.grid
    v_last, last = val.frame(-1), test.frame(-1)
    v_parts, v_objects, v_fg = _truth(v_last, p, L)
    parts, objects, fg = _truth(last, p, L)
    v_states = settle_states(model, v_last.images, steps, record=False)[:, :, -1:]  # m b 1 n d: top level
    states = settle_states(model, last.images, steps, record=False)[:, :, -1:]
    _, islands = _islands_of(v_states, states, v_objects[:, None], v_fg, thresholds, grid)  # k m b 1 n
    ari = foreground_ari(objects[None, None].expand_as(islands[..., 0, :]), islands[..., 0, :], fg[None, None])
    base = baseline_islands(v_last, last, p, L, grid, thresholds, pairs)
    base = {k: base[k] for k in CLIP_BASELINES if k in base}
    base["motion_segments"] = (motion_segments(test.images, p),
                               float(foreground_ari(v_objects, motion_segments(val.images, p), v_fg).nanmean()),
                               float("nan"))
    names = [k for k in CLIP_BASELINES if k in base]
    k = min(examples, len(objects))
    h, w = grid
    data = {
        "clip_example_image": (("clip_example", "channel", "py", "px"), last.images[:k].numpy(),
                               {"long_name": "last frame of an example held-out clip", "units": "1"}),
        "clip_example_truth": (("clip_example", "y", "x"), objects[:k].reshape(k, h, w).numpy(),
                               {"long_name": "ground-truth object ids of the example clips' last frames", "units": "1"}),
        "clip_example_motion": (("clip_example", "y", "x"), base["motion_segments"][0][:k].reshape(k, h, w).numpy(),
                                {"long_name": "motion segments of the example clips (from the pixels)", "units": "1"}),
        "clip_example_islands": (("islands", "moment", "clip_example", "y", "x"),
                                 islands[:, :, :k, 0].reshape(len(ISLANDS), 2, k, h, w).numpy(),
                                 {"long_name": "top level's island ids of the example clips", "units": "1"}),
        "clip_ari": (("islands", "moment", "clip"), ari.numpy(),
                     {"long_name": "top level's foreground ARI against objects on the last frame of held-out clips",
                      "units": "1", "target": "objects"}),
        "clip_baseline_ari": (("clip_baseline", "clip"),
                              torch.stack([foreground_ari(objects, base[k][0], fg) for k in names]).numpy(),
                              {"long_name": "model-free baseline on the last frame of held-out clips: foreground ARI "
                                            "against objects", "units": "1", "target": "objects"}),
        "clip_val_baseline_ari": ("clip_baseline", np.array([base[k][1] for k in names]),
                                  {"long_name": "model-free baseline: mean foreground ARI against objects on the "
                                                "validation clips (chooses the strongest)", "units": "1",
                                   "target": "objects"}),
        "clip_objects_touch": ("clip", objects_touch(objects, grid).numpy(),
                               {"long_name": "whether two objects hold 4-adjacent columns in the last frame",
                                "units": "1"}),
    }
    return xr.Dataset(data, coords={"islands": list(ISLANDS), "moment": ["step 0", "settled"],
                                    "clip": np.arange(len(objects)), "clip_baseline": names,
                                    "clip_example": np.arange(k)})
