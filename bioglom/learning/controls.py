"""The positive controls a section-12 simulation trains beside its rules on the part-whole
scenes (``--data scenes``; docs/claims.md, "Quality on the part-whole scenes"), with the
same scenes, model, settling steps, batch and number of updates as the rules:

- ``backprop``: the islands simulation's label-free recipe -- denoising through every
  settling step, predictions agreeing with the detached consensus (weight 0.1), and
  negatives from other images and from locations of the same image that a location
  attends to little (weight 0.1);
- ``backprop label-trained``: the same plus the supervised island loss (weight 3) on the
  settled state, with removed and kept pixels weighted equally. Ground-truth parts and
  objects enter its training, so it is a reference for what settling can reach, not a
  biologically plausible rule.

With a label-free grouping signal (``grouping > 0``: the batches carry motion segments
found from the pixels, :func:`~bioglom.data.motion.motion_batch`), ``backprop`` adds the
island loss against those segments (weight ``grouping``) with balanced reconstruction, the
islands simulation's default recipe; the label-trained control stays as it is, on the
same batches.
"""

from __future__ import annotations

from ..config import check_choice, check_positive

__all__ = ["POSITIVE_CONTROLS", "LABEL_TRAINED", "GROUPING_WEIGHT", "control_options"]

LABEL_TRAINED = "backprop label-trained"
POSITIVE_CONTROLS = ("backprop", LABEL_TRAINED)
GROUPING_WEIGHT = 3.0  # backprop's island loss against the motion segments (the islands simulation's default)


def control_options(name: str, steps: int, grouping: float = 0.0) -> dict:
    """The ``backprop`` rule options of the control ``name`` at ``steps`` settling steps;
    ``grouping``: the weight of the label-free grouping loss of ``backprop`` (0: none)."""
    check_choice("control", name, POSITIVE_CONTROLS)
    check_positive("grouping", grouping, strict=False)
    options = dict(steps=steps, agreement_weight=0.1, negative_weight=0.1, margin=1.0, negatives="both",
                   negative_scope="image", recon="pixels", supervision=0.0)
    if name == LABEL_TRAINED:
        options.update(supervision=3.0, recon="balanced")
    elif grouping > 0:
        options.update(grouping=grouping, recon="balanced")
    return options
