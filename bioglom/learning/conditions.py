"""The conditions of the giant distillery (paper 12.1; docs/claims.md D1-D5), as changes
to a model config and a local rule's teacher:

- ``shared``: one net per level and direction, used by every column;
- ``unshared``: a net per column, no lateral attention in settling (lateral consensus
  weight 0) and the lateral term out of the teacher: no column's update depends on
  another column's input;
- ``distilled``: a net per column, the teacher is the full consensus, which mixes in
  other columns through lateral attention (co-distillation).

Unshared nets start as independent draws, so that their functional dispersion has
somewhere to fall from.
"""

from __future__ import annotations

from ..config import GlomConfig, check_choice

__all__ = ["CONDITIONS", "condition_config", "condition_teacher"]

CONDITIONS = ("shared", "unshared", "distilled")


def condition_config(cfg: GlomConfig, condition: str) -> GlomConfig:
    """``cfg`` changed to ``condition`` (columns, initialisation, lateral weights)."""
    check_choice("condition", condition, CONDITIONS)
    if condition == "shared":
        return cfg.replace(columns="shared")
    cfg = cfg.replace(columns="unshared", column_init="independent")
    if condition == "unshared":
        cfg = cfg.replace(weights_start=cfg.weights_start[:3] + (0.0,), weights_end=cfg.weights_end[:3] + (0.0,))
    return cfg


def condition_teacher(condition: str) -> str:
    """The local rules' ``teacher`` in ``condition``."""
    check_choice("condition", condition, CONDITIONS)
    return "no_lateral" if condition == "unshared" else "full"
