"""A local target that pushes as well as pulls: the island teacher of the local rules
(docs/design.md §5; paper sections 3.4, 7 and footnote 24).

A teacher that is only an average -- the consensus, or a segment's mean -- is met with zero
error by identical states, so a local rule trained toward it collapses (every column of an
image, then of every image, ends on one vector). The island teacher asks each column for
the state that would make *its own* attention bind its segment and no other, from what
the column already has: its own state, its neighbours' states and which of them share its
segment (``groups``, a label-free grouping of the input such as motion segments; 0: no
segment). Nothing crosses a column's nets or a settling step.

With unit states ``u = s / |s|`` at one level of one image, a column ``n`` of segment
``S(n)`` (``g_n > 0``) and its window ``W(n)`` (the level's attention neighbourhood,
``n`` itself left out), the column's own attention ``p_nm = softmax_{m in W(n)}(beta
u_n . u_m)`` and the same restricted to its segment ``q_nm = p_nm [m in S(n)] / sum_{m' in
S(n)} p_nm'``:

- the column's own island loss (the label-trained control's loss, ``island_supervision``,
  with the input's own grouping): ``L_n = -log sum_{m in S(n)} p_nm``;
- its local descent direction on the sphere, ``r_n = (I - u_n u_n^T) sum_m (q_nm - p_nm)
  u_m`` (``= -dL_n/du_n / beta`` on the tangent: :func:`island_direction`): a pull toward
  the segment (``q``) and a push from everything the column attends to (``- p``).

Two targets are built from it (:func:`island_targets`):

- ``form="gradient"``: ``t_n = norm(u_n + kappa * scale_n * r_n / |r_n|)``, one step of
  length ``kappa`` down the column's own island loss. A step of constant length
  (``step="constant"``) never stops, so trained long it pushes every column from every
  other; ``step="outside_mass"`` scales it by ``1 - sum_{m in S(n)} p_nm``, the attention
  the column still gives outside its segment (0 at the loss's optimum).
- ``form="hinged"``: ``t_n = norm(mean_{m in S(n)} u_m - lambda * push_n)`` with
  ``push_n`` the attention-weighted mean of ``u_m`` over the window neighbours of other
  segments that are still too similar, ``u_n . u_m > mu`` (0 when there is none): a pull
  to the segment and a push that stops once the segment is separated (footnote 24:
  separation, not distance). With ``pull=False``, the push alone, ``t_n = norm(u_n -
  lambda * push_n)``, applying only where ``push_n`` is not 0: the island term's negatives
  without its positives (a sleep phase's, on scenes whose segments come from two scenes).
- ``form="projected"``: the segment's mean direction ``a_n = norm(mean_{m in S(n)} u_m)``
  turned away from ``b_n = norm(push_n)`` in the plane of the two, just far enough that its
  cosine with ``b_n`` is the margin: ``t_n = mu b_n + sqrt(1 - mu^2) norm(a_n - (a_n . b_n)
  b_n)`` where ``a_n . b_n > mu``, and ``t_n = a_n`` elsewhere. The hinged form's push is a
  step of fixed weight that overshoots the margin (at ``lambda = 1`` and cosines of 0.64 the
  target's cosine with ``b_n`` is about -0.5) and, below ``lambda = 1``, leaves the collapsed
  state (``a_n = b_n``) a fixed point; this one has no weight, stops exactly at the margin
  and, from a nearly collapsed state, still asks for a cosine of ``mu`` (states that agree
  to within 1e-8 leave no plane to turn in, and keep ``a_n``).

Columns with no segment, or no neighbour of their segment in their window (``form=
"gradient"``), keep the fallback teacher the caller gives (the consensus).
"""

from __future__ import annotations

import torch

from ..attention import Neighbours

__all__ = ["ISLAND_FORMS", "ISLAND_STEPS", "island_attention", "island_direction", "island_loss", "island_targets",
           "segment_mean"]

ISLAND_FORMS = ("gradient", "hinged", "projected")
ISLAND_STEPS = ("constant", "outside_mass")


def segment_mean(states: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """For ``states [b, l, n, d]`` and ``groups [b, l, n]`` (0: no segment), ``t_n = (1 /
    |S(n)|) sum_{m in S(n)} s_m`` with ``S(n) = {m : g_m = g_n}`` in the same image and level
    where ``g_n > 0``, and ``t_n = s_n`` where ``g_n = 0``."""
    k = int(groups.max()) + 1 if groups.numel() else 1
    member = torch.nn.functional.one_hot(groups.long(), k).to(states.dtype)[..., 1:]  # b l n k
    sums = member.transpose(-1, -2) @ states  # b l k d
    means = sums / member.sum(-2).clamp_min(1)[..., None]
    return torch.where((groups > 0)[..., None], member @ means, states)


class _Window:
    """A level's neighbourhood without the column itself, dense (``[l, n, n]``) or gathered
    (:class:`~bioglom.attention.Neighbours`, ``[l, n, k]``): the pairwise operations the
    island teacher needs, on slots ``[b, l, n, k]``."""

    def __init__(self, mask, n: int, device):
        if isinstance(mask, Neighbours):
            self.index = mask.index.to(device)
            self.valid = mask.valid.to(device) & (self.index != torch.arange(n, device=device)[:, None])
        else:
            self.index = None
            self.valid = mask.to(device) & ~torch.eye(n, dtype=torch.bool, device=device)

    def gather(self, x: torch.Tensor) -> torch.Tensor:
        """``x [b, l, n, ...]`` at each column's slots: ``[b, l, n, k, ...]`` (dense: ``k = n``)."""
        b, L, n = x.shape[:3]
        if self.index is None:
            return x[:, :, None].expand(b, L, n, *x.shape[2:])
        k = self.index.shape[-1]
        rest = x.shape[3:]
        flat = self.index.reshape(1, L, n * k, *([1] * len(rest))).expand(b, L, n * k, *rest)
        return x.gather(2, flat).view(b, L, n, k, *rest)

    def similarity(self, u: torch.Tensor) -> torch.Tensor:
        """``u_n . u_m`` on the slots: ``[b, l, n, k]``."""
        if self.index is None:
            return u @ u.transpose(-1, -2)
        return torch.einsum("blnd,blnkd->blnk", u, self.gather(u))

    def weighted_sum(self, w: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """``sum_m w_nm u_m``: ``[b, l, n, d]``."""
        if self.index is None:
            return w @ u
        return torch.einsum("blnk,blnkd->blnd", w, self.gather(u))


def _unit(states: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(states, dim=-1, eps=1e-8)


def island_attention(u: torch.Tensor, groups: torch.Tensor, window: _Window, beta: float):
    """``(p, same, cos)`` on the window's slots ``[b, l, n, k]``: the column's own attention
    ``p_nm = softmax_{m in W(n)}(beta u_n . u_m)`` (0 outside ``W(n)``; a column with no
    neighbour has all zeros), whether ``m`` is of the column's segment (``g_m = g_n > 0``,
    in the window), and the cosines ``u_n . u_m``."""
    cos = window.similarity(u)
    valid = window.valid.expand_as(cos)
    logits = (beta * cos).masked_fill(~valid, float("-inf"))
    p = torch.softmax(logits, -1).nan_to_num(0.0)  # a row with no neighbour: all -inf -> zeros
    g = groups.long()
    same = (window.gather(g) == g[..., None]) & valid & (g > 0)[..., None]
    return p, same, cos


def island_loss(u: torch.Tensor, groups: torch.Tensor, mask, beta: float) -> torch.Tensor:
    """``L_n = -log sum_{m in S(n)} p_nm`` per column, ``[b, l, n]`` (0 where ``n`` has no
    segment neighbour in its window). Differentiable in ``u``: the reference of
    :func:`island_direction` (tests)."""
    window = _Window(mask, u.shape[2], u.device)
    p, same, _ = island_attention(u, groups, window, beta)
    inside = (p * same).sum(-1)
    has = same.any(-1)
    return torch.where(has, -torch.log(inside.clamp_min(1e-30)), torch.zeros_like(inside))


def island_direction(u: torch.Tensor, p: torch.Tensor, same: torch.Tensor, window: _Window) -> tuple[torch.Tensor, torch.Tensor]:
    """``r_n = (I - u_n u_n^T) sum_m (q_nm - p_nm) u_m`` (``[b, l, n, d]``; 0 where ``n`` has
    no segment neighbour) and the attention inside the segment ``sum_{m in S(n)} p_nm``
    (``[b, l, n]``). ``r_n = -dL_n/du_n / beta`` projected on the tangent of the sphere at
    ``u_n``, the other columns' states held fixed."""
    inside = (p * same).sum(-1)
    q = p * same / inside.clamp_min(1e-30)[..., None]
    v = window.weighted_sum(q - p, u)
    r = v - u * (u * v).sum(-1, keepdim=True)
    return torch.where(same.any(-1)[..., None], r, torch.zeros_like(r)), inside


def island_targets(states: torch.Tensor, groups: torch.Tensor, mask, beta: float, *, form: str = "hinged",
                   kappa: float = 1.0, step: str = "constant", push: float = 1.0,
                   margin: float = 0.3, pull: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """The island teacher (module docstring) of ``states [b, l, n, d]`` with ``groups [b, l,
    n]`` and the attention neighbourhood ``mask`` (``[l, n, n]`` bool or
    :class:`~bioglom.attention.Neighbours`): unit targets ``[b, l, n, d]`` and where they
    apply, ``[b, l, n]`` bool (elsewhere the caller's fallback teacher). ``form``:
    ``gradient`` (``kappa``, ``step``), ``hinged`` (``push`` = lambda, ``margin`` = mu;
    ``pull=False``: the push alone, where there is one) or ``projected`` (``margin`` = mu)."""
    u = _unit(states)
    window = _Window(mask, states.shape[2], states.device)
    p, same, cos = island_attention(u, groups, window, beta)
    segmented = groups > 0
    if form == "gradient":
        r, inside = island_direction(u, p, same, window)
        length = r.norm(dim=-1, keepdim=True)
        size = kappa * ((1 - inside)[..., None] if step == "outside_mass" else 1.0)
        t = u + size * r / length.clamp_min(1e-12)
        applies = segmented & same.any(-1) & (length[..., 0] > 0)
        return torch.where(applies[..., None], _unit(t), u), applies
    # hinged: pull to the segment's mean, push from other segments' neighbours still too close
    close = (window.valid & ~same & (cos > margin)).to(p.dtype) * p
    mass = close.sum(-1, keepdim=True)
    away = window.weighted_sum(close, u) / mass.clamp_min(1e-30)
    pushed = torch.where(mass > 0, away, torch.zeros_like(away))
    if not pull:  # the push alone, only where a neighbour of another segment is still too close
        applies = segmented & (mass[..., 0] > 0)
        return torch.where(applies[..., None], _unit(u - push * pushed), u), applies
    if form == "projected":
        return torch.where(segmented[..., None], _projected(_unit(segment_mean(u, groups)), pushed, margin), u), segmented
    t = segment_mean(u, groups) - push * pushed
    return torch.where(segmented[..., None], _unit(t), u), segmented


def _projected(a: torch.Tensor, push: torch.Tensor, margin: float) -> torch.Tensor:
    """``a`` (unit, ``[..., d]``) turned away from ``b = norm(push)`` in their plane until
    ``a . b = margin`` where it is above (``form="projected"``); ``a`` where it is not,
    where ``push`` is 0, or where ``a`` and ``b`` are parallel to within the 1e-8 of
    :func:`_unit` (no plane to turn in: the turned target would not be a unit vector)."""
    b = _unit(push)
    cos = (a * b).sum(-1, keepdim=True)
    across = a - cos * b  # a's part orthogonal to b: the plane's second direction
    turned = margin * b + (1.0 - margin ** 2) ** 0.5 * _unit(across)
    over = (cos > margin) & (push.norm(dim=-1, keepdim=True) > 0) & (across.norm(dim=-1, keepdim=True) > 1e-8)
    return torch.where(over, turned, a)
