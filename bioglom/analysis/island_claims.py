"""Claims I1-I4 (docs/claims.md, "Islands") from :func:`~bioglom.analysis.parse_eval.evaluate_parse`
datasets stacked over a ``seed`` dimension.

Every value is a statistic of per-scene measurements over seeds and held-out scenes,
with a 95 % interval from :func:`~bioglom.analysis.verdicts.bootstrap` and a three-way
verdict. A claim with several parts (I1: objects, the raw-pixel margin, parts) has one
row per part and a row whose verdict combines them.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .claim_rows import ABOVE_ZERO, at_least, combined, per_sample
from .recorder import Claim
from .verdicts import bootstrap, difference_of_means, mean_of, relative_reduction

__all__ = ["ISLAND_TARGETS", "island_claims", "island_table"]

# the criteria of I1-I4
ISLAND_TARGETS = dict(ari=0.8, above_raw=0.2, level_margin=0.2, rise=0.1, probe_gain=0.10, fill_gain=0.30)


def island_claims(ds: xr.Dataset, resamples: int = 2000, targets: dict | None = None) -> list[Claim]:
    """I1-I4 with intervals and verdicts.

    ``ds`` holds ``ari_objects``, ``ari_parts``, ``island_size`` (``seed, step, sample,
    level``), ``raw_pixels_objects`` (``seed, sample``), ``kind_accuracy`` (``seed,
    probe_step, sample, level``) and ``fill_error`` (``seed, probe_step, sample``). The
    top level is the last level; "after settling" is the last step.
    """
    t = dict(ISLAND_TARGETS, **(targets or {}))
    top = int(ds.level[-1])
    last = int(ds.step[-1])
    after = ds.sel(step=last)
    start = ds.sel(step=0)
    bs = dict(resamples=resamples)

    # I1: islands match the parse
    top_obj = per_sample(after.ari_objects.sel(level=top))
    i1a = at_least("I1a", bootstrap(mean_of, top_obj, **bs), t["ari"],
                   f"top level's islands against objects: foreground ARI after settling >= {t['ari']}")
    i1b = at_least("I1b", bootstrap(difference_of_means, top_obj, per_sample(ds.raw_pixels_objects), **bs),
                   t["above_raw"],
                   f"top level minus the raw_pixels baseline (foreground ARI against objects) >= {t['above_raw']}")
    i1c = at_least("I1c", bootstrap(mean_of, per_sample(after.ari_parts.sel(level=0)), **bs), t["ari"],
                   f"level 0's islands against parts: foreground ARI after settling >= {t['ari']}")
    i1 = combined("I1", [i1a, i1b, i1c], "I1a, I1b and I1c all held (value: I1a)")

    # I2: levels differ the way the tree does
    l0, tp = after.sel(level=0), after.sel(level=top)
    i2a = at_least("I2a", bootstrap(difference_of_means, per_sample(l0.ari_parts), per_sample(l0.ari_objects), **bs),
                   t["level_margin"], f"level 0: ARI against parts minus against objects >= {t['level_margin']}")
    i2b = at_least("I2b", bootstrap(difference_of_means, per_sample(tp.ari_objects), per_sample(tp.ari_parts), **bs),
                   t["level_margin"], f"top level: ARI against objects minus against parts >= {t['level_margin']}")
    sizes = [per_sample(after.island_size.sel(level=int(l))) for l in ds.level]

    def smallest_rise(*levels):
        means = [np.nanmean(x, axis=(-2, -1)) for x in levels]
        return np.min(np.stack([b - a for a, b in zip(means[:-1], means[1:])]), axis=0)

    i2c = at_least("I2c", bootstrap(smallest_rise, *sizes, **bs), ABOVE_ZERO,
                   "mean island size of foreground columns rises with level (value: smallest rise, columns) > 0")
    i2 = combined("I2", [i2a, i2b, i2c], "I2a, I2b and I2c all held (value: I2a)")

    # I3: islands form during settling
    i3 = at_least("I3", bootstrap(difference_of_means, top_obj, per_sample(start.ari_objects.sel(level=top)), **bs),
                  t["rise"], f"top level's foreground ARI against objects, last step minus step 0 >= {t['rise']}")

    # I4: wholes from ambiguous parts
    acc = ds.kind_accuracy.sel(level=top)
    i4a = at_least("I4a", bootstrap(difference_of_means, per_sample(acc.isel(probe_step=-1)),
                                    per_sample(acc.isel(probe_step=0)), **bs),
                   t["probe_gain"], f"object-kind probe from the top level, settled minus step 0 >= {t['probe_gain']}")
    rows = [i1, i1a, i1b, i1c, i2, i2a, i2b, i2c, i3]
    if "fill_error" in ds:
        fe = ds.fill_error
        i4b = at_least("I4b", bootstrap(relative_reduction, per_sample(fe.isel(probe_step=-1)),
                                        per_sample(fe.isel(probe_step=0)), **bs),
                       t["fill_gain"],
                       f"removed parts filled in: 1 - error settled / error at step 0 >= {t['fill_gain']}")
        rows += [combined("I4", [i4a, i4b], "I4a and I4b both held (value: I4a)"), i4a, i4b]
    else:
        rows += [combined("I4", [i4a], "I4a held (no filling-in measured) (value: I4a)"), i4a]
    return rows


def island_table(ds: xr.Dataset) -> str:
    """The islands summary: per level the foreground ARI against parts and objects at step 0
    and after settling, the baselines, the kind probe and the fill-in error, means over
    seeds and scenes."""
    levels = ds.sizes["level"]
    m = ds.mean(("seed", "sample"))
    last = int(ds.step[-1])
    lines = ["level  target   step 0  settled   (foreground ARI, mean over seeds and scenes)"]
    for l in range(levels):
        for target in ("parts", "objects"):
            v = m[f"ari_{target}"].sel(level=l)
            lines.append(f"{l:>5}  {target:<7}  {float(v.sel(step=0)):6.3f}  {float(v.sel(step=last)):7.3f}")
    lines.append(f"baselines against objects: raw_pixels {float(m.raw_pixels_objects):.3f}, raw patches thresholded "
                 f"{float(m.raw_tuned_objects):.3f}, ground-truth parts {float(m.parts_vs_objects):.3f}")
    lines.append(f"kind probe (top level): step 0 {float(m.kind_accuracy.isel(probe_step=0, level=-1)):.3f}, settled "
                 f"{float(m.kind_accuracy.isel(probe_step=-1, level=-1)):.3f}; fill-in error: step 0 "
                 f"{float(m.fill_error.isel(probe_step=0)):.4f}, settled {float(m.fill_error.isel(probe_step=-1)):.4f}")
    return "\n".join(lines)
