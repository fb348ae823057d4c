"""Learning rules (DESIGN.md 5) and the trainer that applies any of them.

Rules are chosen by name: ``build_rule("backprop", steps=6)``.
"""

from . import backprop  # noqa: F401  (registers the rule)
from .base import RULES, Batch, LearningRule, RuleOutput, build_rule, register_rule
from .trainer import NonFiniteError, Trainer, first_non_finite, update_generator

__all__ = ["RULES", "Batch", "LearningRule", "RuleOutput", "build_rule", "register_rule",
           "NonFiniteError", "Trainer", "first_non_finite", "update_generator"]
