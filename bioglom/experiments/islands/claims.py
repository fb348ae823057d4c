"""Claims I1-I5 (docs/claims.md, "Islands") from :func:`~bioglom.analysis.parse_eval.evaluate_parse`
datasets stacked over a ``seed`` dimension.

Every value is a statistic of per-scene measurements over seeds and held-out scenes,
with a 95 % interval from :func:`~bioglom.analysis.verdicts.interval` and a three-way
verdict. A claim with several parts (I1: objects, the margin over the strongest
model-free baseline, parts) has one row per part and a row whose verdict combines them.
The claims are read from one kind of islands (threshold or connected), chosen by the
caller before the run; the strongest baseline is the one with the highest mean on the
validation scenes, never chosen on the test scenes.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ...analysis.claim_rows import ABOVE_ZERO, at_least, at_most, combined, per_sample
from ...analysis.recorder import Claim
from ...analysis.verdicts import difference_of_means, interval, mean_of, ratio_of_means, relative_reduction

__all__ = ["ISLAND_TARGETS", "LOCAL_TARGETS", "island_claims", "island_table", "local_claims", "local_table", "strongest_baseline", "vote_line"]

# the criteria of I1-I4
ISLAND_TARGETS = dict(ari=0.8, above_baseline=0.2, level_margin=0.2, rise=0.1, probe_gain=0.10, fill_gain=0.30,
                      lateral=0.1, size_ratio=1.5)


def strongest_baseline(ds: xr.Dataset) -> str:
    """The model-free baseline with the highest mean foreground ARI against objects on the
    validation scenes (``val_baseline_ari``, averaged over seeds)."""
    val = ds.val_baseline_ari
    if "seed" in val.dims:
        val = val.mean("seed")
    return str(val.baseline.values[int(np.nanargmax(val.values))])


def island_claims(ds: xr.Dataset, resamples: int = 2000, targets: dict | None = None,
                  islands: str = "threshold") -> list[Claim]:
    """I1-I5 with intervals and verdicts.

    ``ds`` holds ``ari`` (``seed, target, islands, step, sample, level``), ``island_size``
    (``seed, islands, step, sample, level``), ``ari_no_lateral`` (``seed, islands, sample,
    level``, against objects), ``baseline_ari`` (``seed, target, baseline, sample``),
    ``val_baseline_ari`` (``seed, baseline``, against objects), ``kind_accuracy`` (``seed, probe_step, sample, level``) and ``fill_error``
    (``seed, probe_step, sample``). The top level is the last level; "after settling" is
    the last step; ``islands`` names the kind of islands the claims read.
    """
    t = dict(ISLAND_TARGETS, **(targets or {}))
    ds = ds.sel(islands=islands)
    top = int(ds.level[-1])
    last = int(ds.step[-1])
    after = ds.sel(step=last)
    start = ds.sel(step=0)
    bs = dict(resamples=resamples)

    # I1: islands match the parse
    top_obj = per_sample(after.ari.sel(target="objects", level=top))
    i1a = at_least("I1a", interval(mean_of, top_obj, **bs), t["ari"],
                   f"top level's islands against objects: foreground ARI after settling >= {t['ari']}")
    base = strongest_baseline(ds)
    i1b = at_least("I1b", interval(difference_of_means, top_obj, per_sample(ds.baseline_ari.sel(target="objects", baseline=base)),
                                    **bs), t["above_baseline"],
                   f"top level minus the strongest model-free baseline, {base} (chosen on validation scenes), "
                   f"foreground ARI against objects >= {t['above_baseline']}")
    i1c = at_least("I1c", interval(mean_of, per_sample(after.ari.sel(target="parts", level=0)), **bs), t["ari"],
                   f"level 0's islands against parts: foreground ARI after settling >= {t['ari']}")
    i1 = combined("I1", [i1a, i1b, i1c], "I1a, I1b and I1c all held (value: I1a)")

    # I2: levels differ the way the tree does
    l0, tp = after.sel(level=0), after.sel(level=top)
    i2a = at_least("I2a", interval(difference_of_means, per_sample(l0.ari.sel(target="parts")), per_sample(l0.ari.sel(target="objects")), **bs),
                   t["level_margin"], f"level 0: ARI against parts minus against objects >= {t['level_margin']}")
    i2b = at_least("I2b", interval(difference_of_means, per_sample(tp.ari.sel(target="objects")), per_sample(tp.ari.sel(target="parts")), **bs),
                   t["level_margin"], f"top level: ARI against objects minus against parts >= {t['level_margin']}")
    sizes = [per_sample(after.island_size.sel(level=int(l))) for l in ds.level]

    def smallest_rise(*levels):
        means = [np.nanmean(x, axis=(-2, -1)) for x in levels]
        return np.min(np.stack([b - a for a, b in zip(means[:-1], means[1:])]), axis=0)

    i2c = at_least("I2c", interval(smallest_rise, *sizes, **bs), ABOVE_ZERO,
                   "mean island size of foreground columns rises with level (value: smallest rise, columns) > 0")
    i2_parts = [i2a, i2b, i2c]
    if "object_size" in ds:
        # an untrained net's top level is one island over everything, so sizes rise with level
        # by construction; I2d asks that the top level's islands be object-sized, not larger
        i2d = at_most("I2d", interval(ratio_of_means, sizes[-1], per_sample(ds.object_size), **bs), t["size_ratio"],
                      f"top level's islands are no larger than objects: mean size of the top-level island holding a "
                      f"foreground column over that of its object <= {t['size_ratio']}")
        i2_parts.append(i2d)
    i2 = combined("I2", i2_parts, f"I2a-I2{'d' if len(i2_parts) == 4 else 'c'} all held (value: I2a)")

    # I3: islands form during settling
    i3 = at_least("I3", interval(difference_of_means, top_obj, per_sample(start.ari.sel(target="objects", level=top)), **bs),
                  t["rise"], f"top level's foreground ARI against objects, last step minus step 0 >= {t['rise']}")

    # I4: wholes from ambiguous parts
    acc = ds.kind_accuracy.sel(level=top)
    i4a = at_least("I4a", interval(difference_of_means, per_sample(acc.isel(probe_step=-1)),
                                    per_sample(acc.isel(probe_step=0)), **bs),
                   t["probe_gain"], f"object-kind probe from the top level, settled minus step 0 >= {t['probe_gain']}")
    # I1 and I3 on the last frame of held-out clips, beside their motion segments
    clip_rows = []
    if "clip_ari" in ds:
        clip = lambda da: per_sample(da, "clip")  # noqa: E731
        settled, start = clip(ds.clip_ari.sel(moment="settled")), clip(ds.clip_ari.sel(moment="step 0"))
        val = ds.clip_val_baseline_ari.mean("seed") if "seed" in ds.clip_val_baseline_ari.dims else \
            ds.clip_val_baseline_ari
        cbase = str(val.clip_baseline.values[int(np.nanargmax(val.values))])
        # the last frames as still scenes drawn like the training frames: a still image has
        # no motion, so its strongest baseline is chosen without the motion segments
        still = val.where(val.clip_baseline != "motion_segments")
        fbase = str(still.clip_baseline.values[int(np.nanargmax(still.values))])
        clip_rows = [
            at_least("I1a clips", interval(mean_of, settled, **bs), t["ari"],
                     f"on the last frame of held-out clips: top level's foreground ARI against objects after "
                     f"settling >= {t['ari']}"),
            at_least("I1b clips", interval(difference_of_means, settled,
                                            clip(ds.clip_baseline_ari.sel(clip_baseline=cbase)), **bs),
                     t["above_baseline"], f"on clips: top level minus the strongest model-free baseline, {cbase} "
                                          f"(chosen on validation clips) >= {t['above_baseline']}"),
            at_least("I1b frames", interval(difference_of_means, settled,
                                             clip(ds.clip_baseline_ari.sel(clip_baseline=fbase)), **bs),
                     t["above_baseline"], f"the last frames of held-out clips as still scenes (drawn like the "
                                          f"training frames): top level minus the strongest still baseline, {fbase} "
                                          f"(chosen on validation frames) >= {t['above_baseline']}"),
            at_least("I3 clips", interval(difference_of_means, settled, start, **bs), t["rise"],
                     f"on clips: top level's foreground ARI against objects, last step minus step 0 >= {t['rise']}"),
        ]

    # I5: settling matters -- the same model with its lateral term switched off
    i5 = at_least("I5", interval(difference_of_means, top_obj,
                                  per_sample(ds.ari_no_lateral.sel(level=top)), **bs), t["lateral"],
                  f"settling matters: top level's settled foreground ARI against objects minus the same model's "
                  f"with the lateral term switched off >= {t['lateral']}")
    rows = [i1, i1a, i1b, i1c, i2, *i2_parts, i3, i5] + clip_rows
    if "fill_error" in ds:
        fe = ds.fill_error
        i4b = at_least("I4b", interval(relative_reduction, per_sample(fe.isel(probe_step=-1)),
                                        per_sample(fe.isel(probe_step=0)), **bs),
                       t["fill_gain"],
                       f"removed parts filled in: 1 - error settled / error at step 0 >= {t['fill_gain']}")
        rows += [combined("I4", [i4a, i4b], "I4a and I4b both held (value: I4a)"), i4a, i4b]
    else:
        rows += [combined("I4", [i4a], "I4a held (no filling-in measured) (value: I4a)"), i4a]
    return rows


def island_table(ds: xr.Dataset, islands: str = "threshold") -> str:
    """The islands summary: per level the foreground ARI against parts and objects at step 0
    and after settling for both kinds of islands, the top level where objects touch and
    where they are apart, with the lateral term off, each contribution's share of the
    consensus, the model-free baselines, the kind probe and the fill-in error; means over
    seeds and scenes. ``islands`` marks the kind the claims read."""
    levels = ds.sizes["level"]
    m = ds.mean(("seed", "sample")) if "seed" in ds.dims else ds.mean("sample")
    last = int(ds.step[-1])
    kinds = [str(k) for k in ds.islands.values]
    lines = ["level  target   " + "  ".join(f"{k + (' *' if k == islands else ''):>20}" for k in kinds)
             + "   (foreground ARI step 0 -> settled; * the claims')"]
    for l in range(levels):
        for target in ("parts", "objects"):
            v = m.ari.sel(target=target, level=l)
            cells = [f"{float(v.sel(islands=k, step=0)):.3f} -> {float(v.sel(islands=k, step=last)):.3f}"
                     for k in kinds]
            lines.append(f"{l:>5}  {target:<7}  " + "  ".join(f"{c:>20}" for c in cells))
    top = int(ds.level[-1])
    touch = ds.objects_touch.astype(bool)
    settled = ds.ari.sel(target="objects", step=last, level=top)
    for k in kinds:
        s = settled.sel(islands=k)
        lines.append(f"top level, {k} islands: objects touch {float(s.where(touch).mean()):.3f}, apart "
                     f"{float(s.where(~touch).mean()):.3f} ({float(touch.mean()):.0%} of scenes touch); lateral term "
                     f"off {float(m.ari_no_lateral.sel(islands=k, level=top)):.3f}")
    share = m.consensus_share if "seed" not in m.consensus_share.dims else m.consensus_share
    lines.append("consensus shares (bottom-up, top-down, previous, lateral): " + "; ".join(
        f"L{l} " + "/".join(f"{float(x):.2f}" for x in share.sel(level=l).values) for l in range(levels)))
    base = m.baseline_ari.sel(target="objects")
    strongest = strongest_baseline(ds)
    lines.append("baselines against objects: " + ", ".join(
        f"{b} {float(base.sel(baseline=b)):.3f}{' (strongest on validation)' if b == strongest else ''}"
        for b in base.baseline.values) + f"; ground-truth parts {float(m.true_parts_ari):.3f}")
    lines.append(f"kind probe (top level): step 0 {float(m.kind_accuracy.isel(probe_step=0, level=-1)):.3f}, settled "
                 f"{float(m.kind_accuracy.isel(probe_step=-1, level=-1)):.3f}" + (
                     f"; fill-in error: step 0 {float(m.fill_error.isel(probe_step=0)):.4f}, settled "
                     f"{float(m.fill_error.isel(probe_step=-1)):.4f}" if "fill_error" in m else ""))
    if "collapse" in ds and "untrained_collapse" in ds:  # what a standardised ARI cannot show: collapse
        seeds = ("seed",) if "seed" in ds.dims else ()
        own = ds.collapse.sel(probe_step="settled", level=top).mean(seeds)
        untrained = ds.untrained_collapse.sel(level=top).mean(seeds)
        lines.append("top level, settled test states: " + "; ".join(
            f"{name} spread within {float(c.sel(collapse_measure='spread_within')):.3f}, across images "
            f"{float(c.sel(collapse_measure='spread_across')):.3f}, participation ratio "
            f"{float(c.sel(collapse_measure='participation_ratio')):.2f}"
            for name, c in (("trained", own), ("untrained", untrained))))
    if "vote_collapse" in ds:
        lines.append(vote_line(ds))
    if "teacher_ari" in ds:
        mixed = ds.velocity_mixed.astype(bool)
        lines.append(f"teacher (motion segments of {ds.sizes['training_clip']} training clips per seed): ARI against "
                     f"objects {float(ds.teacher_ari.mean()):.3f}; {float(mixed.mean()):.0%} of clips have an object "
                     f"that shares a velocity or stands still (there {float(ds.teacher_ari.where(mixed).mean()):.3f})"
                     + (f"; part-scale segments against parts {float(ds.teacher_part_ari.mean()):.3f}"
                        if "teacher_part_ari" in ds else ""))
    if "part_pairs_ari" in ds:
        level0 = m.ari.sel(target="parts", level=0, step=last)
        lines.append(f"level 0 against parts, settled: {', '.join(f'{k} {float(level0.sel(islands=k)):.3f}' for k in kinds)}"
                     f"; same-signal baseline from part-scale motion (part_pairs) {float(m.part_pairs_ari):.3f}; "
                     f"colour_components {float(m.baseline_ari.sel(target='parts', baseline='colour_components')):.3f}")
    if "fresh_seed" in ds:
        seeds = ds.seed.values.tolist() if "seed" in ds.dims else []
        lines.append(f"seeds {', '.join(map(str, seeds))}: " + ("apart from every sweep's" if bool(ds.fresh_seed.all())
                                                                else "NOT apart from the sweeps' (fresh_seed)"))
    if "kept_update" in ds:
        kept = np.atleast_1d(ds.kept_update.values).astype(int).tolist()
        lines.append(f"weights measured: those of update {', '.join(map(str, kept))}"
                     + (" (per seed)" if len(kept) > 1 else ""))
    return "\n".join(lines)


# the criteria of L1-L3 (docs/claims.md, "Local rules on the model that binds")
LOCAL_TARGETS = dict(gain_fraction=0.8, collapse_fraction=0.5)


def _gain_ratio(local, local_start, reference, reference_start):
    """(mean local - mean local untrained) / (mean reference - mean reference untrained)."""
    def m(x):
        return np.nanmean(x, axis=(-2, -1))

    return (m(local) - m(local_start)) / (m(reference) - m(reference_start))


def _scalar_ratio(a, b):
    return np.nanmean(a, axis=(-2, -1)) / np.nanmean(b, axis=(-2, -1))


def local_claims(ds: xr.Dataset, resamples: int = 2000, targets: dict | None = None,
                 islands: str = "threshold") -> list[Claim]:
    """L1-L3: a local rule on the model that binds, against backprop's default recipe trained
    on the same clips, budget and seeds (paired per seed: the same test scenes).

    ``ds`` holds the local rule's parse evaluation over ``seed`` (``ari``, ``baseline_ari``,
    ``val_baseline_ari``, ``collapse``), its untrained network's ``untrained_ari`` (``seed,
    islands, sample``), and the reference's ``backprop_ari``, ``backprop_untrained_ari``
    (``seed, islands, sample``) and ``backprop_collapse`` (``seed, level,
    collapse_measure``, settled).
    """
    t = dict(LOCAL_TARGETS, **(targets or {}))
    bs = dict(resamples=resamples)
    d = ds.sel(islands=islands)
    top, last = int(ds.level[-1]), int(ds.step[-1])
    local = per_sample(d.ari.sel(target="objects", step=last, level=top))
    start = per_sample(d.untrained_ari)
    ref, ref_start = per_sample(d.backprop_ari), per_sample(d.backprop_untrained_ari)
    l1 = at_least("L1", interval(_gain_ratio, local, start, ref, ref_start, **bs), t["gain_fraction"],
                  f"the local rule's gain in settled top-level object ARI over its untrained network, as a fraction "
                  f"of backprop's gain over its own (same clips, budget and seeds) >= {t['gain_fraction']}")
    base = strongest_baseline(ds)
    l2 = at_least("L2", interval(difference_of_means, local, per_sample(ds.baseline_ari.sel(target="objects",
                                                                                              baseline=base)), **bs),
                  ABOVE_ZERO, f"the local rule's settled top-level object ARI minus the strongest model-free "
                              f"baseline, {base} (chosen on validation scenes), > 0")
    own = ds.collapse.sel(probe_step="settled", level=top)
    ref_collapse = ds.backprop_collapse.sel(level=top)
    parts = []
    for id_, measure, words in (("L3a", "spread_across", "spread across images"),
                                ("L3b", "participation_ratio", "effective rank (participation ratio)")):
        a = own.sel(collapse_measure=measure).values[:, None]  # seed 1: one value per seed
        b = ref_collapse.sel(collapse_measure=measure).values[:, None]
        parts.append(at_least(id_, interval(_scalar_ratio, a, b, **bs), t["collapse_fraction"],
                              f"no collapse: the local rule's top-level {words} of the settled test states over "
                              f"backprop's >= {t['collapse_fraction']}"))
    l3 = combined("L3", parts, "L3a and L3b both held (value: L3a)")
    return [l1, l2, l3, *parts]


def vote_line(ds: xr.Dataset, name: str = "vote_collapse") -> str:
    """Where the separation of objects comes from: per level, the cosine between bottom-up
    votes of columns of the same / of other objects at the first -> the last settling step
    (means over seeds)."""
    c = ds[name].mean("seed") if "seed" in ds[name].dims else ds[name]
    cos = lambda step, l, m: float(c.isel(probe_step=step).sel(level=l, collapse_measure=m))  # noqa: E731
    return "bottom-up votes, cosine same / other object, first -> last step: " + "; ".join(
        f"L{int(l)} {cos(0, l, 'cosine_same'):.2f} / {cos(0, l, 'cosine_other'):.2f} -> {cos(-1, l, 'cosine_same'):.2f} / "
        f"{cos(-1, l, 'cosine_other'):.2f}" for l in c.level.values)


def local_table(ds: xr.Dataset, islands: str = "threshold") -> str:
    """A local rule beside its backprop reference and both untrained networks: settled
    top-level object ARI, and per level the collapse measures of the settled test states
    (means over seeds)."""
    d = ds.sel(islands=islands)
    top, last = int(ds.level[-1]), int(ds.step[-1])
    mean = lambda da: float(da.mean())  # noqa: E731
    lines = [f"top level, {islands} islands, settled ARI against objects: local rule {mean(d.ari.sel(target='objects', step=last, level=top)):.3f} "
             f"(untrained {mean(d.untrained_ari):.3f}); backprop {mean(d.backprop_ari):.3f} (untrained "
             f"{mean(d.backprop_untrained_ari):.3f})",
             "collapse (settled test states)   spread within  spread across  participation ratio  cosine same / other object"]
    seeds = ("seed",) if "seed" in ds.dims else ()
    rows = [("local rule", ds.collapse.sel(probe_step="settled")), ("local untrained", ds.untrained_collapse),
            ("backprop", ds.backprop_collapse)]
    for name, c in rows:
        c = c.mean(seeds) if seeds else c
        for l in ds.level.values:
            v = c.sel(level=l).values
            lines.append(f"  {name:<16} level {int(l)}  {v[0]:>12.3f}  {v[1]:>13.3f}  {v[2]:>19.2f}  {v[3]:>12.3f} / {v[4]:.3f}")
    for name, var in (("local rule", "vote_collapse"), ("backprop", "backprop_vote_collapse")):
        if var in ds:
            lines.append(f"{name}: {vote_line(ds, var)}")
    return "\n".join(lines)
