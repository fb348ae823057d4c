"""The conditions of the giant distillery (paper 12.1; docs/claims.md D1-D5), as changes
to a model config and a local rule's teacher:

- ``shared``: one net per level and direction, used by every column;
- ``unshared``: a net per column; the teacher is the consensus without its lateral term,
  so no column learns toward another column's embedding;
- ``distilled``: a net per column; the teacher is the full consensus, which mixes in
  other columns through lateral attention (co-distillation).

``unshared`` and ``distilled`` build the same model, settling with lateral attention
in both (so evaluation and read-out are the same), and differ in the teacher only.
Unshared nets start as independent draws, so that their functional dispersion has
somewhere to fall from. The front end and decoder are one shared net in every
condition; under ``frontend="autoencoder"`` they learn from every column's pixels, a
channel between columns that the conditions share (docs/claims.md names it).
"""

from __future__ import annotations

from ..config import GlomConfig, check_choice

__all__ = ["CONDITIONS", "condition_config", "condition_teacher"]

CONDITIONS = ("shared", "unshared", "distilled")


def condition_config(cfg: GlomConfig, condition: str) -> GlomConfig:
    """``cfg`` changed to ``condition`` (columns and their initialisation)."""
    check_choice("condition", condition, CONDITIONS)
    if condition == "shared":
        return cfg.replace(columns="shared")
    return cfg.replace(columns="unshared", column_init="independent")


def condition_teacher(condition: str) -> str:
    """The local rules' ``teacher`` in ``condition``."""
    check_choice("condition", condition, CONDITIONS)
    return "no_lateral" if condition == "unshared" else "full"
