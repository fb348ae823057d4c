"""Building blocks of the claims modules: per-sample arrays, one claim row from an
interval, a row for a claim that could not be measured, and a row combining parts."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .recorder import Claim
from .verdicts import Interval, combine_verdicts, verdict_at_least, verdict_at_most

__all__ = ["ABOVE_ZERO", "COLLAPSE_FRACTION", "per_sample", "at_least", "at_most", "missing", "combined",
           "collapse_gate", "needs_learning"]

ABOVE_ZERO = 1e-9  # "> 0" as an at-least criterion
# features whose spread fell below this fraction of the untrained network's have collapsed
COLLAPSE_FRACTION = 0.25


def per_sample(da: xr.DataArray, samples: str = "sample") -> np.ndarray:
    """A measurement as ``[seeds, samples]``, the layout :func:`~.verdicts.interval` takes."""
    return da.transpose("seed", samples).values


def at_least(id_: str, interval: Interval, bound: float, criterion: str) -> Claim:
    """The row of the criterion ``value >= bound``."""
    return Claim.measured(id_, interval, verdict_at_least(interval, bound), criterion)


def at_most(id_: str, interval: Interval, bound: float, criterion: str) -> Claim:
    """The row of the criterion ``value <= bound``."""
    return Claim.measured(id_, interval, verdict_at_most(interval, bound), criterion)


def missing(id_: str, needs: str) -> Claim:
    """A claim the run could not measure: value NaN, ``undecided``, the criterion saying what it needs."""
    return Claim(id_, float("nan"), False, f"not measured: needs {needs}", verdict="undecided")


def combined(id_: str, parts: list[Claim], criterion: str, main: Claim | None = None) -> Claim:
    """A claim that needs every part: :func:`~.verdicts.combine_verdicts` of theirs, with the
    value and interval of ``main`` (default: the first part)."""
    main = parts[0] if main is None else main
    verdict = combine_verdicts([c.decided for c in parts])
    return Claim(id_, main.value, verdict == "held", criterion, main.low, main.high, verdict)


def needs_learning(claim: Claim, learned: Claim | None, what: str) -> Claim:
    """``claim``, an equivalence or non-inferiority ("as good as", "needs no"), made
    ``undecided`` where it is held but ``learned`` -- the row saying that the compared run
    beats its untrained start (``what`` in words) -- is not held: equal quality where
    nothing learns says nothing. The measured verdict and the gain stay in the criterion."""
    if claim.decided != "held" or (learned is not None and learned.decided == "held"):
        return claim
    gain = "not measured" if learned is None else \
        f"{learned.value:+.3f} [{learned.low:.3f}, {learned.high:.3f}], {learned.decided}"
    return claim._replace(held=False, verdict="undecided", criterion=(
        f"{claim.criterion} [measured: held; undecided because {what} is not shown to beat its untrained start "
        f"({gain}): equal accuracy where nothing learns says nothing]"))


def collapse_gate(claim: Claim, spreads: dict, fraction: float = COLLAPSE_FRACTION) -> Claim:
    """``claim``, read from the standardised probe, made ``undecided`` when the features of a
    model it compares have collapsed.

    The standardised probe divides each feature by its spread, so features shrunk toward
    one point classify as well as healthy ones. ``spreads`` is ``{model: (spread, untrained
    spread)}`` (``mean_i ||x_i - mean_j x_j||`` of the probe's features, means over seeds);
    a model has collapsed when ``spread < fraction * untrained spread``. The measured
    verdict is kept in the criterion."""
    collapsed = {n: (s, u) for n, (s, u) in spreads.items() if s < fraction * u}
    if not collapsed or claim.decided == "undecided":
        return claim
    why = "; ".join(f"{n}: spread {s:.3g} against {u:.3g} untrained" for n, (s, u) in collapsed.items())
    return claim._replace(held=False, verdict="undecided",
                          criterion=f"{claim.criterion} [measured: {claim.decided}; undecided because features "
                                    f"collapsed ({why}; below {fraction:g}x), where the standardised probe cannot "
                                    "see it]")
