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
:func:`~bioglom.analysis.verdicts.bootstrap` over seeds and held-out digits. W1-W4 are
``undecided`` unless W0 is held (docs/claims.md: otherwise they say nothing).
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from .recorder import Claim
from .verdicts import bootstrap, combine_verdicts, difference_of_means, verdict_at_least, verdict_at_most

__all__ = ["SLEEP_TARGETS", "sleep_claims", "final_window", "find_schedule"]

SLEEP_TARGETS = dict(points=0.03, shrink=2.0, shrink_points=0.05, recover_points=0.02, recover_fraction=0.10)
ABOVE_ZERO = 1e-9


def find_schedule(ds: xr.Dataset, kind: str, block: int = 0):
    """The ``schedule`` label of preset ``kind`` (and ``block``), or None."""
    hit = (ds.kind == kind) & ((ds.block == block) if block else True)
    names = ds.schedule.values[np.asarray(hit.values, bool)]
    return names[0] if len(names) else None


def final_window(length: int, cycle: int) -> int:
    """Updates the final read-out averages over: one full cycle or 10 % of the run, the longer."""
    return max(int(cycle), math.ceil(0.1 * int(length)))


def _sm(da: xr.DataArray) -> np.ndarray:
    return da.transpose("seed", "sample").values


def _final(ds: xr.Dataset, name, var: str = "probe_correct") -> np.ndarray:
    """Per-sample mean of ``var`` over the final window of schedule ``name``: ``[seeds, samples]``."""
    s = ds.sel(schedule=name)
    length, cycle = int(s.length), int(s.cycle)
    u = ds["update"].values
    inside = (u > length - final_window(length, cycle)) & (u <= length)
    return _sm(s[var].isel(update=np.flatnonzero(inside)).mean("update"))


def _at(ds: xr.Dataset, name, update: int, var: str = "probe_correct") -> np.ndarray:
    """``var`` at the first evaluation at or after ``update``: ``[seeds, samples]``."""
    u = ds["update"].values
    i = int(np.flatnonzero(u >= update)[0])
    return _sm(ds.sel(schedule=name)[var].isel(update=i))


def _missing(id_, needs: str) -> Claim:
    return Claim(id_, float("nan"), False, f"not measured: needs the {needs} schedule(s)", verdict="undecided")


def _combined(id_, parts: list[Claim], criterion: str) -> Claim:
    verdict = combine_verdicts([c.decided for c in parts])
    main = parts[0]
    return Claim(id_, main.value, verdict == "held", criterion, main.low, main.high, verdict)


def _ratio_of_means(a, b):
    return np.nanmean(a, axis=(-2, -1)) / np.nanmean(b, axis=(-2, -1))


def sleep_claims(ds: xr.Dataset, *, pre: int, deprived: int, recovery: int, resamples: int = 2000,
                 targets: dict | None = None) -> list[Claim]:
    """W0-W4 (see the module docstring for ``ds``); ``pre``, ``deprived`` and ``recovery``
    are the deprivation schedule's phase lengths."""
    t = dict(SLEEP_TARGETS, **(targets or {}))
    bs = dict(resamples=resamples)
    pts = t["points"]
    inter = find_schedule(ds, "interleaved")
    rows = []

    # W0: interleaved contrastive learning beats the untrained network, and needs both phases
    if inter is None:
        rows.append(_missing("W0", "interleaved"))
    else:
        final = _final(ds, inter)
        parts = []
        v = bootstrap(difference_of_means, final, _at(ds, inter, 0), **bs)
        parts.append(Claim.measured("W0a", v, verdict_at_least(v, ABOVE_ZERO),
                                    "interleaved beats the untrained network: final probe accuracy minus at update 0 > 0"))
        for id_, kind, words in (("W0b", "positive-only", "positive (wake) learning alone"),
                                 ("W0c", "sleep-only", "negative (sleep) learning on dreams alone")):
            other = find_schedule(ds, kind)
            if other is None:
                parts.append(_missing(id_, kind))
                continue
            v = bootstrap(difference_of_means, final, _final(ds, other), **bs)
            parts.append(Claim.measured(id_, v, verdict_at_least(v, ABOVE_ZERO),
                                        f"the gain needs both phases: interleaved minus {words}, equal updates, > 0"))
        rows += [_combined("W0", parts, "W0a, W0b and W0c all held (value: W0a)"), *parts]

    # W1: day-night within `pts` of interleaved at every block length
    blocks = sorted(int(b) for b, k in zip(ds.block.values, ds.kind.values) if k == "day-night")
    if inter is None or not blocks:
        rows.append(_missing("W1", "interleaved and day-night"))
    else:
        parts = []
        for b in blocks:
            v = bootstrap(difference_of_means, _final(ds, inter), _final(ds, find_schedule(ds, "day-night", b)), **bs)
            parts.append(Claim.measured(f"W1 block {b}", v, verdict_at_most(v, pts),
                                        f"day-night with blocks of {b}: interleaved minus day-night final accuracy "
                                        f"<= {pts}"))
        worst = max(parts, key=lambda c: c.value)
        verdict = combine_verdicts([c.decided for c in parts])
        rows += [Claim("W1", worst.value, verdict == "held", f"every block length held (value: the largest shortfall, "
                       f"{worst.id})", worst.low, worst.high, verdict), *parts]

    # W2, W3: the deprivation run
    dep = find_schedule(ds, "deprivation")
    if dep is None:
        rows += [_missing("W2", "deprivation"), _missing("W3", "deprivation")]
    else:
        u = ds["update"].values
        ref_idx = np.flatnonzero((u > pre - pre / 4) & (u <= pre))
        s = ds.sel(schedule=dep)
        ref_acc = _sm(s.probe_correct.isel(update=ref_idx).mean("update"))
        ref_norm = _sm(s.centred_norm.isel(update=ref_idx).mean("update"))
        end_wake = pre + deprived
        # W2: the first evaluation of the wake-only stretch at which the spread has halved (per seed)
        spread = s.centred_norm.mean("sample").transpose("seed", "update").values  # seed update
        halved = []
        for k in range(ds.sizes["seed"]):
            ok = np.flatnonzero((u > pre) & (u <= end_wake) & (spread[k] <= ref_norm[k].mean() / t["shrink"]))
            halved.append(int(ok[0]) if len(ok) else int(np.flatnonzero(u >= end_wake)[0]))
        pick = lambda var: np.stack([s[var].isel(seed=k, update=i).values for k, i in enumerate(halved)])  # noqa: E731
        shrink = bootstrap(_ratio_of_means, ref_norm, _at(ds, dep, end_wake, "centred_norm"), **bs)
        w2a = Claim.measured("W2a", shrink, verdict_at_least(shrink, t["shrink"]),
                             f"positive-only learning shrinks the representation: spread before / at the end of the "
                             f"wake-only stretch >= {t['shrink']:g}")
        drop = bootstrap(difference_of_means, ref_acc, pick("probe_correct"), **bs)
        w2b = Claim.measured("W2b", drop, verdict_at_most(drop, t["shrink_points"]),
                             f"while accuracy falls by little: reference minus accuracy where the spread first halves "
                             f"(else at the end of the stretch) <= {t['shrink_points']}")
        rows += [_combined("W2", [w2a, w2b], "W2a and W2b both held (value: W2a)"), w2a, w2b]
        # W3: degraded, then restored within 10 % as many sleep updates
        degr = bootstrap(difference_of_means, ref_acc, _at(ds, dep, end_wake), **bs)
        w3a = Claim.measured("W3a", degr, verdict_at_least(degr, t["recover_points"]),
                             f"quality degrades after positive-only learning: reference minus accuracy at its end >= "
                             f"{t['recover_points']}")
        budget = math.ceil(t["recover_fraction"] * deprived)
        if budget > recovery or u.max() < end_wake + budget:
            w3b = _missing("W3b", f"deprivation with a recovery of at least {budget} updates")
        else:
            rec = bootstrap(difference_of_means, ref_acc, _at(ds, dep, end_wake + budget), **bs)
            w3b = Claim.measured("W3b", rec, verdict_at_most(rec, t["recover_points"]),
                                 f"and {budget} sleep updates ({t['recover_fraction']:.0%} of the wake-only ones) bring it "
                                 f"back: reference minus accuracy then <= {t['recover_points']}")
        rows += [_combined("W3", [w3a, w3b], "W3a and W3b both held (value: W3a)"), w3a, w3b]

    # W4: sleep first, then alternate
    first = find_schedule(ds, "sleep-first")
    if inter is None or first is None:
        rows.append(_missing("W4", "interleaved and sleep-first"))
    else:
        v = bootstrap(difference_of_means, _final(ds, inter), _final(ds, first), **bs)
        rows.append(Claim.measured("W4", v, verdict_at_most(v, pts),
                                   f"sleep-first (negative phase first, then alternation on dreams): interleaved minus "
                                   f"sleep-first final accuracy <= {pts}"))
    return _gated_on_w0(rows)


def _gated_on_w0(rows: list[Claim]) -> list[Claim]:
    """W1-W4 compare schedules of contrastive learning; unless W0 shows that the contrastive
    learning is what helps, they say nothing about it, so their summary rows become
    ``undecided`` (the measured verdict is kept in the criterion; the part rows keep theirs)."""
    w0 = next((c for c in rows if c.id == "W0"), None)
    if w0 is None or w0.decided == "held":
        return rows
    out = []
    for c in rows:
        if c.id in ("W1", "W2", "W3", "W4") and c.decided != "undecided":
            c = c._replace(held=False, verdict="undecided",
                           criterion=f"{c.criterion} [measured: {c.decided}; undecided because W0 is {w0.decided}: "
                                     "the contrastive learning these schedules arrange is not shown to help]")
        out.append(c)
    return out
