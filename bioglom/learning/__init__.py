"""Learning rules (docs/design.md §5) and the trainer that applies any of them.

Rules are chosen by name: ``build_rule("backprop", steps=6)``, ``build_rule("delta")``,
``build_rule("temporal_derivative", hidden_credit="feedback_alignment")``.
"""

from . import backprop, local  # noqa: F401  (registers the rules)
from .base import RULES, Batch, LearningRule, NonFiniteError, RuleOutput, build_rule, register_rule
from .contrastive import PHASES, hinge, hinge_error
from .credit import HIDDEN_CREDITS
from .trainer import Trainer, first_non_finite, first_non_finite_grad, update_generator

__all__ = ["RULES", "Batch", "LearningRule", "RuleOutput", "build_rule", "register_rule", "NonFiniteError",
           "PHASES", "hinge", "hinge_error", "HIDDEN_CREDITS", "Trainer", "first_non_finite",
           "first_non_finite_grad", "update_generator"]
