"""Every seed bioglom derives, from one table, and one seeding function for Python, NumPy,
torch (and Brian2, when it is in use).

A run has one seed ``s`` (``--seed``; ``s, s+1, ...`` with ``--seeds``). Every other
random stream is derived from it by :func:`derived_seed` under a name, so that which
stream feeds what can be read in one place (:data:`STREAMS`) and a resumed run draws the
same numbers:

====================  ===========================  ==============================================
stream                derived seed                 feeds
====================  ===========================  ==============================================
``batch``             ``s * 7919 + u``             the masks of training batch ``u``
``update``            ``s * 1_000_003 + u``        the trainer's generator of update ``u``
                                                   (Gaussian neighbourhoods redrawn per step)
``validation``        ``s + 1_000_003``            held-out validation scenes
``selection``         ``s + 2_000_003``            the islands sweep's selection scenes
``test``              ``s + 3_000_003``            held-out test scenes and their masks
``split``             ``s + 1``                    the validation split of the training digits
``test_masks``        ``s + 1``                    the masks of the held-out test digits
``probe_fit``         ``s + 1``                    the videos a probe is fitted on
``probe_eval``        ``s + 2``                    the videos a probe is evaluated on
``net_inputs``        ``s + 2``                    the common inputs of the dispersion measure
``feedback``          ``f + d``                    feedback matrices (``f``: ``feedback_seed``,
                                                   ``d`` 0 bottom-up, 1 top-down)
``init_perturbation`` ``s + 4_000_003``            the relative perturbation of the initial
                                                   weights (``GlomConfig.init_perturbation``)
====================  ===========================  ==============================================

The formulas are the ones every recorded result was drawn with, kept so the README's
numbers come back. They are affine, so streams of different seeds can meet (``split`` of
seed 0 is seed 1 itself); streams that meet feed different draws (weights against masks),
so no two measurements share noise. A collision-free derivation
(``numpy.random.SeedSequence``) would change every recorded stream.
"""

from __future__ import annotations

import random
import sys

import numpy as np
import torch

__all__ = ["STREAMS", "derived_seed", "generator", "seed_everything"]

STREAMS = {
    "batch": lambda s, i: s * 7919 + i,
    "update": lambda s, i: s * 1_000_003 + i,
    "validation": lambda s, i: s + 1_000_003,
    "selection": lambda s, i: s + 2_000_003,
    "test": lambda s, i: s + 3_000_003,
    "split": lambda s, i: s + 1,
    "test_masks": lambda s, i: s + 1,
    "probe_fit": lambda s, i: s + 1,
    "probe_eval": lambda s, i: s + 2,
    "net_inputs": lambda s, i: s + 2,
    "feedback": lambda s, i: s + i,
    "init_perturbation": lambda s, i: s + 4_000_003,
}


def derived_seed(seed: int, stream: str, index: int = 0) -> int:
    """The seed of ``stream`` (module docstring) for run seed ``seed`` and ``index`` (the
    update, batch or direction the stream is per)."""
    if stream not in STREAMS:
        raise ValueError(f"stream={stream!r} is not a derived stream; choose one of {sorted(STREAMS)}")
    # reduced below 2**63 so that a seed near the top of its range stays a valid seed
    return int(STREAMS[stream](int(seed), int(index))) % 2**63


def generator(seed: int, stream: str, index: int = 0, device=None) -> torch.Generator:
    """A torch generator seeded with :func:`derived_seed`."""
    gen = torch.Generator(device=device) if device is not None else torch.Generator()
    return gen.manual_seed(derived_seed(seed, stream, index))


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator, torch (CPU and CUDA), and Brian2's
    generator if Brian2 has been imported. Library code takes explicit generators; this
    only fixes what third-party code draws from global state."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if "brian2" in sys.modules:
        sys.modules["brian2"].seed(seed)
