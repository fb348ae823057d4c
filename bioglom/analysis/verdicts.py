"""How a verdict is reached: intervals over seeds and samples, and three verdicts.

A claim's value is a statistic of measurements taken over several seeds (model
initialisation and data stream change with the seed) and, within a seed, over held-out
samples. Its 95 % interval comes from a hierarchical bootstrap: resample the seeds with
replacement, then the samples within each chosen seed, and recompute the statistic
(Davison & Hinkley 1997, section 3.8). Measurements passed together are paired: one
resampling draws the same seeds and samples from each of them.

The verdict compares the whole interval with the criterion:

- ``held`` when every value of the interval meets it,
- ``not held`` when no value of the interval meets it,
- ``undecided`` otherwise, so one noisy reading never decides.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np

from ..config import ConfigError

__all__ = ["VERDICTS", "Interval", "bootstrap", "mean_of", "difference_of_means", "relative_reduction",
           "verdict_at_least", "verdict_at_most", "verdict_within", "combine_verdicts"]

VERDICTS = ("held", "not held", "undecided")


class Interval(NamedTuple):
    """A claim value and its 95 % interval."""

    value: float
    low: float
    high: float


def _as_array(x) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if a.ndim == 1:
        a = a[None]  # one seed
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ConfigError(f"measurements have shape {a.shape}; give [seeds, samples] with at least one of each")
    return a


def bootstrap(statistic: Callable[..., np.ndarray], *measurements, resamples: int = 2000, level: float = 0.95,
              seed: int = 0) -> Interval:
    """Value and percentile interval of ``statistic`` by a paired hierarchical bootstrap.

    Parameters
    ----------
    statistic : callable
        Takes one array per measurement, each ``[..., seeds, samples]``, and returns
        ``[...]``: it must reduce the last two axes (use ``np.nanmean`` so an undefined
        sample, NaN, is left out).
    measurements : arrays ``[seeds, samples]`` (or ``[samples]`` for one seed), all of one shape.
    resamples : bootstrap draws. level : interval coverage. seed : of the resampling.

    Returns
    -------
    :class:`Interval`: the statistic on the data as measured, and the
    ``(1 - level) / 2`` and ``(1 + level) / 2`` percentiles of its bootstrap
    distribution. With one seed, only samples are resampled.
    """
    arrays = [_as_array(m) for m in measurements]
    if not arrays or any(a.shape != arrays[0].shape for a in arrays):
        raise ConfigError(f"measurements have shapes {[a.shape for a in arrays]}; they must all be one [seeds, samples] shape")
    if not 0 < level < 1:
        raise ConfigError(f"level={level!r} is not allowed; it must lie in (0, 1)")
    s, m = arrays[0].shape
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, s, (resamples, s)) if s > 1 else np.zeros((resamples, 1), int)  # r s
    samples = rng.integers(0, m, (resamples, s, m))  # r s m
    drawn = [a[seeds[..., None], samples] for a in arrays]  # r s m each
    with np.errstate(invalid="ignore"), _quiet():
        value = float(statistic(*arrays))
        dist = np.asarray(statistic(*drawn), dtype=float)
    dist = dist[np.isfinite(dist)]
    if not math.isfinite(value) or dist.size == 0:
        return Interval(value, math.nan, math.nan)
    lo, hi = np.quantile(dist, [(1 - level) / 2, (1 + level) / 2])
    return Interval(value, float(lo), float(hi))


class _quiet:
    """Silence numpy's 'mean of empty slice' while a statistic meets an all-NaN resample."""

    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        self._w.__exit__(*exc)


def mean_of(x: np.ndarray) -> np.ndarray:
    """Statistic: the mean over seeds and samples (NaN left out)."""
    return np.nanmean(x, axis=(-2, -1))


def difference_of_means(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Statistic: ``mean(a) - mean(b)`` over seeds and samples (NaN left out)."""
    return np.nanmean(a, axis=(-2, -1)) - np.nanmean(b, axis=(-2, -1))


def relative_reduction(after: np.ndarray, before: np.ndarray) -> np.ndarray:
    """Statistic: ``1 - mean(after) / mean(before)``, the fraction by which an error fell."""
    return 1 - np.nanmean(after, axis=(-2, -1)) / np.nanmean(before, axis=(-2, -1))


def verdict_at_least(interval: Interval, bound: float) -> str:
    """Three-way verdict of the criterion ``value >= bound``: ``held`` when ``low >= bound``,
    ``not held`` when ``high < bound``, ``undecided`` otherwise (or when the interval is undefined)."""
    low, high = interval.low, interval.high
    if not (math.isfinite(low) and math.isfinite(high)):
        return "undecided"
    if low >= bound:
        return "held"
    if high < bound:
        return "not held"
    return "undecided"


def verdict_at_most(interval: Interval, bound: float) -> str:
    """Three-way verdict of the criterion ``value <= bound`` (see :func:`verdict_at_least`)."""
    flipped = Interval(-interval.value, -interval.high, -interval.low)
    return verdict_at_least(flipped, -bound)


def verdict_within(interval: Interval, bound: float) -> str:
    """Three-way verdict of an equivalence, ``|value| <= bound``: ``held`` when the whole
    interval lies in ``[-bound, bound]``, ``not held`` when none of it does, ``undecided``
    otherwise (or when the interval is undefined)."""
    low, high = interval.low, interval.high
    if not (math.isfinite(low) and math.isfinite(high)):
        return "undecided"
    if -bound <= low and high <= bound:
        return "held"
    if high < -bound or low > bound:
        return "not held"
    return "undecided"


def combine_verdicts(verdicts) -> str:
    """The verdict of a claim that needs every one of its parts: ``held`` when all are
    held, ``not held`` when any is not held, ``undecided`` otherwise."""
    verdicts = list(verdicts)
    for v in verdicts:
        if v not in VERDICTS:
            raise ConfigError(f"verdict={v!r} is not allowed; choose one of {list(VERDICTS)}")
    if not verdicts:
        raise ConfigError("combine_verdicts needs at least one verdict")
    if all(v == "held" for v in verdicts):
        return "held"
    if any(v == "not held" for v in verdicts):
        return "not held"
    return "undecided"
