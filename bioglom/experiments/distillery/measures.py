"""Metrics of the giant distillery (paper 12.1; docs/claims.md D1-D5): how alike the
column nets have become, how much an island gains by averaging its members'
predictions, and what the distillery simulation records of a model during training
(:func:`distillery_point`) and at its end (:func:`distillery_finals`)."""

from __future__ import annotations

import warnings

import numpy as np
import torch
import xarray as xr

from ...analysis.collapse import COLLAPSE_MEASURES

__all__ = ["column_outputs", "dispersion", "ensemble_gain", "net_inputs", "object_ensemble_ratio", "ink_columns",
           "DIRECTIONS", "distillery_point", "distillery_finals", "final_quality"]

DIRECTIONS = ("bottom_up", "top_down")


@torch.no_grad()
def column_outputs(model, x: torch.Tensor, direction: str = "bottom_up") -> torch.Tensor:
    """Every column's net of every level applied to the same inputs ``x [P, D]`` (one input
    for every level) or ``x [P, G, D]`` (one per level): ``[P, G, N, D]`` (``G`` = levels
    for ``bottom_up``, levels - 1 for ``top_down``).

    A shared net is one function, so it is evaluated once and repeated over the columns;
    where the top-down nets take a location, the location is each column's own.
    """
    nets = model.nets
    mlp = nets.bu if direction == "bottom_up" else nets.td
    G, N = mlp.groups, model.cfg.n_columns
    has_location = direction == "top_down" and mlp.u is not None
    n = N if (has_location or not mlp.shared) else 1
    x = x.to(model.device)
    src = (x[:, :, None, :] if x.dim() == 3 else x[:, None, None, :]).expand(-1, G, n, -1)  # p g n d
    out = nets.bottom_up(src)[0] if direction == "bottom_up" else nets.top_down(src)[0]
    return out.expand(-1, -1, N, -1)


@torch.no_grad()
def net_inputs(model, images: torch.Tensor, steps: int, count: int, generator: torch.Generator) -> dict:
    """Inputs the column nets meet on data, for :func:`column_outputs`: settle ``images``,
    then draw ``count`` (image, column) pairs and take what each level's net reads there --
    bottom-up: the front end's output (level 0) and the state of the level below; top-down:
    the state of the level above. Returns ``{"bottom_up": [P, L, D], "top_down": [P, L-1, D]}``."""
    traj = model.settle(images.to(model.device), steps, record=False)
    inputs = model.encode(images.to(model.device))  # b n d
    b, L, n, _ = traj.final.shape
    pick_b = torch.randint(0, b, (count,), generator=generator)
    pick_n = torch.randint(0, n, (count,), generator=generator)
    states = traj.final[pick_b, :, pick_n]  # p l d
    return {"bottom_up": torch.cat([inputs[pick_b, pick_n][:, None], states[:, :-1]], 1), "top_down": states[:, 1:]}


def ink_columns(model, images: torch.Tensor, threshold: float = 0.05) -> torch.Tensor:
    """The ground-truth object of a digit: the columns whose retinal patch holds ink
    (mean intensity above ``threshold``), ``[b, N]`` bool."""
    retinal = model.retinal(images.to(model.device))
    p = model.cfg.patch_size
    pooled = torch.nn.functional.avg_pool2d(retinal.mean(1, keepdim=True), p)  # b 1 h w
    return pooled.flatten(1) > threshold


def object_ensemble_ratio(predictions: torch.Tensor, states: torch.Tensor, objects: torch.Tensor) -> torch.Tensor:
    """Paper 12.1's ensemble effect on ground-truth objects, per sample and level.

    For the columns of one object (``objects [b, N]`` bool), the error of the average of
    their bottom-up predictions against the object's mean consensus, over the mean error of
    the individual predictions::

        ratio_bl = ||mean_n p_bln - mean_n s_bln||^2 / mean_n ||p_bln - mean_n s_bln||^2

    ``predictions, states [b, L, N, D]`` -> ``[b, L]`` (NaN where an object has fewer than
    two columns). With one target for all members, ``ratio <= 1`` whenever the members
    differ (Jensen), so a claim compares it with a baseline, not with 1."""
    m = objects[:, None, :, None].to(predictions.dtype)  # b 1 n 1
    count = m.sum(2)  # b 1 1
    target = (states * m).sum(2) / count.clamp_min(1)  # b l d
    pbar = (predictions * m).sum(2) / count.clamp_min(1)
    ensemble = (pbar - target).pow(2).sum(-1)  # b l
    single = ((predictions - target[:, :, None]).pow(2).sum(-1) * m[..., 0]).sum(2) / count[..., 0].clamp_min(1)
    ratio = ensemble / single.clamp_min(1e-300)
    return torch.where(count[..., 0] >= 2, ratio, torch.full_like(ratio, float("nan")))


def dispersion(outputs: torch.Tensor, per_input: bool = False) -> torch.Tensor:
    """Functional dispersion of column nets from their outputs on common inputs,
    ``outputs [P, G, N, D]`` -> ``[G]``:

        disp_g = sqrt(mean_{p,n} ||y_pgn - mean_n y_pgn||^2) / mean_{p,n} ||y_pgn||

    the spread across columns relative to the mean output norm. It is 0 exactly when every
    column computes the same output (shared nets; unshared nets that are copies). With
    ``per_input=True`` the same ratio per input, without the mean over ``p``: ``[P, G]``.
    """
    y = outputs.double()
    over = (2,) if per_input else (0, 2)
    spread = (y - y.mean(2, keepdim=True)).pow(2).sum(-1).mean(over).sqrt()
    return (spread / y.norm(dim=-1).mean(over).clamp_min(1e-300)).to(outputs.dtype)


def ensemble_gain(predictions: torch.Tensor, targets: torch.Tensor, islands: torch.Tensor) -> torch.Tensor:
    """Error of island-averaged predictions over the mean error of the individual ones,
    pooled over islands and the batch: ``predictions, targets [B, *, N, D]``, ``islands
    [B, *, N]`` (ids) -> ``[*]`` (a scalar for ``[B, N, D]``; per level for ``[B, L, N, D]``)

        gain = sum_{b,k} sum_{n in k} ||pbar_bk - t_bn||^2 / sum_{b,n} ||p_bn - t_bn||^2,
        pbar_bk = mean_{n in island k of b} p_bn

    (< 1: the island's average is closer to the consensus targets than its members are,
    paper 12.1's ensemble effect; when targets are equal within an island this is
    ``1 - mean within-island variance / mean squared error``).
    """
    p, t = predictions.double(), targets.double()
    onehot = torch.nn.functional.one_hot(islands.long(), int(islands.max()) + 1).double()  # b ... n k
    counts = onehot.sum(-2).clamp_min(1)  # b ... k
    pbar = torch.einsum("...nk,...nd->...kd", onehot, p) / counts[..., None]  # b ... k d
    pbar_n = torch.einsum("...nk,...kd->...nd", onehot, pbar)  # each column's island average

    def pooled(e):  # squared error summed over columns, dims and the batch
        return e.pow(2).sum((-2, -1)).sum(0)

    return pooled(pbar_n - t) / pooled(p - t).clamp_min(1e-300)


def _squared_error(model, split: dict, steps: int) -> torch.Tensor:
    """Squared error of the image decoded from level 0, ``split["corrupted"]`` settled
    ``steps`` steps, against what the columns see of the clean image: ``[b, C, H, W]``."""
    recon = model.decode(model.settle(split["corrupted"].to(model.device), steps, record=False).final[:, 0])
    return (recon - model.retinal(split["images"].to(model.device))) ** 2


def _probe(model, split: dict, steps: int, **kwargs):
    from ...analysis.metrics import linear_probe
    from ...analysis.parse_eval import settled_features

    data, train, test = split["data"], split["train"], split["test"]
    return linear_probe(settled_features(model, data.images[train], steps), data.labels[train],
                        settled_features(model, split["images"], steps), data.labels[test], **kwargs)


@torch.no_grad()
def distillery_point(model, split: dict, steps: int, probe_inputs: int) -> dict:
    """A point of the distillery's curves: quality (on digits, ``split`` holding ``data``,
    ``train``, ``test``: the linear-probe ``accuracy``; on scenes, ``split["held"]``: the
    :func:`~bioglom.analysis.scene_means`), the denoising error ``denoise_mse`` of the
    held-out ``corrupted`` images and the pooled :func:`dispersion` of each direction's
    nets on ``probe_inputs`` inputs drawn from the data (fixed generator)."""
    from ...analysis.scene_quality import scene_means, scene_quality

    model.eval()
    if "held" in split:
        quality = scene_means(scene_quality(model, steps, split["held"]))
    else:
        quality = {"accuracy": _probe(model, split, steps)}
    denoise = float(_squared_error(model, split, steps).mean())
    inputs = net_inputs(model, split["images"][:256], steps, probe_inputs, torch.Generator().manual_seed(0))
    disp = [float(dispersion(column_outputs(model, inputs[d], d)).mean()) for d in DIRECTIONS]
    model.train()
    return {**quality, "denoise_mse": denoise, "dispersion": np.array(disp)}  # along direction


@torch.no_grad()
def distillery_finals(model, start, split: dict, steps: int, probe_inputs: int, generator) -> xr.Dataset:
    """Per-sample measurements of a trained ``model`` that
    :func:`~bioglom.experiments.distillery.claims` reads, and of its initial weights ``start``
    for dispersion and the ensemble ratio (along ``moment``: start, end): on digits the
    probe's correctness per test digit; the denoising error per image; the dispersion of
    the column nets per input drawn from the data with ``generator()`` (the same inputs
    and positions for both models); the :func:`object_ensemble_ratio` per image, over each
    digit's ink columns, or over each ground-truth object of a scene and then averaged;
    on digits also the spread of the probe's features (``feature_spread``, what the
    collapse gate reads) and the :func:`~bioglom.analysis.collapse.collapse_measures` of
    every level's settled states (``collapse``: the gate reads the top level's spread across
    images too)."""
    from ...consensus import normalise
    from ...data import column_labels

    model.eval()
    images = split["images"]
    out = {}
    if "held" in split:
        cfg = model.cfg
        objects = column_labels(split["held"].test, cfg.patch_size, cfg.levels)[:, 1]  # b n, 0: background
        members = [objects == k for k in range(1, int(objects.max()) + 1)]  # one mask per object of a scene
    else:
        out["probe_correct"] = ("sample", _probe(model, split, steps, return_correct=True).double().numpy())
        # the same run before training: D5's equivalence says something only where the runs learned
        out["probe_correct_start"] = ("sample", _probe(start, split, steps, return_correct=True).double().numpy())
    denoise = _squared_error(model, split, steps).flatten(1).mean(1).cpu()
    if "held" not in split:  # what the collapse gate of D3-D5 reads: the probe features' spread
        from ...analysis.metrics import representation_metrics
        from ...analysis.parse_eval import settled_features

        out["feature_spread"] = ("moment", [representation_metrics(settled_features(m, images, steps))["spread"]
                                            for m in (start, model)])
        from ...analysis.collapse import collapse_measures
        from ...analysis.parse_eval import settle_states

        out["collapse"] = (("moment", "level", "collapse_measure"),
                           np.stack([collapse_measures(settle_states(m, images, steps, record=False)[-1]).numpy()
                                     for m in (start, model)]))
    disp, ratio = [], []
    for m in (start, model):  # the same images and (image, column) positions for both, each model's own states
        inputs = net_inputs(m, images[:256], steps, probe_inputs, generator())
        disp.append(torch.stack([dispersion(column_outputs(m, inputs[d], d), per_input=True).mean(1)
                                 for d in DIRECTIONS]).mean(0).cpu())  # input
    for m in (start, model):
        traj = m.settle(images.to(m.device), steps, record=False)
        predictions = normalise(traj.bottom_up[-1], m.cfg.norm)  # the students' last votes
        if "held" in split:  # every ground-truth object of a scene, then their mean
            per_object = torch.stack([object_ensemble_ratio(predictions, traj.final, k.to(m.device)).cpu()
                                      for k in members]).double().numpy()  # object b l; NaN: absent object
            with warnings.catch_warnings():  # a scene with fewer objects than the most has NaN slots
                warnings.simplefilter("ignore", RuntimeWarning)
                ratio.append(torch.from_numpy(np.nanmean(per_object, 0)))
        else:
            ratio.append(object_ensemble_ratio(predictions, traj.final, ink_columns(m, images)).cpu())
    model.train()
    return xr.Dataset({
        **out,
        "denoise_error": ("sample", denoise.double().numpy()),
        "dispersion_inputs": (("moment", "input"), torch.stack(disp).double().numpy()),
        "ensemble_ratio": (("moment", "sample"), np.nanmean(torch.stack(ratio).double().numpy(), -1)),
    }, coords={"moment": ["start", "end"], **({"collapse_measure": list(COLLAPSE_MEASURES)} if "collapse" in out else {})})


def final_quality(ds: xr.Dataset) -> xr.DataArray:
    """Per-sample quality of every run of a distillery result: probe correctness on
    digits, the settled object ARI on scenes."""
    if "probe_correct" in ds:
        return ds.probe_correct
    return ds.object_ari.sel(settling="settled").rename(scene_run="run").sel(run=ds.run.values)
