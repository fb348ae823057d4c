"""GLOM: columns of per-level embeddings that settle into islands (docs/design.md §1-4).

One settling step, for every level ``l`` and column ``n`` at once:

    bu  = f_bu[l](s_t[l-1])                  (level 0: the front end's output)
    td  = f_td[l](s_t[l+1], pos_n)           (absent at the top level)
    lat = sum_m w_nm s_t[l, m]               (lateral attention, paper 3.4)
    s_{t+1}[l] = norm(consensus(bu, td, s_t[l], lat))

The model never imports learning, spiking, analysis or simulations.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

import torch
from torch import nn

from .attention import (Neighbours, beta_schedule, dense_mask, gaussian_mask, gaussian_neighbours, lateral_attention,
                        neighbourhood_mask, window_neighbours)
from .columns import ColumnNets
from .config import ConfigError, GlomConfig, NonFiniteError
from .consensus import CONTRIBUTIONS, Contributions, combine, consensus_weights, normalise, oscillator_drive, oscillator_step
from .decoder import FieldDecoder
from .frontend import build_frontend
from .phases import phase
from .retina import Retina
from .seeding import derived_seed

__all__ = ["Glom", "Trajectory", "StepRecord", "Step", "settle_step", "check_images", "first_non_finite_state",
           "compile_settling", "settling_is_compiled"]


class StepRecord(NamedTuple):
    """One settling step as :meth:`Glom.settle` hands it to an ``on_step`` callback.

    step : settling step within the frame; frame : the video frame; state ``[b, L, N, D]``
    the state at ``t``; inputs ``[b, N, D]`` the front end's output; new ``[b, L, N, D]``
    the state at ``t+1``; contributions the four ``[b, L, N, D]``
    (:class:`~bioglom.consensus.Contributions`); weights ``[4, L]`` the consensus weights used; hidden
    ``((pre, h) of the bottom-up nets, (pre, h) of the top-down nets)``, each in the
    layout of :meth:`StackedMLP.hidden_pre <bioglom.columns.StackedMLP.hidden_pre>`: the
    hidden layer of the step's forward pass, which a local rule's update reads; raw_votes
    ``(bottom-up, top-down)`` the nets' outputs before ``normalise_votes`` normalised them
    (None when the contributions hold them as they are).
    """

    step: int
    frame: int
    state: torch.Tensor
    inputs: torch.Tensor
    new: torch.Tensor
    contributions: Contributions
    weights: torch.Tensor
    hidden: tuple | None = None
    log_precisions: tuple = (None, None)
    raw_votes: tuple | None = None


class Trajectory(NamedTuple):
    """What :meth:`Glom.settle` returns.

    states : ``[S+1, b, L, N, D]``, ``states[0]`` the initial state.
    bottom_up, top_down, previous, lateral : ``[S, b, L, N, D]``, the contributions that
        produced ``states[t+1]``; ``top_down`` of the top level is 0.
    frame : ``[S]`` int, the video frame each step saw (all 0 for a static image).
    grid : ``(H, W)`` of the columns.
    bu_log_precision, td_log_precision : ``[S, b, L, N, D]`` or None (precision consensus).
    """

    states: torch.Tensor
    bottom_up: torch.Tensor
    top_down: torch.Tensor
    previous: torch.Tensor
    lateral: torch.Tensor
    frame: torch.Tensor
    grid: tuple
    bu_log_precision: torch.Tensor | None = None
    td_log_precision: torch.Tensor | None = None

    @property
    def contributions(self) -> Contributions:
        """The four contributions of every step, ``[S, b, L, N, D]`` each."""
        return Contributions(self.bottom_up, self.top_down, self.previous, self.lateral)

    @property
    def final(self) -> torch.Tensor:
        """The last state, ``[b, L, N, D]``."""
        return self.states[-1]

    def to_xarray(self, attrs: dict | None = None):
        """An ``xarray.Dataset`` with dims ``step, sample, level, y, x, dim`` (docs/design.md §8).

        Contributions are placed at the step of the state they produced; step 0 has none
        and holds NaN there.
        """
        import numpy as np
        import xarray as xr

        s1, b, L, n, d = self.states.shape
        h, w = self.grid
        dims = ("step", "sample", "level", "y", "x", "dim")

        def arr(t):
            return t.detach().to("cpu", torch.float64).numpy().reshape(t.shape[0], b, L, h, w, d)

        data = {"state": (dims, arr(self.states), {"long_name": "embedding after each settling step"})}
        pad = np.full((1, b, L, h, w, d), np.nan)
        for name in CONTRIBUTIONS:
            data[name] = (dims, np.concatenate([pad, arr(getattr(self, name))]),
                          {"long_name": f"{name.replace('_', '-')} contribution that produced this step's state"})
        frame = np.concatenate([[0], self.frame.cpu().numpy()])
        coords = {"step": np.arange(s1), "sample": np.arange(b), "level": np.arange(L), "y": np.arange(h),
                  "x": np.arange(w), "dim": np.arange(d), "frame": ("step", frame)}
        return xr.Dataset(data, coords=coords, attrs=dict(attrs or {}))


def first_non_finite_state(states: torch.Tensor) -> tuple[int, int] | None:
    """``(step, level)`` of the first non-finite embedding in ``states [S+1, b, L, N, D]``, or None."""
    bad = ~torch.isfinite(states).flatten(3).all(-1).all(1)  # s l
    if not bad.any():
        return None
    step, level = bad.nonzero()[0].tolist()
    return step, level


def check_images(images, cfg: GlomConfig) -> torch.Tensor:
    """Raise :class:`ConfigError` naming ``images`` unless it fits ``cfg``; return it as a video ``[b, T, C, H, W]``."""
    if not isinstance(images, torch.Tensor):
        raise ConfigError(f"images is a {type(images).__name__}; it must be a torch.Tensor")
    if images.dim() not in (4, 5):
        raise ConfigError(
            f"images has shape {tuple(images.shape)}; allowed are [B, C, H, W] (static) or [B, T, C, H, W] (video)"
        )
    video = images if images.dim() == 5 else images[:, None]
    c, hh, ww = video.shape[2:]
    if c != cfg.channels:
        raise ConfigError(f"images has {c} channels (shape {tuple(images.shape)}); the config has channels={cfg.channels}")
    if (hh, ww) != cfg.image_hw:
        raise ConfigError(f"images is {hh}x{ww} pixels (shape {tuple(images.shape)}); the config has image_size={cfg.image_size}")
    if video.shape[0] == 0:
        raise ConfigError(f"images has shape {tuple(images.shape)}: an empty batch; give at least one image")
    if video.shape[1] == 0:
        raise ConfigError(f"images has shape {tuple(images.shape)}: a video of 0 frames; give at least one frame")
    if not torch.is_floating_point(video):
        raise ConfigError(f"images has dtype {video.dtype}; it must be a floating-point tensor")
    if not torch.isfinite(video).all():
        bad = (~torch.isfinite(video)).nonzero()[0].tolist()
        raise ConfigError(f"images holds a non-finite value at index {bad}; all pixels must be finite")
    return video


class Step(NamedTuple):
    """What :func:`settle_step` returns: the ``new`` state ``[b, L, N, D]``, the
    :class:`~bioglom.consensus.Contributions` that made it, the ``log_precisions`` of the
    bottom-up and top-down votes (``(None, None)`` unless ``consensus="precision"``) and the
    ``hidden`` ``(pre, h)`` of the bottom-up and then the top-down nets (what a local rule's
    update reads), and with ``normalise_votes`` the ``raw_votes`` before normalising."""

    new: torch.Tensor
    contributions: Contributions
    log_precisions: tuple
    hidden: tuple
    raw_votes: tuple | None = None


def settle_step(nets: ColumnNets, state, inputs, mask, beta, weights, cfg: GlomConfig,
                context: torch.Tensor | None = None) -> Step:
    """One settling step (paper 3.4, docs/design.md §3):

        c = (bottom_up(s[l-1]), top_down(s[l+1]), s[l], lateral(s[l])),
        s'[l] = normalise(sum_i a_i pi_i c_i / sum_i a_i pi_i)

    (level 0's bottom-up input is the front end's ``inputs``; the top level has no
    top-down vote). Pure: reads ``state [b, L, N, D]`` and ``inputs [b, N, D]``, modifies
    neither. ``context``: what the lateral attention's neighbour indices point into, when
    not ``state`` (a shard's columns and the rows it received; :mod:`bioglom.distributed`).
    """
    bu = nets.bottom_up(torch.cat([inputs[:, None], state[:, :-1]], dim=1))  # level l reads level l-1
    td = nets.top_down(state[:, 1:])  # b (l-1) n d: level l reads level l+1
    top = torch.zeros_like(state[:, :1])  # the top level has no top-down contribution
    lat, _ = lateral_attention(state, mask, beta, cfg.similarity, context)
    bu_vote, td_vote, raw = bu.mean, td.mean, None
    if cfg.normalise_votes:  # each vote at the state's scale: the consensus weights alone set the shares
        raw = (bu.mean, torch.cat([td.mean, top], dim=1))
        bu_vote, td_vote = normalise(bu_vote, cfg.norm), normalise(td_vote, cfg.norm)
    c = Contributions(bu_vote, torch.cat([td_vote, top], dim=1), state, lat)
    precisions, lps = None, (None, None)
    if bu.log_precision is not None:
        lps = (bu.log_precision, torch.cat([td.log_precision, top], dim=1))
        ones = torch.ones_like(state)
        precisions = torch.stack([lps[0].exp(), lps[1].exp(), ones, ones])
    if cfg.consensus == "oscillator":
        new = oscillator_step(state, oscillator_drive(c, weights), cfg.oscillator_rate, cfg.omega,
                              cfg.oscillator_group)
    else:
        new = normalise(combine(c, weights, precisions), cfg.norm, group=cfg.oscillator_group)
    return Step(new, c, lps, (bu.hidden, td.hidden), raw)


_compiled_step = None  # settle_step through torch.compile while compile_settling is on
_compiled_once = None  # the compiled step, kept (with its compiled graphs) when compiling is switched off


def compile_settling(enabled: bool = True) -> None:
    """Run the settling step of every model (:func:`settle_step`, forward and backward)
    through ``torch.compile`` from now on (``enabled``), or eagerly again, the reference
    (``False``, the default). The results equal the eager step's within float32 rounding
    (tests/test_compiled.py); the first step of each new shape compiles (tens of seconds on
    a CPU). Process-wide, like the device: the step is compiled once for every model of a
    run (models of other configs or shapes compile again, and past torch's recompile
    limit, 8 by default, run eagerly). On 2 CPU cores a compiled step costs 0.73-0.81x of the eager one at small sizes,
    too little to repay the compiling in a default run (``benchmarks/compiled.py``,
    docs/design.md §3); it is meant for the GPU."""
    global _compiled_step, _compiled_once
    if not isinstance(enabled, bool):
        raise ConfigError(f"enabled={enabled!r} is not allowed; give True or False")
    if enabled and _compiled_once is None:
        _compiled_once = torch.compile(settle_step)
    _compiled_step = _compiled_once if enabled else None


def settling_is_compiled() -> bool:
    """Whether :func:`compile_settling` is on."""
    return _compiled_step is not None


class _TrajectoryBuilder:
    """Collects :class:`StepRecord` s into a :class:`Trajectory`: every step, or (``record=False``)
    only the first and the last state and the last step's contributions."""

    def __init__(self, record: bool):
        self.record = record
        self.states, self.contributions, self.lps, self.frames = [], [], [], []

    def add(self, rec: StepRecord) -> None:
        if not self.states:
            self.states.append(rec.state)
        if not self.record:
            self.states, self.contributions, self.lps, self.frames = self.states[:1], [], [], []
        self.states.append(rec.new)
        self.contributions.append(rec.contributions)
        self.lps.append(rec.log_precisions)
        self.frames.append(rec.frame)

    def build(self, video: torch.Tensor, grid) -> Trajectory:
        states = torch.stack(self.states)
        where = first_non_finite_state(states)
        if where is not None:  # a silent NaN state would poison every measure downstream
            step, level = where
            raise NonFiniteError(f"settling step {step}, level {level}: a non-finite embedding (input range "
                                 f"{float(video.min()):.3g}..{float(video.max()):.3g})")
        c = Contributions(*(torch.stack(per_step) for per_step in zip(*self.contributions)))  # each s b l n d
        bu_lp = td_lp = None
        if self.lps[0][0] is not None:
            bu_lp, td_lp = (torch.stack(per_step) for per_step in zip(*self.lps))
        return Trajectory(states, *c, torch.tensor(self.frames), grid, bu_lp, td_lp)


def uses_sparse_attention(cfg: GlomConfig) -> bool:
    """Whether lateral attention gathers neighbours (``[L, N, K]``) instead of masking all
    pairs (``[L, N, N]``): for ``window`` and ``gaussian`` neighbourhoods whose largest
    ``K`` (``(2 R + 1)^2`` slots for a window of radius ``R``, ``1 + k`` for a Gaussian) is
    at most a quarter of the columns (:meth:`GlomConfig.attention_slots`). Below that the
    dense batched matmul is faster and small models keep it; both give the same result
    (tests/test_attention.py)."""
    return cfg.attention_slots() < cfg.n_columns


class Glom(nn.Module):
    """GLOM with shared or unshared column nets (docs/design.md §10).

    Examples
    --------
    >>> cfg = GlomConfig(levels=3, dim=16, image_size=8, patch_size=2, channels=1)
    >>> traj = Glom(cfg).settle(torch.rand(2, 1, 8, 8), steps=4)
    >>> tuple(traj.states.shape)
    (5, 2, 3, 16, 16)
    """

    def __init__(self, cfg: GlomConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        gen = torch.Generator().manual_seed(cfg.seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)  # the front end and decoder use torch's default initialisers
            self.frontend = build_frontend(cfg)
            self.decoder = FieldDecoder(cfg)
        self.retina = Retina(cfg)
        self.nets = ColumnNets(cfg, generator=gen)
        self.sparse = uses_sparse_attention(cfg)
        if self.sparse:  # gathered neighbour indices: O(N K), no [N, N] tensor anywhere
            nb = (window_neighbours(cfg.grid, cfg.radii) if cfg.neighbourhood == "window"
                  else gaussian_neighbours(cfg.grid, cfg.gaussian_ks, cfg.gaussian_sigmas, gen))
            self.register_buffer("neighbour_index", nb.index, persistent=True)
            self.register_buffer("neighbour_valid", nb.valid, persistent=True)
        else:
            self.register_buffer("mask", neighbourhood_mask(cfg, gen), persistent=True)
        if cfg.init_perturbation:
            self._perturb(cfg.init_perturbation, derived_seed(cfg.seed, "init_perturbation"))

    @torch.no_grad()
    def _perturb(self, size: float, seed: int) -> None:
        """Every parameter times ``1 + e``, ``e ~ U(-size, size)`` drawn from ``seed``."""
        gen = torch.Generator().manual_seed(seed)
        for p in self.parameters():
            p.mul_(1 + size * (2 * torch.rand(p.shape, generator=gen, dtype=torch.float64) - 1).to(p.dtype))

    @property
    def device(self):
        return next(self.buffers()).device

    @property
    def neighbourhood(self):
        """What lateral attention reads: the ``[L, N, N]`` mask, or :class:`~bioglom.attention.Neighbours`."""
        return Neighbours(self.neighbour_index, self.neighbour_valid) if self.sparse else self.mask

    @property
    def attention_mask(self) -> torch.Tensor:
        """The neighbourhood as a dense ``[L, N, N]`` boolean mask (built on demand from the
        sparse form: for analyses of small grids)."""
        return dense_mask(self.neighbourhood, self.cfg.n_columns) if self.sparse else self.mask

    def step_neighbourhood(self, generator: torch.Generator | None = None):
        """The neighbourhood of one settling step: :attr:`neighbourhood`, or a fresh Gaussian
        draw from ``generator`` when ``gaussian_resample`` is on."""
        cfg = self.cfg
        if cfg.neighbourhood == "gaussian" and cfg.gaussian_resample:
            draw = gaussian_neighbours if self.sparse else gaussian_mask
            return draw(cfg.grid, cfg.gaussian_ks, cfg.gaussian_sigmas, generator).to(self.device)
        return self.neighbourhood

    def lateral_context(self, state: torch.Tensor) -> torch.Tensor | None:
        """What lateral attention reads besides ``state``: nothing here (``None``); a shard
        of the column grid adds the rows it receives from other shards."""
        return None

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Retina, then front end: ``[b, C, H, W] -> inputs [b, N, D]``."""
        return self.frontend(self.retina(images))

    def decode(self, level0: torch.Tensor) -> torch.Tensor:
        """Decoder: level-0 embeddings ``[b, N, D] -> [b, C, H, W]``, in retinal coordinates
        (the image itself for the uniform retina; compare with :meth:`retinal`)."""
        return self.decoder(level0)

    def retinal(self, images: torch.Tensor) -> torch.Tensor:
        """What the columns see, ``[b, C, H, W]``: the target of :meth:`decode` (paper 12.1)."""
        return self.retina(images)

    def bottom_up_pass(self, inputs: torch.Tensor) -> torch.Tensor:
        """Initial state from one pass up the hierarchy: ``s[0] = f_bu[0](inputs)``, ``s[l] = f_bu[l](s[l-1])``."""
        level, states = inputs, []
        for l in range(self.cfg.levels):  # sequential by nature: each level reads the one below
            level = normalise(self.nets.bottom_up(level[:, None], slice(l, l + 1))[0][:, 0], self.cfg.norm,
                              group=self.cfg.oscillator_group)
            states.append(level)
        return torch.stack(states, dim=1)  # b l n d

    def initial_state(self, inputs: torch.Tensor, previous: torch.Tensor | None = None) -> torch.Tensor:
        kind = self.cfg.init_state
        if kind == "previous" and previous is not None:
            return previous
        if kind == "zeros":
            b, n, d = inputs.shape
            return inputs.new_zeros(b, self.cfg.levels, n, d)
        return self.bottom_up_pass(inputs)

    def settle(self, images: torch.Tensor, steps: int = 8, *, generator: torch.Generator | None = None,
               detach: bool = False, on_step=None, record: bool = True) -> Trajectory:
        """Settle ``images`` for ``steps`` steps (per frame, for a video).

        Parameters
        ----------
        images : ``[b, C, H, W]`` or ``[b, T, C, H, W]``
        steps : settling steps per frame (>= 1). Schedules (beta, consensus weights)
            restart at every frame.
        generator : source of randomness for a Gaussian neighbourhood resampled each step.
        detach : cut the autograd graph between steps and from the front end (local
            learning rules: no gradient crosses a step, and memory does not grow with the
            number of steps).
        on_step : called with a :class:`StepRecord` after every step (local learning rules
            compute their updates there, one step at a time).
        record : keep every step in the trajectory (default). With ``record=False`` the
            trajectory holds only the initial and the last state (``states [2, ...]``) and the
            contributions of the last step, so memory does not grow with the steps.
        """
        if isinstance(steps, (bool, np.bool_)) or not isinstance(steps, numbers.Integral) or steps < 1:
            raise ConfigError(f"steps={steps!r} is not allowed; it must be an integer >= 1")
        steps = int(steps)
        if generator is not None and not isinstance(generator, torch.Generator):
            raise ConfigError(f"generator={generator!r} is not allowed; give a torch.Generator or None")
        video = check_images(images, self.cfg)
        dtype = next(self.parameters()).dtype
        if video.dtype != dtype:
            raise ConfigError(f"images has dtype {video.dtype}; the model's parameters are {dtype}: convert one "
                              f"(images.to({dtype}) or model.to({video.dtype}))")
        if on_step is not None and not callable(on_step):
            raise ConfigError(f"on_step={on_step!r} is not allowed; give a callable taking a StepRecord, or None")
        trajectory = _TrajectoryBuilder(record)
        for rec in self.settle_steps(video, steps, generator=generator, detach=detach):
            if on_step is not None:
                on_step(rec)
            trajectory.add(rec)
        return trajectory.build(video, self.cfg.grid)

    def settle_steps(self, video: torch.Tensor, steps: int, *, generator: torch.Generator | None = None,
                     detach: bool = False):
        """The settling loop itself: yields a :class:`StepRecord` per step of each frame of
        ``video [b, T, C, H, W]`` (checked by :meth:`settle`). Each frame's state starts from
        :meth:`initial_state`; step ``t`` of ``steps`` uses ``beta_schedule`` and
        ``consensus_weights`` at ``t`` (paper 9.1)."""
        cfg, state = self.cfg, None
        for f in range(video.shape[1]):  # frames arrive in time order
            with phase("settle"):
                inputs = self.encode(video[:, f])
                if detach:
                    inputs = inputs.detach()
                state = self.initial_state(inputs, state)
            for t in range(steps):  # settling is sequential in time
                with phase("settle"):  # not around the yield: what the caller does there is its own phase
                    if detach:
                        state = state.detach()
                    weights = consensus_weights(cfg, t, steps).to(self.device)
                    beta, step_fn = beta_schedule(cfg, t, steps), settle_step
                    if _compiled_step is not None:  # a float would be compiled in as a constant: a graph per step
                        beta, step_fn = torch.tensor(beta, dtype=state.dtype, device=self.device), _compiled_step
                    step = step_fn(self.nets, state, inputs, self.step_neighbourhood(generator), beta, weights, cfg,
                                   self.lateral_context(state))
                yield StepRecord(t, f, state, inputs, step.new, step.contributions, weights, step.hidden,
                                 step.log_precisions, step.raw_votes)
                state = step.new

    def forward(self, images, steps: int = 8, **kw) -> Trajectory:
        return self.settle(images, steps, **kw)
