"""Credit assignment inside one small column net, for the local rules (docs/design.md §5).

A local rule names, for every net output ``y = W2 h + b2`` with ``h = act(W1 x + U loc +
b1)``, an output error ``e`` (``[b, g, n, d]``; the update descends ``e``). The output
layer always learns by "presynaptic activity times error":

    dW2 = sum_b h e^T,   db2 = sum_b e

and the hidden layer by the ``hidden_credit`` chosen:

- ``local_backprop``: the error backpropagated inside this net only, ``delta_h = (W2 e) * act'(pre)``;
- ``feedback_alignment``: a fixed random matrix ``B`` (shape of ``W2``) in place of the
  forward weights, ``delta_h = (B e) * act'(pre)`` (Lillicrap et al. 2016);
- ``frozen``: the hidden layer keeps its initial weights.

then ``dW1 = sum_b x delta_h^T`` (and likewise ``b1``, ``U``). :func:`local_update`
computes these sums directly, with batched matrix products and no autograd;
:func:`local_surrogate` returns a scalar whose autograd gradient is the same update and
is kept as its reference (tests). No credit leaves the net.
"""

from __future__ import annotations

import math

import torch

from ..columns import StackedMLP
from ..config import check_choice

__all__ = ["HIDDEN_CREDITS", "feedback_matrix", "local_update", "add_update", "local_surrogate", "output_update",
           "group_cosine"]

HIDDEN_CREDITS = ("local_backprop", "feedback_alignment", "frozen")


def feedback_matrix(mlp: StackedMLP, seed: int) -> torch.Tensor:
    """Fixed random feedback weights with the shape of ``mlp.w2`` (``[g, (n,) h, d]``),
    uniform in ``+-1/sqrt(h)`` like a fresh output layer, from ``seed`` alone (so a resumed
    run draws the same matrix). Unshared columns get one matrix each; the nets of a shard
    of the column grid (``mlp.shard``, :mod:`bioglom.distributed`) get their columns' part
    of the whole grid's draw, so a sharded run learns as the single-process one."""
    gen = torch.Generator().manual_seed(int(seed))
    shape = list(mlp.w2.shape)
    shard = getattr(mlp, "shard", None)  # (columns of this shard, columns of the whole grid)
    if shard is not None:
        shape[1] = shard[1]
    b = (torch.rand(shape, generator=gen) * 2 - 1) / math.sqrt(shape[-2])
    if shard is not None:
        b = b[:, shard[0]]
    return b.to(mlp.w2.device, mlp.w2.dtype)


def _project_back(e: torch.Tensor, w: torch.Tensor, shared: bool) -> torch.Tensor:
    """``w e``: an error in the hidden layout (``g b n d`` or ``g n b d``) sent back through
    ``w [g, (n,) h, d]`` to the hidden units."""
    if shared:
        return torch.einsum("gbnd,ghd->gbnh", e, w)
    return torch.einsum("gnbd,gnhd->gnbh", e, w)


def local_update(mlp: StackedMLP, x: torch.Tensor, error: torch.Tensor, *, loc: torch.Tensor | None = None,
                 g: slice = slice(None), credit: str = "local_backprop",
                 feedback: torch.Tensor | None = None,
                 hidden: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The local update of nets ``g`` for output error ``e``, computed directly.

    With ``pre = W1 x + U loc + b1`` and ``h = act(pre)`` (all in the hidden layout of
    ``mlp``; sums over the batch, and for shared nets over the columns too)::

        dW2 = sum h e^T        db2 = sum e
        delta = (M e) * act'(pre),  M = W2 (local_backprop), B (feedback_alignment)
        dW1 = sum x delta^T    db1 = sum delta    dU = sum loc delta^T

    and no hidden update for ``frozen``. ``x [b, g, n, d_in]`` and ``error [b, g, n,
    d_out]`` as in :func:`local_surrogate`. ``hidden``: ``(pre, h)`` of nets ``g`` on ``x``
    as the forward pass left them (``StackedMLP.forward_hidden``), so the first layer is
    not computed twice; without it they are computed here. Returns ``({parameter name:
    update}, h)``, each update shaped like ``mlp.<name>[g]``; the updates are what a
    gradient would be, so an optimizer descends them.
    """
    check_choice("hidden_credit", credit, HIDDEN_CREDITS)
    with torch.no_grad():
        if hidden is None:
            pre = mlp.hidden_pre(x, loc, g)
            h = mlp.act(pre)
        else:
            pre, h = (t.detach() for t in hidden)
        # rows: [nets, samples, features], nets = g (shared: samples b n) or g n (unshared: samples b),
        # so every sum over samples is one batched matmul
        shape = mlp.w2[g].shape  # g (n) h d
        nets = shape[0] * (1 if mlp.shared else shape[1])

        def rows(t):
            return t.reshape(nets, -1, t.shape[-1])

        h_r, e_r = rows(h), rows(mlp.to_hidden_layout(error))
        out = {"w2": torch.bmm(h_r.transpose(1, 2), e_r).view(shape),
               "b2": e_r.sum(1).view(mlp.b2[g].shape)}
        if credit != "frozen":
            w = mlp.w2[g] if credit == "local_backprop" else feedback[g]
            back = torch.bmm(e_r, w.reshape(nets, *shape[-2:]).transpose(1, 2))  # (M e): nets, samples, h
            delta = mlp.act_backward(back, rows(pre), h_r)
            out["w1"] = torch.bmm(rows(mlp.to_hidden_layout(x)).transpose(1, 2), delta).view(mlp.w1[g].shape)
            out["b1"] = delta.sum(1).view(mlp.b1[g].shape)
            if mlp.u is not None:
                if mlp.shared:  # sum over the batch first: the location depends on the column only
                    per_column = delta.view(*pre.shape).sum(1)  # g n h
                    out["u"] = torch.einsum("np,gnh->gph", loc, per_column)
                else:
                    per_column = delta.sum(1).view(shape[0], shape[1], -1)  # g n h
                    out["u"] = torch.einsum("np,gnh->gnph", loc, per_column)
    return out, h


def add_update(mlp: StackedMLP, update: dict[str, torch.Tensor], g: slice = slice(None)) -> None:
    """Add ``update`` (from :func:`local_update`, whose tensors it takes over) to the ``.grad``
    of nets ``g``."""
    for name, value in update.items():
        p = getattr(mlp, name)
        if p.grad is None and g == slice(None):
            p.grad = value.contiguous()  # the update's own tensor: no zeros to add it to
            continue
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        p.grad[g] += value


def local_surrogate(mlp: StackedMLP, x: torch.Tensor, error: torch.Tensor, *, loc: torch.Tensor | None = None,
                    g: slice = slice(None), credit: str = "local_backprop",
                    feedback: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A scalar whose gradient with respect to the weights of nets ``g`` is the local update.

    Parameters
    ----------
    mlp : the stacked nets.
    x : ``[b, g, n, d_in]`` their input (detached here: no credit leaves the net).
    error : ``[b, g, n, d_out]`` the output error ``e`` (detached here).
    credit : one of :data:`HIDDEN_CREDITS`.
    feedback : ``feedback[g]`` is used for ``feedback_alignment``.

    Returns
    -------
    (surrogate, h): ``<e, W2 sg(h) + b2> + <sg(delta), h>`` with ``delta`` the hidden
    error of the chosen credit (none for ``frozen``), and the hidden activity ``h``
    (detached), which :func:`output_update` uses.
    """
    check_choice("hidden_credit", credit, HIDDEN_CREDITS)
    e_out = error.detach()
    if credit == "frozen":
        with torch.no_grad():
            h = mlp.hidden(x.detach(), loc, g)
        return (mlp.output(h, g) * e_out).sum(), h
    h = mlp.hidden(x.detach(), loc, g)
    y = mlp.output(h.detach(), g)  # the output layer sees h as presynaptic activity
    surrogate = (y * e_out).sum()
    w = mlp.w2[g] if credit == "local_backprop" else feedback[g]
    delta = _project_back(mlp.to_hidden_layout(e_out), w.detach(), mlp.shared)
    return surrogate + (h * delta).sum(), h.detach()


def output_update(mlp: StackedMLP, h: torch.Tensor, error: torch.Tensor) -> torch.Tensor:
    """The output-layer update ``[dW2, db2]`` per net, flattened: ``[g, (n,) (h+1) d]``.

    ``dW2 = sum_b h e^T`` (``h`` in the hidden layout of ``mlp``), ``db2 = sum_b e``.
    """
    e = mlp.to_hidden_layout(error.detach())
    if mlp.shared:
        dw = torch.einsum("gbnh,gbnd->ghd", h, e)
        db = e.sum((1, 2))[:, None]
        return torch.cat([dw, db], 1).flatten(1)
    dw = torch.einsum("gnbh,gnbd->gnhd", h, e)
    db = e.sum(2)[:, :, None]
    return torch.cat([dw, db], 2).flatten(2)


def group_cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine between two updates per net group (first axis), over all other axes: ``[g]``."""
    a, b = a.flatten(1).double(), b.flatten(1).double()
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-300)
