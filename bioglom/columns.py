"""Column nets: the bottom-up and top-down MLPs of every level, shared or one per column.

docs/design.md §4. Weights of unshared columns are stacked with a leading ``(level,
column)`` axis and applied as one batched matrix product over ``(l n)``; there is no
Python loop over columns. Shared columns hold one net per level, ``[L, d_in, d_out]``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from .config import GlomConfig
from .location import grid_coordinates, sinusoidal_encoding

__all__ = ["StackedMLP", "ColumnNets", "Vote", "activation_fn", "activation_backward"]


def activation_fn(name: str, w0: float):
    """The hidden nonlinearity chosen by name; ``sine`` is SIREN's ``sin(w0 x)``."""
    if name == "sine":
        return lambda x: torch.sin(w0 * x)
    return {"gelu": torch.nn.functional.gelu, "relu": torch.relu, "tanh": torch.tanh}[name]


def activation_backward(name: str, w0: float):
    """``(grad, pre, h) -> grad * act'(pre)`` with ``h = act(pre)``: an error at the hidden
    units carried back through the nonlinearity, for the local rules' hidden credit. gelu
    ``act' = Phi(x) + x phi(x)`` (the exact, erf form), relu ``[x > 0]``, tanh ``1 - h^2``,
    sine ``w0 cos(w0 x)``; through ATen's fused backward kernels where one exists (gelu's
    4.8-7.3x faster on 2 CPU cores than its formula in two runs of benchmarks/kernels.py; every activation is
    checked against autograd in tests/test_local_learning.py)."""
    if name == "sine":
        return lambda grad, pre, h: grad * (w0 * torch.cos(w0 * pre))
    if name == "relu":
        return lambda grad, pre, h: torch.ops.aten.threshold_backward(grad, pre, 0)
    if name == "tanh":
        return lambda grad, pre, h: torch.ops.aten.tanh_backward(grad, h)
    return lambda grad, pre, h: torch.ops.aten.gelu_backward(grad, pre)


def _take(p: torch.Tensor, g: slice) -> torch.Tensor:
    """``p[g]``, or ``p`` itself for every net: the backward of a slice writes a zero tensor
    the size of the whole parameter (for unshared nets, 3-4x the forward's own time)."""
    return p if g == slice(None) else p[g]


class StackedMLP(nn.Module):
    """``G`` one-hidden-layer MLPs per column group, applied to ``x [b, g, n, d_in]``.

    ``y = W2 act(W1 x + U loc_n + b1) + b2`` with, for ``columns=None`` (shared), weights
    ``W1 [g, d_in, h]``, and for ``columns=N`` (unshared), ``W1 [g, n, d_in, h]``. ``U`` is
    the location weight, present when ``location_dim > 0``: the location enters the first
    layer as an added term, which equals concatenating it to the input.

    Parameters
    ----------
    groups : int
        Number of nets per column (one per level).
    columns : int or None
        ``None`` for shared nets; the number of columns ``N`` for one net per column.
    d_in, hidden, d_out : int
        Layer sizes.
    location_dim : int
        Size of the location encoding fed to the first layer (0: none).
    activation : str
        ``gelu``, ``relu``, ``tanh`` or ``sine``.
    identical : bool
        Unshared nets start as copies of one net (else independent draws).
    generator : torch.Generator
        Source of the initial weights.
    """

    def __init__(self, groups, columns, d_in, hidden, d_out, *, location_dim=0, activation="gelu",
                 sine_w0=30.0, identical=True, generator=None):
        super().__init__()
        self.groups, self.columns, self.location_dim = groups, columns, location_dim
        self.act = activation_fn(activation, sine_w0)
        self.act_backward = activation_backward(activation, sine_w0)
        n_draw = 1 if (columns is None or identical) else columns

        def draw(shape, bound):
            w = (torch.rand((groups, n_draw, *shape), generator=generator) * 2 - 1) * bound
            if columns is None:
                return w[:, 0]  # g i o
            return w.expand(groups, columns, *shape).clone()  # g n i o

        fan1 = d_in + location_dim
        if activation == "sine":  # SIREN initialisation (Sitzmann et al. 2020)
            b1_bound, w1_bound, w2_bound = 1 / fan1, 1 / fan1, math.sqrt(6 / hidden) / sine_w0
        else:  # torch.nn.Linear's default
            b1_bound = w1_bound = 1 / math.sqrt(fan1)
            w2_bound = 1 / math.sqrt(hidden)
        self.w1 = nn.Parameter(draw((d_in, hidden), w1_bound))
        self.b1 = nn.Parameter(draw((hidden,), b1_bound))
        self.w2 = nn.Parameter(draw((hidden, d_out), w2_bound))
        self.b2 = nn.Parameter(draw((d_out,), 1 / math.sqrt(hidden)))
        self.u = nn.Parameter(draw((location_dim, hidden), w1_bound)) if location_dim else None

    @property
    def shared(self) -> bool:
        return self.columns is None

    def hidden_pre(self, x: torch.Tensor, loc: torch.Tensor | None, g: slice) -> torch.Tensor:
        """First-layer pre-activation, laid out ``[g, n, b, h]`` (unshared) or ``[g, b, n, h]`` (shared)."""
        b, G, n, d = x.shape
        w1, b1 = _take(self.w1, g), _take(self.b1, g)
        if self.shared:
            xs = x.transpose(0, 1).reshape(G, b * n, d)  # g (b n) i
            h = torch.baddbmm(b1[:, None, :], xs, w1).view(G, b, n, -1)  # g b n h
            if self.u is not None:
                h = h + (loc @ _take(self.u, g))[:, None]  # (n p @ g p h) -> g 1 n h
        else:
            xs = x.permute(1, 2, 0, 3).reshape(G * n, b, d)  # (g n) b i
            h = torch.baddbmm(b1.reshape(G * n, 1, -1), xs, w1.reshape(G * n, d, -1)).view(G, n, b, -1)  # g n b h
            if self.u is not None:
                h = h + torch.einsum("np,gnph->gnh", loc, _take(self.u, g))[:, :, None]  # g n 1 h
        return h

    def hidden(self, x: torch.Tensor, loc: torch.Tensor | None = None, g: slice = slice(None)) -> torch.Tensor:
        """Hidden activity ``act(W1 x + U loc + b1)``, in the layout of :meth:`hidden_pre`."""
        return self.act(self.hidden_pre(x, loc, g))

    def output(self, h: torch.Tensor, g: slice = slice(None)) -> torch.Tensor:
        """Output layer ``W2 h + b2`` on hidden activity in the layout of :meth:`hidden_pre`; returns ``[b, g, n, d_out]``."""
        w2, b2 = _take(self.w2, g), _take(self.b2, g)
        G = w2.shape[0]
        if self.shared:
            _, b, n, hd = h.shape
            y = torch.baddbmm(b2[:, None, :], h.reshape(G, b * n, hd), w2).view(G, b, n, -1)  # g b n o
            return y.transpose(0, 1)  # b g n o
        _, n, b, hd = h.shape
        y = torch.baddbmm(b2.reshape(G * n, 1, -1), h.reshape(G * n, b, hd), w2.reshape(G * n, hd, -1))
        return y.view(G, n, b, -1).permute(2, 0, 1, 3)  # b g n o

    def to_hidden_layout(self, y: torch.Tensor) -> torch.Tensor:
        """``[b, g, n, d]`` -> the layout of :meth:`hidden_pre` (``g b n d`` shared, ``g n b d`` unshared)."""
        return y.transpose(0, 1) if self.shared else y.permute(1, 2, 0, 3)

    def forward(self, x: torch.Tensor, loc: torch.Tensor | None = None, g: slice = slice(None)) -> torch.Tensor:
        """Apply nets ``g`` to ``x [b, g, n, d_in]``: ``W2 act(W1 x + U loc + b1) + b2``,
        ``[b, g, n, d_out]``."""
        return self.forward_hidden(x, loc, g)[0]

    def forward_hidden(self, x: torch.Tensor, loc: torch.Tensor | None = None, g: slice = slice(None)):
        """:meth:`forward` and its hidden layer: ``(y, (pre, h))``, ``pre`` the first layer's
        pre-activation and ``h = act(pre)`` in the layout of :meth:`hidden_pre`, so a local
        rule forms its update from the forward pass instead of computing the layer again."""
        pre = self.hidden_pre(x, loc, g)
        h = self.act(pre)
        return self.output(h, g), (pre, h)

    @torch.no_grad()
    def load_shared(self, other: "StackedMLP") -> None:
        """Make every column's net a copy of the shared net ``other`` (for unshared nets)."""
        for name in ("w1", "b1", "w2", "b2", "u"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine is None:
                continue
            mine.copy_(theirs[:, None].expand_as(mine) if not self.shared else theirs)


class Vote(NamedTuple):
    """What the bottom-up or top-down nets of some levels output: ``mean [b, g, n, D]`` (the
    vote), ``log_precision`` (``[b, g, n, D]``, or None unless ``consensus="precision"``)
    and ``hidden``, the ``(pre, h)`` of their forward pass (:meth:`StackedMLP.forward_hidden`)."""

    mean: torch.Tensor
    log_precision: torch.Tensor | None
    hidden: tuple


class ColumnNets(nn.Module):
    """Bottom-up nets of every level and top-down nets of every level but the top.

    ``bottom_up(src)``: ``src [b, L, n, D]`` holds the input of each level's net (level 0:
    the front end's output; level l: the state of level l-1). ``top_down(src)``: ``src [b,
    L-1, n, D]`` holds the state of levels 1..L-1. Each returns a :class:`Vote`.
    """

    def __init__(self, cfg: GlomConfig, generator: torch.Generator | None = None):
        super().__init__()
        self.cfg = cfg
        self.precision = cfg.consensus == "precision"
        d_out = cfg.dim * (2 if self.precision else 1)
        columns = None if cfg.columns == "shared" else cfg.n_columns
        common = dict(activation=cfg.activation, sine_w0=cfg.sine_w0,
                      identical=cfg.column_init == "identical", generator=generator)
        loc_dim = 4 * cfg.location_frequencies if cfg.uses_location else 0
        bu_loc_dim = 4 * cfg.location_frequencies if cfg.bu_location else 0
        self.bu = StackedMLP(cfg.levels, columns, cfg.dim, cfg.hidden, d_out, location_dim=bu_loc_dim, **common)
        self.td = StackedMLP(cfg.levels - 1, columns, cfg.dim, cfg.hidden, d_out, location_dim=loc_dim, **common)
        self.register_buffer(
            "location", sinusoidal_encoding(grid_coordinates(*cfg.grid), cfg.location_frequencies), persistent=False
        )

    def _vote(self, mlp: StackedMLP, src: torch.Tensor, levels: slice) -> Vote:
        y, hidden = mlp.forward_hidden(src, self.location if mlp.u is not None else None, levels)
        if not self.precision:
            return Vote(y, None, hidden)
        mean, logp = y.chunk(2, dim=-1)
        return Vote(mean, logp.clamp(-10.0, 10.0), hidden)  # the clamp keeps exp(logp) finite in float32

    def bottom_up(self, src: torch.Tensor, levels: slice = slice(None)) -> Vote:
        return self._vote(self.bu, src, levels)

    def top_down(self, src: torch.Tensor, levels: slice = slice(None)) -> Vote:
        return self._vote(self.td, src, levels)
