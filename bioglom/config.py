"""The model's configuration: one dataclass, validated field by field before any work.

Every choice that docs/design.md names is a field chosen by name (``columns="unshared"``,
``neighbourhood="gaussian"``, ``consensus="precision"``); each name is mapped once, in the
module that implements it, to the code that implements it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["GlomConfig", "ConfigError", "NonFiniteError", "check_choice", "check_positive", "check_bool",
           "changed_fields", "gaussian_radius", "machine_memory", "check_count"]


class ConfigError(ValueError):
    """A configuration or input value that is not allowed.

    The message always names the field, the value and what is allowed.
    """


class NonFiniteError(FloatingPointError):
    """A computation produced a non-finite value; the message says where (update, settling
    step, level, net)."""


MAX_LEVELS = 32


def changed_fields(saved: dict, wanted: dict, defaults: dict | None = None, prefix: str = "") -> list[str]:
    """Names of the fields whose values differ between a saved run and the wanted one,
    dotted for nested dicts (``rule_options.margin``). Values are compared as JSON, so a
    tuple equals the list it was saved as. A field the saved run lacks is no change when
    the wanted value is its entry in ``defaults`` (an option added after the run was saved)."""
    def norm(v):
        return json.dumps(v, sort_keys=True, default=str)

    defaults = defaults or {}
    out = []
    for k in sorted(set(saved) | set(wanted)):
        old, new = saved.get(k), wanted.get(k)
        if isinstance(old, dict) and isinstance(new, dict):
            out += changed_fields(old, new, defaults.get(k), f"{prefix}{k}.")
        elif norm(old) != norm(new) and not (k not in saved and k in defaults and norm(new) == norm(defaults[k])):
            out.append(prefix + k)
    return out


def check_bool(name: str, value, *, optional: bool = False) -> None:
    """``value`` must be True or False (or None where ``optional``): a string such as
    ``"no"`` is refused rather than read as true."""
    if value is None and optional:
        return
    if not isinstance(value, (bool, np.bool_)):
        allowed = "True, False or None" if optional else "True or False"
        raise ConfigError(f"{name}={value!r} is not allowed; it must be {allowed}")


def check_choice(name: str, value: Any, allowed) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not allowed; choose one of {sorted(allowed)}")


def check_positive(name: str, value, *, strict: bool = True, integer: bool = False) -> None:
    # numpy scalars are numbers too (numbers.Integral / numbers.Real)
    ok_type = isinstance(value, numbers.Integral) if integer else isinstance(value, numbers.Real)
    if isinstance(value, (bool, np.bool_)) or not ok_type or not math.isfinite(value):
        kind = "an integer" if integer else "a finite number"
        raise ConfigError(f"{name}={value!r} is not allowed; it must be {kind}")
    if (strict and value <= 0) or (not strict and value < 0):
        raise ConfigError(f"{name}={value!r} is not allowed; it must be {'> 0' if strict else '>= 0'}")


def check_between(name: str, value, low: float, high: float) -> None:
    """A finite real number from ``low`` to ``high`` (both included), not a bool."""
    if (isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not math.isfinite(value)
            or not low <= value <= high):
        raise ConfigError(f"{name}={value!r} is not allowed; it must be a finite number from {low} to {high}")


SEED_LIMIT = 2**63  # torch and numpy take seeds below it; derived seeds are reduced modulo it


def check_seed(name: str, value) -> None:
    """A seed: an integer from 0 to 2**63 - 1 (not a bool)."""
    check_positive(name, value, strict=False, integer=True)
    if value >= SEED_LIMIT:
        raise ConfigError(f"{name}={value!r} is not allowed; it must be an integer from 0 to 2**63 - 1")


def _per_level(name: str, value, levels: int) -> tuple:
    """A scalar applies to every level; a sequence must give one value per level."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, numbers.Real)):
        raise ConfigError(f"{name}={value!r} is not allowed; give a number, or one number per level ({levels})")
    if isinstance(value, (list, tuple)):
        if len(value) != levels:
            raise ConfigError(f"{name}={tuple(value)!r} is not allowed; it must give one value per level ({levels})")
        return tuple(value)
    return (value,) * levels


NEIGHBOURHOODS = ("full", "window", "gaussian")
SIMILARITIES = ("cosine", "dot")
CONSENSUS = ("mean", "precision", "oscillator")
NORMS = ("layer", "l2", "groups", "none")
FRONTENDS = ("linear", "conv")
ACTIVATIONS = ("gelu", "relu", "tanh", "sine")
COLUMNS = ("shared", "unshared")
COLUMN_INITS = ("identical", "independent")
INIT_STATES = ("bottom_up", "zeros", "previous")
RETINAS = ("uniform", "foveated")


# the allowed values of GlomConfig's string fields
FIELD_CHOICES = {"neighbourhood": NEIGHBOURHOODS, "similarity": SIMILARITIES, "consensus": CONSENSUS, "norm": NORMS,
                 "frontend": FRONTENDS, "activation": ACTIVATIONS, "columns": COLUMNS, "column_init": COLUMN_INITS,
                 "init_state": INIT_STATES, "retina": RETINAS}

def machine_memory() -> int | None:
    """This machine's physical memory in bytes (None where it cannot be told)."""
    import os

    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def gib(n_bytes: float) -> str:
    """``n_bytes`` in GiB, for messages."""
    return f"{n_bytes / 2**30:.3g} GiB"


def check_count(name: str, n: int, bytes_each: float, what: str) -> None:
    """Refuse, before any work, a count ``n`` whose ``what`` (about ``bytes_each`` bytes
    each) cannot fit in this machine's memory, with the estimate."""
    memory = machine_memory()
    if memory is not None and n * bytes_each > memory:
        raise ConfigError(f"{name}={n} is not allowed here: {what} would take about {gib(n * bytes_each)}, more than "
                          f"this machine's {gib(memory)}; give fewer")


def gaussian_radius(grid: tuple[int, int], k: int, sigma: float) -> int:
    """The Chebyshev radius within which the ``gaussian`` neighbourhood
    (:func:`bioglom.attention.gaussian_neighbours`) draws a level's ``k`` columns:
    ``min(max(ceil(4 sigma), ceil(sqrt(k + 1))), max(H, W) - 1)``. It lives here, with the
    fields it reads, so that the memory estimate and the attention share it."""
    return min(max(math.ceil(4 * sigma), math.ceil(math.sqrt(k + 1))), max(grid) - 1)


@dataclass(frozen=True)
class GlomConfig:
    """Configuration of a GLOM model (docs/design.md §2-4).

    Parameters
    ----------
    levels : int
        Number of levels ``L`` of the part-whole hierarchy (>= 2); level 0 is nearest the pixels.
    dim : int
        Embedding size ``D`` at every level.
    image_size : int or (int, int)
        Image height and width in pixels.
    patch_size : int
        Pixels per column side; the grid is ``(H_img / p, W_img / p)``.
    channels : int
        Image channels ``C``.
    columns : {"shared", "unshared"}
        One bottom-up and top-down net per level used by every column, or one per column.
    column_init : {"identical", "independent"}
        Unshared nets start as copies of one net, or drawn independently.
    hidden : int
        Hidden units of each column MLP (one hidden layer).
    activation : {"gelu", "relu", "tanh", "sine"}
        Hidden activation of the column nets; ``sine`` is SIREN's ``sin(w0 x)``.
    sine_w0 : float
        Frequency factor of the sine activation (SIREN uses 30 on the first layer).
    td_location : bool or None
        Whether top-down nets take a sinusoidal location encoding. ``None`` means: on for
        shared columns (a neural field, paper 2.3), off for unshared (paper 12.1).
    bu_location : bool
        Whether bottom-up nets take the location encoding too, so that a part at a known
        place can predict the pose of its whole (paper 2.3-2.4: the object vector carries
        the pose, and the top-down net turns it and a location into the part). Off by default.
    location_frequencies : int
        Frequencies per axis of the location encoding (encoding size ``4 * F``).
    neighbourhood : {"full", "window", "gaussian"}
        Which columns a column attends to at each level (paper 6).
    radius : int or tuple
        Chebyshev radius per level for ``window``; default grows with level.
    gaussian_k : int or tuple
        Columns sampled (besides the column itself) per level for ``gaussian``.
    gaussian_sigma : float or tuple
        Width, in columns, of the sampling Gaussian per level; default grows with level.
    gaussian_resample : bool
        Sample the neighbourhood afresh at every settling step instead of once.
    similarity : {"cosine", "dot"}
        Attention similarity: cosine, or ``dot / sqrt(D)``.
    beta_start, beta_end : float
        Inverse temperature of attention, linear over settling steps (paper 3.4).
    consensus : {"mean", "precision", "oscillator"}
        Weighted mean of the contributions, precision-weighted mean where the nets also
        output a per-dimension log-precision (paper 9.1), or oscillators: each level a set
        of groups of ``oscillator_group`` dimensions on spheres, rotated by the bottom-up and
        top-down contributions (stimulus) and lateral attention (coupling) (AKOrN; needs
        ``norm="groups"``).
    oscillator_group : int
        Dimensions per oscillator (``norm="groups"``); must divide ``dim`` and be even.
    oscillator_rate : float
        Step size ``gamma`` of the oscillator update.
    omega : float
        Natural frequency of the oscillators (0: none).
    weights_start, weights_end : tuple of 4 floats
        Consensus weights ``(bottom_up, top_down, previous, lateral)`` at the first and
        last settling step, linear in between (paper 9.1: bottom-up most reliable first).
    norm : {"layer", "l2", "groups", "none"}
        Normalisation of each embedding vector after the consensus. ``layer`` has no
        learned affine (column locality); ``l2`` scales to norm ``sqrt(D)``; ``groups``
        scales every group of ``oscillator_group`` dimensions to norm
        ``sqrt(oscillator_group)``.
    normalise_votes : bool
        Normalise each net's vote (``norm``) before the consensus combines it, so that the
        consensus weights (and precisions) alone set each contribution's share. Off: the
        raw net outputs are combined, and their norms act as weights no rule sets directly
        (a local rule's error reaches the net through the vote's normalisation, which
        leaves the norm alone, so under a local rule the norms drift: measured, a top-level
        bottom-up vote 1.5x and a level-0 vote 8x the state's norm after 600 updates).
    frontend : {"linear", "conv"}
        Patch embedding: a linear map of each patch, or a small convolutional net.
    decoder_hidden : int
        Hidden units of the neural-field decoder.
    retina : {"uniform", "foveated"}
        Where each column looks (bioglom/retina.py): the patch under it, or a field of the
        same number of samples that grows with eccentricity from the fixation (paper 12.1).
    fixation : (float, float) or None
        Fixation of the foveated retina as (row, column) of the column grid; ``None``: the
        centre of the grid.
    foveation : float
        Exponent ``gamma >= 1`` of the foveated retina's warp (1: uniform fields).
    aberration : float
        Foveated retina: radial displacement, in pixels at the farthest column, of the last
        channel (channel ``k`` of ``C`` moves ``(k + 1) / C`` of it); 0: none.
    init_state : {"bottom_up", "zeros", "previous"}
        Initial state: one bottom-up pass, zeros, or (video) the last state of the
        previous frame, with a bottom-up pass for the first frame.
    seed : int
        Seed of the initial weights and of a fixed Gaussian neighbourhood.
    init_perturbation : float
        Every initial weight times ``1 + e``, ``e`` uniform in ``[-x, x]`` from a stream of
        its own (0: none): a change that should not matter, for measuring how far a rerun
        moves a claim (e.g. 1e-7, float32's rounding).
    """

    levels: int = 3
    dim: int = 32
    image_size: int | tuple[int, int] = 16
    patch_size: int = 2
    channels: int = 3
    columns: str = "shared"
    column_init: str = "identical"
    hidden: int = 64
    activation: str = "gelu"
    sine_w0: float = 30.0
    td_location: bool | None = None
    bu_location: bool = False
    location_frequencies: int = 4
    neighbourhood: str = "window"
    radius: int | tuple[int, ...] | None = None
    gaussian_k: int | tuple[int, ...] = 8
    gaussian_sigma: float | tuple[float, ...] | None = None
    gaussian_resample: bool = False
    similarity: str = "cosine"
    beta_start: float = 2.0
    beta_end: float = 12.0
    consensus: str = "mean"
    weights_start: tuple[float, float, float, float] = (1.0, 0.2, 1.0, 0.5)
    weights_end: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    norm: str = "layer"
    normalise_votes: bool = False
    oscillator_group: int = 4
    oscillator_rate: float = 0.5
    omega: float = 0.0
    frontend: str = "linear"
    decoder_hidden: int = 64
    retina: str = "uniform"
    fixation: tuple[float, float] | None = None
    foveation: float = 2.0
    aberration: float = 0.0
    init_state: str = "bottom_up"
    seed: int = 0
    init_perturbation: float = 0.0

    def __post_init__(self):
        for f in dataclasses.fields(self):  # numpy scalars become Python numbers, so configs serialise
            v = getattr(self, f.name)
            if isinstance(v, np.generic):  # np.bool_ too: True stays a bool, and a bool field takes it
                object.__setattr__(self, f.name, v.item())
            elif isinstance(v, np.ndarray) and v.ndim == 1:  # an array of values per level is a tuple of them
                object.__setattr__(self, f.name, tuple(x.item() for x in v))
            elif isinstance(v, (list, tuple)):
                object.__setattr__(self, f.name, type(v)(x.item() if isinstance(x, np.generic) else x for x in v))
        self.validate()

    # ---- derived quantities -------------------------------------------------------
    @property
    def image_hw(self) -> tuple[int, int]:
        s = self.image_size
        return (s, s) if isinstance(s, int) else tuple(s)

    @property
    def grid(self) -> tuple[int, int]:
        h, w = self.image_hw
        return (h // self.patch_size, w // self.patch_size)

    @property
    def n_columns(self) -> int:
        h, w = self.grid
        return h * w

    @property
    def fixation_point(self) -> tuple[float, float]:
        if self.fixation is None:
            return ((self.grid[0] - 1) / 2, (self.grid[1] - 1) / 2)
        return tuple(float(v) for v in self.fixation)

    @property
    def uses_location(self) -> bool:
        return self.columns == "shared" if self.td_location is None else bool(self.td_location)

    @property
    def radii(self) -> tuple[int, ...]:
        if self.radius is None:
            side = max(self.grid) - 1
            return tuple(min(2**l, side) for l in range(self.levels))
        return _per_level("radius", self.radius, self.levels)

    @property
    def gaussian_ks(self) -> tuple[int, ...]:
        return _per_level("gaussian_k", self.gaussian_k, self.levels)

    @property
    def gaussian_sigmas(self) -> tuple[float, ...]:
        if self.gaussian_sigma is None:
            return tuple(float(2**l) for l in range(self.levels))
        return _per_level("gaussian_sigma", self.gaussian_sigma, self.levels)

    # ---- validation ----------------------------------------------------------------
    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first field whose value is not allowed."""
        for name in ("levels", "dim", "patch_size", "channels", "hidden", "location_frequencies", "decoder_hidden"):
            check_positive(name, getattr(self, name), integer=True)
        if not 2 <= self.levels <= MAX_LEVELS:
            raise ConfigError(f"levels={self.levels!r} is not allowed; give 2 to {MAX_LEVELS} levels")
        check_seed("seed", self.seed)
        check_between("init_perturbation", self.init_perturbation, 0.0, 0.5)
        hw = self.image_size if isinstance(self.image_size, (list, tuple)) else (self.image_size,)
        if isinstance(self.image_size, (list, tuple)) and len(hw) != 2:
            raise ConfigError(f"image_size={self.image_size!r} is not allowed; give an int or (height, width)")
        for v in hw:
            check_positive("image_size", v, integer=True)
        for side in self.image_hw:
            if side % self.patch_size:
                raise ConfigError(
                    f"patch_size={self.patch_size!r} is not allowed; it must divide image_size={self.image_size!r}"
                )
        check_choice("columns", self.columns, COLUMNS)
        check_choice("column_init", self.column_init, COLUMN_INITS)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("neighbourhood", self.neighbourhood, NEIGHBOURHOODS)
        check_choice("similarity", self.similarity, SIMILARITIES)
        check_choice("consensus", self.consensus, CONSENSUS)
        check_choice("norm", self.norm, NORMS)
        check_positive("oscillator_group", self.oscillator_group, integer=True)
        check_positive("oscillator_rate", self.oscillator_rate)
        check_positive("omega", self.omega, strict=False)
        if self.norm == "groups" and (self.oscillator_group % 2 or self.dim % self.oscillator_group):
            raise ConfigError(f"oscillator_group={self.oscillator_group!r} is not allowed with dim={self.dim}; it must "
                              "be even and divide dim")
        if self.consensus == "oscillator" and self.norm != "groups":
            raise ConfigError(f"norm={self.norm!r} is not allowed with consensus='oscillator'; oscillators live on "
                              "spheres: use norm='groups'")
        check_choice("frontend", self.frontend, FRONTENDS)
        check_choice("init_state", self.init_state, INIT_STATES)
        check_bool("bu_location", self.bu_location)
        check_bool("normalise_votes", self.normalise_votes)
        if self.normalise_votes and self.consensus == "oscillator":
            raise ConfigError("normalise_votes=True is not allowed with consensus='oscillator'; the oscillators' drive "
                              "is not a consensus of votes")
        check_bool("gaussian_resample", self.gaussian_resample)
        check_bool("td_location", self.td_location, optional=True)
        self._validate_retina()
        check_positive("sine_w0", self.sine_w0)
        check_positive("beta_start", self.beta_start, strict=False)
        check_positive("beta_end", self.beta_end, strict=False)
        for name in ("weights_start", "weights_end"):
            w = getattr(self, name)
            if not isinstance(w, (list, tuple)) or len(w) != 4:
                raise ConfigError(f"{name}={w!r} is not allowed; give 4 weights (bottom_up, top_down, previous, lateral)")
            for v in w:
                check_positive(name, v, strict=False)
            if w[0] + w[2] + w[3] <= 0:
                raise ConfigError(f"{name}={tuple(w)!r} is not allowed; the top level needs a non-zero bottom-up, previous or lateral weight")
        n, side = self.n_columns, max(self.grid) - 1
        for r in self.radii if self.neighbourhood == "window" else ():
            if isinstance(r, bool) or not isinstance(r, int) or r < 0 or r > max(side, 0):
                raise ConfigError(
                    f"radius={self.radius!r} is not allowed; each radius must be an integer from 0 to {side} (grid {self.grid})"
                )
        for k in self.gaussian_ks if self.neighbourhood == "gaussian" else ():
            if isinstance(k, bool) or not isinstance(k, int) or k < 0 or k > n - 1:
                raise ConfigError(
                    f"gaussian_k={self.gaussian_k!r} is not allowed; each K must be an integer from 0 to {n - 1} (grid {self.grid})"
                )
        for s in self.gaussian_sigmas if self.neighbourhood == "gaussian" else ():
            check_positive("gaussian_sigma", s)

    def _validate_retina(self) -> None:
        check_choice("retina", self.retina, RETINAS)
        if self.fixation is not None:
            fix = self.fixation
            if not isinstance(fix, (list, tuple)) or len(fix) != 2 or any(
                    isinstance(v, bool) or not isinstance(v, (int, float)) for v in fix):
                raise ConfigError(f"fixation={fix!r} is not allowed; give (row, column) of the column grid")
            gh, gw = self.grid
            if not (0 <= fix[0] <= gh - 1 and 0 <= fix[1] <= gw - 1):
                raise ConfigError(f"fixation={tuple(fix)!r} is not allowed; it must lie inside the column grid: "
                                  f"row 0..{gh - 1}, column 0..{gw - 1}")
        check_positive("foveation", self.foveation)
        if self.foveation < 1:
            raise ConfigError(f"foveation={self.foveation!r} is not allowed; it must be >= 1 (1: uniform fields)")
        check_positive("aberration", self.aberration, strict=False)
        if self.retina == "uniform" and self.aberration:
            raise ConfigError(f"aberration={self.aberration!r} is not allowed with retina='uniform'; "
                              "it needs retina='foveated'")
        self._check_size()
        if self.retina == "foveated":
            from .retina import receptive_fields  # geometry lives with the retina

            pts = receptive_fields(self)["points"]
            h, w = self.image_hw
            bad = (pts[..., 0] < 0) | (pts[..., 0] > h) | (pts[..., 1] < 0) | (pts[..., 1] > w)
            if bad.any():
                c, n = (int(v[0]) for v in bad.nonzero()[:2])
                raise ConfigError(f"aberration={self.aberration!r} is not allowed; column {n}'s receptive field (channel "
                                  f"{c}) leaves the {h}x{w} image; lower it")

    def weight_count(self) -> int:
        """Parameters of the column nets (the bulk of the model): ``(2L - 1) x C`` MLPs of
        ``D -> H -> D_out`` (``C`` = 1 shared, ``N`` unshared; ``D_out = 2D`` with precision
        consensus), with their location inputs, plus the front end's patch embedding."""
        columns = 1 if self.columns == "shared" else self.n_columns
        d_out = self.dim * (2 if self.consensus == "precision" else 1)
        loc = 4 * self.location_frequencies
        per_net = self.dim * self.hidden + self.hidden + self.hidden * d_out + d_out + loc * self.hidden
        patch = self.patch_size**2 * self.channels * self.dim
        return (2 * self.levels - 1) * columns * per_net + patch

    def attention_slots(self) -> int:
        """How many columns each column's lateral attention holds: ``K`` of the gathered
        (sparse) form, ``(2 R + 1)^2`` for a window of largest radius ``R`` and ``1 + k``
        for a Gaussian, when that is at most a quarter of the ``N`` columns; otherwise
        ``N`` (every pair masked densely, ``[L, N, N]``)."""
        n = self.n_columns
        if self.neighbourhood == "full":
            return n
        k = (2 * max(self.radii) + 1) ** 2 if self.neighbourhood == "window" else 1 + max(self.gaussian_ks)
        return k if 4 * k <= n else n

    def memory_estimate(self) -> dict:
        """Bytes a model of this config allocates, estimated before anything is built:

        - ``weights``: the column nets and patch embedding (float32, :meth:`weight_count`);
        - ``buffers``: what building the model holds at its peak besides the weights: the
          attention neighbourhood, dense (the ``[L, N, N]`` mask plus, for a window or a
          Gaussian draw, ``[N, N]`` distance temporaries of 16 or 32 bytes a pair) or
          gathered (``[L, N, K]`` indices and flags, 9 bytes a slot, plus a window's 24
          bytes or a Gaussian draw's 17 bytes per candidate while drawing), and the
          sinusoidal position encodings of every pixel and column (float32);
        - ``per_image``: one image's state ``[L, N, D]`` and attention weights ``[L, N, K]``
          at one settling step (float32, four copies of the state: bottom-up, top-down,
          attention and the state itself)."""
        n, levels, k = self.n_columns, self.levels, self.attention_slots()
        if k == n:
            temporaries = {"full": 0, "window": 16, "gaussian": 32}[self.neighbourhood]
            neighbourhood = (levels + temporaries) * n * n
        elif self.neighbourhood == "window":
            neighbourhood = (9 * levels + 24) * n * k
        else:
            side = max(gaussian_radius(self.grid, kk, s) for kk, s in zip(self.gaussian_ks, self.gaussian_sigmas))
            neighbourhood = 9 * levels * n * k + 17 * n * (2 * side + 1) ** 2
        h, w = self.image_hw
        positions = 16 * (h * w * (self.location_frequencies + 1) + n * self.location_frequencies)
        per_image = 4 * (4 * levels * n * self.dim + levels * n * k)
        return {"weights": 4 * self.weight_count(), "buffers": neighbourhood + positions, "per_image": per_image}

    def _check_size(self) -> None:
        """Refuse, before anything is allocated, a model that cannot fit in this machine's
        memory (:meth:`memory_estimate`): its weights (training needs about 4x: gradients,
        Adam), its attention neighbourhood, or one image's settling step."""
        memory = machine_memory()
        if memory is None:
            return  # no way to tell here; the allocator will say
        est = self.memory_estimate()
        here = f"more than this machine's {gib(memory)}"
        if est["weights"] > memory:
            raise ConfigError(f"dim={self.dim}, hidden={self.hidden}, columns={self.columns!r} with "
                              f"{self.n_columns} columns are not allowed here: the column nets' weights alone take "
                              f"about {gib(est['weights'])} (training about 4x), {here}; make the model smaller")
        size = (f"image_size={self.image_size!r}, patch_size={self.patch_size} ({self.n_columns} columns), "
                f"neighbourhood={self.neighbourhood!r}")
        if est["weights"] + est["buffers"] > memory:
            slots = self.attention_slots()
            form = "every pair of columns, [L, N, N]" if slots == self.n_columns else f"{slots} columns each"
            raise ConfigError(f"{size} are not allowed here: the attention neighbourhood ({form}) and position "
                              f"encodings take about {gib(est['buffers'])} to build, {here}; use fewer columns (a "
                              "larger patch_size or smaller image)"
                              + (" or a local neighbourhood" if self.neighbourhood == "full" else ""))
        if est["weights"] + est["buffers"] + est["per_image"] > memory:
            raise ConfigError(f"{size}, dim={self.dim} are not allowed here: one image's settling step takes about "
                              f"{gib(est['per_image'])}, {here}; use fewer columns or a smaller dim")

    # ---- serialisation -------------------------------------------------------------
    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "GlomConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f"unknown config field {unknown[0]!r}; allowed fields are {sorted(names)}")
        d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**d)

    def replace(self, **changes) -> "GlomConfig":
        return dataclasses.replace(self, **changes)


def field_doc(name: str) -> str:
    """The documentation of :class:`GlomConfig`'s field ``name`` (its "Parameters" entry,
    one line): the one text a script's option for that field shows in ``--help``."""
    import re

    doc = GlomConfig.__doc__.split("Parameters\n    ----------\n", 1)[1]
    entries = re.split(r"\n    (?=[a-z_, ]+ : )", "\n" + doc)
    for entry in entries:
        head, _, body = entry.strip().partition("\n")
        names = [n.strip() for n in head.split(" : ", 1)[0].split(",")]
        if name in names:
            return " ".join(body.split())
    raise KeyError(f"GlomConfig has no documented field {name!r}")
