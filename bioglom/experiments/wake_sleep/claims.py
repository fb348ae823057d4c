"""Claims W0-W4 (docs/claims.md, "Sleep") from per-sample evaluations stacked over seeds.

The dataset holds, along ``schedule`` (coordinates ``kind``: the preset, ``block``:
its block length, 0 where it has none, ``cycle``: updates in one wake+sleep cycle, and
``length``: updates in the run), evaluations every few updates along ``update``:

- ``probe_correct`` (``seed, schedule, update, sample``): 1 where the standardised
  linear probe of the top level classifies a held-out digit correctly;
- ``centred_norm`` (``seed, schedule, update, sample``): ``||x_i - mean_j x_j||`` of the
  top-level probe features of each held-out digit (their mean is the spread; collapse
  sends it toward 0).

Read-outs that the phase of the moment cannot bias: a schedule's final quality is the
mean over the evaluations of its last full wake+sleep cycle or its last 10 % of updates,
whichever is longer; the pre-deprivation reference is the mean over the last quarter of
the interleaved stretch. Every value comes with a 95 % interval from
:func:`~bioglom.analysis.verdicts.interval` over seeds and held-out digits. W1-W4 keep
their measured verdicts; their rows state W0's (what they compare is contrastive
learning, which W0 tests). Where ``raw_pixels_correct`` (``seed, sample``: the same probe
on the first frame's pixels) is recorded, W0a compares with the stronger of it and the
untrained network. A claim that reads the standardised probe is ``undecided`` where the
features it compares have collapsed (:func:`~bioglom.analysis.claim_rows.collapse_gate`:
the spread of a schedule's final window, or of the end of the wake-only stretch, against
the same schedule's at update 0).
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from ...analysis.claim_rows import ABOVE_ZERO, at_least, at_most, collapse_gate, combined, missing, needs_learning, per_sample
from ...analysis.recorder import Claim
from ...analysis.verdicts import difference_of_means, interval, mean_of, ratio_of_means

__all__ = ["validation_gain", "sleep_table", "SLEEP_TARGETS", "sleep_claims", "final_window", "final_readout", "find_schedule"]

SLEEP_TARGETS = dict(points=0.03, shrink=2.0, shrink_points=0.05, recover_points=0.02, recover_fraction=0.10)


def find_schedule(ds: xr.Dataset, kind: str, block: int = 0):
    """The ``schedule`` label of preset ``kind`` (and ``block``), or None."""
    hit = (ds.kind == kind) & ((ds.block == block) if block else True)
    names = ds.schedule.values[np.asarray(hit.values, bool)]
    return names[0] if len(names) else None


def final_window(length: int, cycle: int) -> int:
    """Updates the final read-out averages over: one full cycle or 10 % of the run, the longer."""
    return max(int(cycle), math.ceil(0.1 * int(length)))


def final_readout(ds: xr.Dataset, name, var: str = "probe_correct") -> xr.DataArray:
    """``var`` of schedule ``name`` averaged over the evaluations of its final window
    (:func:`final_window`), every other dimension kept."""
    s = ds.sel(schedule=name)
    length, cycle = int(s.length), int(s.cycle)
    u = ds["update"].values
    inside = (u > length - final_window(length, cycle)) & (u <= length)
    return s[var].isel(update=np.flatnonzero(inside)).mean("update")


def _final(ds: xr.Dataset, name) -> np.ndarray:
    return per_sample(final_readout(ds, name))


def _at(ds: xr.Dataset, name, after: int, until: int, var: str = "probe_correct") -> np.ndarray | None:
    """``var`` at the last evaluation in ``(after, until]`` -- never later than ``until``,
    so a coarse evaluation grid cannot grant a schedule more updates than a criterion
    allows: ``[seeds, samples]``, or None when no evaluation falls there."""
    u = ds["update"].values
    inside = np.flatnonzero((u > after) & (u <= until))
    return per_sample(ds.sel(schedule=name)[var].isel(update=inside[-1])) if len(inside) else None


def _above_the_stronger(x, a, b):
    """Statistic: ``mean(x) - max(mean(a), mean(b))``, a gain over the stronger of two references."""
    return np.nanmean(x, axis=(-2, -1)) - np.maximum(np.nanmean(a, axis=(-2, -1)), np.nanmean(b, axis=(-2, -1)))


def _spread(ds: xr.Dataset, name, after: int | None = None, until: int | None = None) -> tuple[float, float]:
    """``(spread, spread at update 0)`` of schedule ``name``, means over seeds and digits: in
    its final window, or at the last evaluation in ``(after, until]``."""
    if after is None:
        end = float(final_readout(ds, name, "centred_norm").mean())
    else:
        end = float(np.nanmean(_at(ds, name, after, until, "centred_norm")))
    return end, float(np.nanmean(_at(ds, name, -1, 0, "centred_norm")))


def _across(ds: xr.Dataset, name, after: int | None = None, until: int | None = None) -> tuple[float, float]:
    """``(spread across images, the same at update 0)`` of the top level's settled states of
    schedule ``name`` (``collapse``), means over seeds: in its final window, or at the last
    evaluation in ``(after, until]``."""
    across = ds.collapse.isel(level=-1).sel(collapse_measure="spread_across")
    u = ds["update"].values
    if after is None:
        end = float(final_readout(ds.assign(across=across), name, "across").mean())
    else:
        inside = np.flatnonzero((u > after) & (u <= until))
        end = float(across.sel(schedule=name).isel(update=inside[-1]).mean()) if len(inside) else float("nan")
    return end, float(across.sel(schedule=name).isel(update=np.flatnonzero(u <= 0)[-1]).mean())


def sleep_claims(ds: xr.Dataset, *, pre: int, deprived: int, recovery: int, resamples: int = 2000,
                 targets: dict | None = None) -> list[Claim]:
    """W0-W4 (see the module docstring for ``ds``); ``pre``, ``deprived`` and ``recovery``
    are the deprivation schedule's phase lengths."""
    t = dict(SLEEP_TARGETS, **(targets or {}))
    bs = dict(resamples=resamples)
    pts = t["points"]
    inter = find_schedule(ds, "interleaved")
    rows = []

    def gate(claim: Claim, names, after: int | None = None, until: int | None = None) -> Claim:
        spreads = {str(n): _spread(ds, n, after, until) for n in names}
        if "collapse" in ds:  # a net that outputs the same vector whatever the input keeps its spread within a digit
            spreads.update({f"{n}, top level across images": _across(ds, n, after, until) for n in names})
        return collapse_gate(claim, spreads)

    # W0: interleaved contrastive learning beats the untrained network, and needs both phases
    if inter is None:
        rows.append(missing("W0", "the interleaved schedule"))
    else:
        final = _final(ds, inter)
        if "raw_pixels_correct" in ds:
            w0a = interval(_above_the_stronger, final, _at(ds, inter, -1, 0), per_sample(ds.raw_pixels_correct), **bs)
            words = ("the stronger of the untrained network (update 0) and raw pixels (the same probe on the "
                     "pixels): final probe accuracy minus the stronger's > 0")
        else:
            w0a = interval(difference_of_means, final, _at(ds, inter, -1, 0), **bs)
            words = "the untrained network: final probe accuracy minus at update 0 > 0"
        parts = [gate(at_least("W0a", w0a, ABOVE_ZERO, f"interleaved beats {words}"), [inter])]
        for id_, kind, words in (("W0b", "positive-only", "positive (wake) learning alone"),
                                 ("W0c", "sleep-only", "negative (sleep) learning on dreams alone")):
            other = find_schedule(ds, kind)
            parts.append(missing(id_, f"the {kind} schedule") if other is None else
                         gate(at_least(id_, interval(difference_of_means, final, _final(ds, other), **bs), ABOVE_ZERO,
                                       f"the gain needs both phases: interleaved minus {words}, equal updates, > 0"),
                              [inter, other]))
        rows += [combined("W0", parts, "W0a, W0b and W0c all held (value: W0a)"), *parts]

    # W1 and W4 are non-inferiority claims: "as good as interleaved" holds trivially where nothing
    # learns, so their held verdicts need interleaved to beat the untrained network
    learned = None if inter is None else at_least(
        "", interval(difference_of_means, _final(ds, inter), _at(ds, inter, -1, 0), **bs), ABOVE_ZERO, "")

    def learns(claim: Claim) -> Claim:
        return needs_learning(claim, learned, "interleaved (final minus update 0)")

    # W1: day-night within `pts` of interleaved at every block length
    blocks = sorted(int(b) for b, k in zip(ds.block.values, ds.kind.values) if k == "day-night")
    if inter is None or not blocks:
        rows.append(missing("W1", "the interleaved and day-night schedules"))
    else:
        parts = [learns(gate(at_most(f"W1 block {b}", interval(difference_of_means, _final(ds, inter),
                                                         _final(ds, find_schedule(ds, "day-night", b)), **bs), pts,
                              f"day-night with blocks of {b}: interleaved minus day-night final accuracy <= {pts}"),
                      [inter, find_schedule(ds, "day-night", b)])) for b in blocks]
        worst = max(parts, key=lambda c: c.value)
        rows += [combined("W1", parts, f"every block length held (value: the largest shortfall, {worst.id})",
                          main=worst), *parts]

    # W2, W3: the deprivation run
    dep = find_schedule(ds, "deprivation")
    u = ds["update"].values
    ref_idx = np.flatnonzero((u > pre - pre / 4) & (u <= pre))  # the last quarter of the interleaved stretch
    end_wake = pre + deprived
    if dep is None or len(ref_idx) == 0 or _at(ds, dep, pre, end_wake) is None:
        needs = ("the deprivation schedule" if dep is None else
                 "evaluations in the last quarter of its interleaved stretch and in its wake-only stretch")
        rows += [missing("W2", needs), missing("W3", needs)]
    else:
        s = ds.sel(schedule=dep)
        ref_acc = per_sample(s.probe_correct.isel(update=ref_idx).mean("update"))
        ref_norm = per_sample(s.centred_norm.isel(update=ref_idx).mean("update"))
        # W2: per seed, the first evaluation of the wake-only stretch at which the spread has
        # halved, else the stretch's last one
        spread = s.centred_norm.mean("sample").transpose("seed", "update").values  # seed update
        stretch = (u > pre) & (u <= end_wake)
        halved = stretch & (spread <= ref_norm.mean(1, keepdims=True) / t["shrink"])  # seed update
        last = np.flatnonzero(stretch)[-1]
        first = np.where(halved.any(1), halved.argmax(1), last)  # seed
        at_halving = s.probe_correct.transpose("seed", "update", "sample").values[np.arange(len(first)), first]
        w2a = at_least("W2a", interval(ratio_of_means, ref_norm, _at(ds, dep, pre, end_wake, "centred_norm"), **bs),
                       t["shrink"], f"positive-only learning shrinks the representation: spread before / at the end "
                       f"of the wake-only stretch >= {t['shrink']:g}")
        w2b = gate(at_most("W2b", interval(difference_of_means, ref_acc, at_halving, **bs), t["shrink_points"],
                           f"while accuracy falls by little: reference minus accuracy where the spread first halves "
                           f"(else at the end of the stretch) <= {t['shrink_points']}"), [dep], pre, end_wake)
        rows += [combined("W2", [w2a, w2b], "W2a and W2b both held (value: W2a)"), w2a, w2b]
        # W3: degraded, then restored within 10 % as many sleep updates
        w3a = gate(at_least("W3a", interval(difference_of_means, ref_acc, _at(ds, dep, pre, end_wake), **bs),
                            t["recover_points"], f"quality degrades after positive-only learning: reference minus "
                            f"accuracy at its end >= {t['recover_points']}"), [dep], pre, end_wake)
        budget = math.ceil(t["recover_fraction"] * deprived)
        recovered = _at(ds, dep, end_wake, end_wake + min(budget, recovery))
        w3b = (missing("W3b", f"an evaluation within the first {budget} sleep updates of a recovery of at least "
                              f"{budget}") if recovered is None or budget > recovery else
               at_most("W3b", interval(difference_of_means, ref_acc, recovered, **bs), t["recover_points"],
                       f"and {budget} sleep updates ({t['recover_fraction']:.0%} of the wake-only ones) bring it "
                       f"back: reference minus accuracy then (the last evaluation within them) <= "
                       f"{t['recover_points']}"))
        rows += [combined("W3", [w3a, w3b], "W3a and W3b both held (value: W3a)"), w3a, w3b]

    # W4: sleep first, then alternate
    first_sleep = find_schedule(ds, "sleep-first")
    if inter is None or first_sleep is None:
        rows.append(missing("W4", "the interleaved and sleep-first schedules"))
    else:
        rows.append(learns(gate(at_most("W4", interval(difference_of_means, _final(ds, inter), _final(ds, first_sleep),
                                                       **bs), pts,
                                        f"sleep-first (negative phase first, then alternation on dreams): interleaved "
                                        f"minus sleep-first final accuracy <= {pts}"), [inter, first_sleep])))
    return _noting_w0(rows)


def _noting_w0(rows: list[Claim]) -> list[Claim]:
    """W1-W4 compare schedules of contrastive learning; where W0 is not held the learning they
    arrange is not shown to help, which their summary rows state beside their own measured
    verdicts (W0's failure is stated, not imposed)."""
    w0 = next((c for c in rows if c.id == "W0"), None)
    if w0 is None or w0.decided == "held":
        return rows
    return [c._replace(criterion=f"{c.criterion} [W0 is {w0.decided}: the contrastive learning these schedules "
                                 "arrange is not shown to help]") if c.id in ("W1", "W2", "W3", "W4") else c
            for c in rows]


def sleep_table(ds: xr.Dataset) -> str:
    """The wake/sleep summary: per schedule its updates, probe accuracy at the start and
    final (:func:`final_readout`), and the final spread and effective rank, means over seeds."""
    rows = [f"{'schedule':<16}{'updates':>8}{'acc start':>11}{'acc final':>11}{'spread final':>14}{'rank final':>12}"]
    for n in ds.schedule.values:
        final = {v: float(final_readout(ds, n, v).mean()) for v in ("accuracy", "spread", "effective_rank")}
        rows.append(f"{n:<16}{int(ds.length.sel(schedule=n)):>8}"
                    f"{float(ds.accuracy.sel(schedule=n, update=0).mean()):>11.3f}{final['accuracy']:>11.3f}"
                    f"{final['spread']:>14.3f}{final['effective_rank']:>12.2f}")
    rows.append("(final: mean over the last full wake+sleep cycle or 10 % of updates, the longer)")
    if "raw_pixels_correct" in ds:
        rows.append(f"raw pixels (the same probe on the first frame): {float(ds.raw_pixels_correct.mean()):.3f}")
    inter = find_schedule(ds, "interleaved")
    if "val_accuracy" in ds and inter is not None:
        v = validation_gain(ds, inter)
        rows.append(f"validation digits, interleaved final minus update 0: {v.value:+.3f} [{v.low:.3f}, {v.high:.3f}]")
    return "\n".join(rows)


def validation_gain(ds: xr.Dataset, name):
    """Schedule ``name``'s probe accuracy on the validation digits, final read-out
    (:func:`final_readout`) minus update 0, with its interval over seeds: what choices
    (the task size) are made on."""
    final = final_readout(ds, name, "val_accuracy")
    start = ds.val_accuracy.sel(schedule=name).isel(update=0)
    return interval(mean_of, (final - start).transpose("seed").values[:, None])
