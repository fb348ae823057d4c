"""Sleep input (docs/design.md §6; paper 12.2): dreams generated top-down, and a memory of what
the wake phase saw at the top level to dream from.

A dream turns top-level vectors into embeddings at every level of each column by the
top-down nets alone, ``s[l] = norm(f_td[l](s[l+1], pos_n))`` from ``s[L-1] = top``, in one
downward pass (faster than wake settling: ``L-1`` net applications, no settling steps)
and with no attention between columns, so a column's dream depends on its own top-level
vector only.
"""

from __future__ import annotations

import torch

from ..config import ConfigError, check_positive
from ..consensus import normalise
from ..model import Glom

__all__ = ["dream", "TopLevelMemory"]


def dream(model: Glom, top: torch.Tensor) -> torch.Tensor:
    """Embeddings ``[b, L, N, D]`` generated from top-level vectors ``top [b, N, D]``."""
    cfg = model.cfg
    if top.dim() != 3 or top.shape[1:] != (cfg.n_columns, cfg.dim):
        raise ConfigError(f"top has shape {tuple(top.shape)}; it must be [b, {cfg.n_columns}, {cfg.dim}] "
                          "(columns and dim of the config)")
    levels = [top]
    for l in range(cfg.levels - 2, -1, -1):  # sequential by nature: each level is generated from the one above
        td = model.nets.top_down(levels[0][:, None], slice(l, l + 1)).mean
        levels.insert(0, normalise(td[:, 0], cfg.norm))
    return torch.stack(levels, dim=1)  # b l n d


class TopLevelMemory:
    """A ring buffer of top-level states seen awake, to dream from.

    ``sample(k, generator)`` draws ``k`` stored states (with replacement) and adds Gaussian
    noise of standard deviation ``noise`` per dimension, then renormalises with ``norm``.
    ``state_dict``/``load_state_dict`` make it part of a checkpoint.
    """

    def __init__(self, capacity: int = 1024, noise: float = 0.1, norm: str = "layer"):
        check_positive("capacity", capacity, integer=True)
        check_positive("noise", noise, strict=False)
        self.capacity, self.noise, self.norm = capacity, noise, norm
        self.items: torch.Tensor | None = None  # capacity n d, filled up to count
        self.count = 0
        self.next = 0

    def __len__(self) -> int:
        return self.count

    def add(self, top: torch.Tensor) -> None:
        """Store top-level states ``[b, N, D]`` (detached, on the CPU), overwriting the oldest
        once the buffer is full."""
        top = top.detach().cpu()
        if self.items is None:
            self.items = top.new_zeros((self.capacity, *top.shape[1:]))
        kept = top[-self.capacity:]  # of a batch larger than the buffer, the newest rows survive
        slots = (self.next + len(top) - len(kept) + torch.arange(len(kept))) % self.capacity
        self.items[slots] = kept
        self.next = (self.next + len(top)) % self.capacity
        self.count = min(self.count + len(top), self.capacity)

    def sample(self, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
        if not len(self):
            raise ConfigError("the top-level memory is empty; dreams need at least one wake update first")
        idx = torch.randint(0, len(self), (k,), generator=generator)
        x = self.items[idx]
        x = x + self.noise * torch.randn(x.shape, generator=generator)
        return normalise(x, self.norm)

    def state_dict(self) -> dict:
        return {"items": self.items, "next": self.next, "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.items, self.next, self.count = state["items"], state["next"], state["count"]
