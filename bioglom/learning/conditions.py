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

__all__ = ["CONDITIONS", "TEACHING", "ISLAND_RECIPE", "condition_config", "condition_teacher", "teacher_options"]

CONDITIONS = ("shared", "unshared", "distilled")
TEACHING = ("consensus", "island")  # what the columns that learn from each other learn toward
# the island teacher as the islands simulation's local sweep chose it: hinged pull and push
# at every settling step, LPL terms where no segment pushes (the islands preset has since
# added the static background as a segment and push 0.75; the scene runs the README reports
# used this recipe, so it stays)
ISLAND_RECIPE = dict(teacher="island", island_form="hinged", island_at="every", variance_weight=1.0,
                     decorrelation_weight=1.0, stats_window=1, stats_per="level", anticollapse_levels="ungrouped")


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


def teacher_options(condition: str, teaching: str = "consensus") -> dict:
    """The local rules' teacher options in ``condition``: with ``teaching="consensus"``
    :func:`condition_teacher`; with ``"island"`` the shared and distilled columns learn
    toward the island target of their input's grouping (:data:`ISLAND_RECIPE`; the batches
    must carry groups, e.g. motion segments), while unshared columns keep the consensus
    without its lateral term (they learn from no other column)."""
    check_choice("teaching", teaching, TEACHING)
    if teaching == "island" and condition != "unshared":
        check_choice("condition", condition, CONDITIONS)
        return dict(ISLAND_RECIPE)
    return {"teacher": condition_teacher(condition)}
