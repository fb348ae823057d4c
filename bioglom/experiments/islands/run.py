"""One seed of the islands experiment, as the simulation and its sweeps run it: train a
model by its rule on the scene stream of the seed (motion batches with the grouping signal),
measure the parse of held-out still scenes and clips beside the model-free baselines and
the untrained network (bioglom.analysis.parse_eval), and for a local rule put backprop's
default recipe of the same seed beside it (claims L1-L3); and the run's pictures.

``opts`` is the simulation's options (``simulations/islands.py``): the functions read its
fields and its methods ``glom_config``, ``build_rule``, ``reference_options``,
``clip_batch``, ``scene_batch``, ``masked`` and ``training_signal``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from ...analysis import PAIR_KINDS, evaluate_clips, evaluate_parse, interval, mean_of, pair_similarity
from ...analysis.collapse import COLLAPSE_MEASURES
from ...analysis.names import VARIABLES
from ...analysis.figures import save_figure
from ...cli import run_identity
from ...config import ConfigError
from ...data import changed_fraction, column_labels, motion_batch
from ...experiment import COMPLETE, Stopped, cached, run_dataset, train
from ...learning import Batch, Trainer
from ...learning.wake_sleep import WakeSleepTrainer
from ...model import Glom
from ...seeding import derived_seed, generator
from .claims import strongest_baseline
from .figures import (ari_band_figure, attention_maps_figure, clip_figure, example_aris, parse_figure, rules_figure,
                      similarity_figure)
from .measures import top_level_islands, training_curve

__all__ = ["SELECTION_SEEDS", "CLAIM_SEED", "KEEPS", "KEEP_SCORES", "run_seed", "with_reference", "train_and_evaluate",
           "draw_figures"]

# the seeds the sweeps that chose the defaults ran on (--sweep: the grouping recipe; --sweep
# --sweep-set local: the local recipe); the claims run on seeds apart from all of them
SELECTION_SEEDS = {"grouping": (0, 1), "local": (100, 101)}
CLAIM_SEED = 1000
# which weights a run measures (--keep): the last update's, or those scoring best on the training curve's
# tracked validation scenes (settled top-level ARI, training_curve's "settled" moment)
KEEP_SCORES = {"last": None, "best": lambda metrics: metrics["curve_ari"][1]}
KEEPS = tuple(KEEP_SCORES)


# the held-out streams (validation: thresholds, kind probe; selection: the sweep's test
# scenes; test: the claims') are the scene task's, so the section-12 simulations' scenes match


def run_seed(opts, seed: int, device, folder, test_stream: str = "test", reference_folder=None) -> xr.Dataset:
    """Train one model on the scene stream of ``seed`` and evaluate it on the scenes of
    the derived stream ``test_stream`` (bioglom.seeding) (cached in ``folder``); for a local
    rule, with the backprop reference of the same seed beside it (cached in
    ``reference_folder``, default ``folder/backprop``)."""
    # one file per seed; which seeds and variants run, and which islands the claims read, is not its identity
    per_seed = ("seed", "seeds", "sweep", "shard", "sweep_seeds", "islands")

    def own():
        return cached(folder / f"seed{seed}.nc", opts, lambda: train_and_evaluate(opts, seed, device, folder,
                                                                                  test_stream), per_seed)
    if not opts.local:
        return own()
    # claims L1-L3: backprop's default recipe on the same clips, budget and seed, cached apart
    ref, ref_folder = opts.reference_options(), reference_folder or folder / "backprop"
    if opts.reference:  # a finished backprop run's own per-seed result, checked to be the reference recipe
        path = Path(opts.reference) / "checkpoints" / f"seed{seed}.nc"
        if not path.exists():  # a run of seeds as jobs keeps each seed's result in its own folder
            path = Path(opts.reference) / "seeds" / f"seed{seed}" / "checkpoints" / f"seed{seed}.nc"

        def missing():
            raise ConfigError(f"reference={opts.reference!r} holds no result of seed {seed} ({path}); give the folder "
                              "of a finished backprop islands run on the same seeds, or leave --reference out")
        # read and checked before the local rule trains: a wrong folder costs nothing
        reference = cached(path, dataclasses.replace(ref, resume=True), missing, per_seed)
        return with_reference(own(), reference)
    ds = own()
    ref_folder.mkdir(parents=True, exist_ok=True)
    reference = cached(ref_folder / f"seed{seed}.nc", ref,
                       lambda: train_and_evaluate(ref, seed, device, ref_folder, test_stream), per_seed)
    return with_reference(ds, reference)


def with_reference(ds: xr.Dataset, ref: xr.Dataset) -> xr.Dataset:
    """A local rule's result ``ds`` with the backprop reference's top-level numbers beside it
    (``backprop_*``: settled ARI against objects, its untrained network's, collapse measures,
    island maps of the example scenes and the training curve)."""
    top, last = int(ref.level[-1]), int(ref.step[-1])
    ds = ds.copy()
    ds["backprop_ari"] = ref.ari.sel(target="objects", step=last, level=top, drop=True).assign_attrs(
        long_name="backprop reference: top level's settled foreground ARI against objects")
    ds["backprop_untrained_ari"] = ref.untrained_ari.assign_attrs(
        long_name="backprop reference's untrained network: top level's settled foreground ARI against objects")
    ds["backprop_collapse"] = ref.collapse.sel(probe_step="settled", drop=True).assign_attrs(
        long_name="backprop reference: collapse measures of the settled test states")
    if "vote_collapse" in ref:  # a reference run before the measure existed has none
        ds["backprop_vote_collapse"] = ref.vote_collapse.assign_attrs(
            long_name=f"backprop reference: {ref.vote_collapse.long_name}")
    ds["backprop_example_islands"] = ref.example_islands.sel(step=last, drop=True).assign_attrs(
        long_name="backprop reference: settled island ids of the example scenes", units="1")
    ds["backprop_untrained_example_islands"] = ref.untrained_example_islands.assign_attrs(
        long_name="backprop reference's untrained network: top-level settled island ids of the example scenes",
        units="1")
    for name in ("curve_ari", "curve_collapse", "kept_update"):
        if name in ref:  # a reference run before --keep existed has no kept_update
            ds[f"backprop_{name}"] = ref[name].assign_attrs(long_name=f"backprop reference: {ref[name].long_name}")
    return ds


def train_and_evaluate(opts, seed: int, device, folder, test_stream: str) -> xr.Dataset:
    """Train one seed by ``opts.rule``, tracking the attention logits of pair kinds and a
    training curve (top-level ARI and collapse on tracked validation scenes), then measure
    the parse of the ``test_stream`` scenes (bioglom.analysis.evaluate_parse) and the
    untrained network's top level on them; raises :class:`~bioglom.experiment.Stopped`
    when training stops early."""
    torch.manual_seed(seed)
    model = Glom(opts.glom_config(seed)).to(device)
    rule = opts.build_rule()

    def batches(u: int) -> Batch:
        if opts.grouping == "motion":  # from the clips' pixels alone (a test checks that no label enters)
            clips = opts.clip_batch(opts.batch, seed, u * opts.batch)
            clean, corrupted, keep, groups = motion_batch(clips.images, opts.patch_size, opts.levels, opts.mask_count,
                                                          generator(seed, "batch", u), fill=opts.fill,
                                                          colour_parts=opts.colour_parts, part_motion=opts.part_motion)
            labels = column_labels(clips.frame(-1), opts.patch_size, opts.levels) if opts.supervision > 0 else None
            return Batch(clean, corrupted, keep, labels, groups)
        scenes = opts.scene_batch(opts.batch, seed, u * opts.batch)
        corrupted, keep = opts.masked(scenes, generator(seed, "batch", u))
        labels = column_labels(scenes, opts.patch_size, opts.levels) if opts.supervision > 0 else None
        return Batch(scenes.images, corrupted, keep, labels)

    val = opts.scene_batch(opts.val_scenes, derived_seed(seed, "validation"), 0)
    test = opts.scene_batch(opts.test_scenes, derived_seed(seed, test_stream), 0)
    track = val.take(slice(0, 32))
    track_labels = column_labels(track, opts.patch_size, opts.levels)

    def attention_pairs(u: int) -> dict:
        """Attention logits (beta_end x similarity) of pair kinds after settling, labels for measuring only."""
        with torch.no_grad():
            model.eval()
            final = model.settle(track.images.to(device), opts.steps).final.cpu()
            model.train()
        sim = pair_similarity(final, track_labels[:, 0], track_labels[:, 1], opts.similarity).nanmean(0)  # l 3
        return {"attention_logit": opts.beta_end * sim.double().numpy(),  # level pair
                **training_curve(model, opts.steps, track)}

    schedule = opts.schedule()
    sleep = {} if schedule is None else dict(schedule=schedule, sleep_input="splice")  # sleep on spliced scenes
    trainer = (Trainer if schedule is None else WakeSleepTrainer)(
        model, rule, batches, updates=opts.updates, lr=opts.lr, seed=seed, lr_schedule=opts.lr_schedule,
        checkpoint=folder / f"seed{seed}.pt", checkpoint_every=opts.checkpoint_every, progress=opts.progress,
        data=run_identity(opts, ("seed", "seeds", "sweep", "shard", "sweep_seeds", "islands", "updates", "pair_clips",
                                 "lr_schedule")),
        label=f"islands {folder.name} seed {seed}", keep_best=KEEP_SCORES[opts.keep], **sleep)
    status = train(trainer, opts, f"seed {seed}", attention_pairs, opts.eval_every)
    if status != COMPLETE:
        raise Stopped(status)
    kept = trainer.restore_best()  # the last update's weights unless --keep best
    masked = opts.masked(test, generator(seed, test_stream))
    selection = sorted({s for seeds in SELECTION_SEEDS.values() for s in seeds})
    fresh = ((), int(seed not in selection), {"long_name": "whether this seed is apart from every seed the sweeps that "
                                              f"chose the defaults ran on ({', '.join(map(str, selection))})",
                                              "units": "1"})
    pairs, teacher_ari, mixed, teacher_part_ari, part_pairs = opts.training_signal(seed)
    ds = evaluate_parse(model, opts.steps, val, test, masked=masked, pairs=pairs, part_pairs=part_pairs)
    ds["fresh_seed"] = fresh
    ds["kept_update"] = ((), kept, {"long_name": VARIABLES["kept_update"][0], "units": "1"})
    if pairs is not None:
        ds["teacher_ari"] = (("training_clip",), teacher_ari.numpy(),
                             {"long_name": "the teacher's quality: foreground ARI of the motion segments of a training "
                                           "clip's last frame against its objects", "units": "1"})
        ds["velocity_mixed"] = (("training_clip",), mixed.numpy(),
                                {"long_name": "whether an object of the training clip shares a velocity or stands "
                                              "still", "units": "1"})
        if teacher_part_ari is not None:
            ds["teacher_part_ari"] = (("training_clip",), teacher_part_ari.numpy(),
                                      {"long_name": VARIABLES["teacher_part_ari"][0], "units": "1"})
        ds = ds.assign_coords(training_clip=np.arange(len(mixed)))
    if opts.uses_clips and opts.clip_scenes:
        val_clips = opts.clip_batch(opts.clip_scenes, derived_seed(seed, "validation"), 0)
        test_clips = opts.clip_batch(opts.clip_scenes, derived_seed(seed, test_stream), 0)
        ds = ds.merge(evaluate_clips(model, opts.steps, val_clips, test_clips, pairs=pairs))
    untrained = top_level_islands(Glom(opts.glom_config(seed)).to(device), opts.steps, val, test)
    ds["untrained_ari"] = untrained.top_ari.assign_attrs(
        long_name="the untrained network's top level: settled foreground ARI against objects")
    ds["untrained_collapse"] = untrained.top_collapse.assign_attrs(
        long_name="the untrained network's collapse measures, settled test states")
    ds["untrained_example_islands"] = untrained.top_example_islands.assign_attrs(
        long_name="the untrained network's top-level settled island ids of the example scenes", units="1")
    run = run_dataset(trainer, along={"attention_logit": ("level", "pair"), "curve_ari": ("moment",),
                                      "curve_collapse": ("level", "collapse_measure")},
                      coords={"pair": list(PAIR_KINDS), "moment": ["step 0", "settled"],
                              "collapse_measure": list(COLLAPSE_MEASURES)})
    ds["attention_logit"] = run.attention_logit.transpose("level", "pair", "update").assign_attrs(
        long_name="attention logit (beta_end x similarity) of foreground pairs after settling", units="1")
    ds["curve_ari"] = run.curve_ari.transpose("moment", "update").assign_attrs(
        long_name="training curve: top level's connected-island ARI against objects on 32 tracked validation scenes, "
                  "threshold best on those scenes (optimistic; for the curve's shape, not a claim)", units="1")
    ds["curve_collapse"] = run.curve_collapse.transpose("level", "collapse_measure", "update").assign_attrs(
        long_name="training curve: collapse measures of the settled states of the tracked validation scenes",
        units="1")
    for k in [v for v in run.data_vars if v.startswith("train_")]:
        ds[k] = run[k]  # long_name and units from bioglom.analysis.names
    ds["mask_fraction"] = ((), changed_fraction(test.images, masked[0]),
                           {"long_name": "fraction of test pixels the mask changed", "units": "1"})
    return ds


def draw_figures(ds: xr.Dataset, opts, out) -> None:
    """The run's pictures, from its result (this run's or seeds run as jobs, merged): the
    islands of the first seed's example scenes (ARI per scene), ARI by step with the
    strongest baseline, attention, clips, and for a local rule the rules figure; each
    records the commit of the result (:func:`~bioglom.analysis.figures.save_figure`)."""

    def save(fig, path):
        save_figure(fig, path, ds.attrs.get("git_commit"))

    seeds = [int(s) for s in ds.seed.values]
    first = ds.sel(seed=seeds[0], islands=opts.islands)
    save(parse_figure(first.example_image.values, first.example_truth.values, first.example_islands.values,
                      aris=example_aris(first)), out / "islands.png")
    chosen = ds.sel(islands=opts.islands)
    step_ci = {(int(s), int(l)): interval(mean_of, chosen.ari.sel(target="objects", step=s, level=l).transpose("seed", "sample").values,
                                           resamples=500)
               for s in ds.step for l in ds.level}
    base = strongest_baseline(ds)
    save(ari_band_figure(chosen, step_ci, {base: float(ds.baseline_ari.sel(target="objects", baseline=base).mean())}),
         out / "ari_by_step.png")
    save(similarity_figure(ds.attention_logit), out / "attention.png")
    save(attention_maps_figure(first.example_image.values, first.example_attention.values), out / "attention_maps.png")
    if "clip_example_image" in ds:
        save(clip_figure(first.clip_example_image.values, first.clip_example_truth.values,
                         first.clip_example_motion.values, first.clip_example_islands.values), out / "clips.png")
    if opts.local:
        save(rules_figure(ds.sel(seed=seeds[0]), opts.islands, opts.rule), out / "rules.png")
