"""One seeding function for Python, NumPy, torch (and Brian2, when it is in use)."""

from __future__ import annotations

import random
import sys

import numpy as np
import torch

__all__ = ["seed_everything"]


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator, torch (CPU and CUDA), and Brian2's
    generator if Brian2 has been imported. Library code takes explicit generators; this
    only fixes what third-party code draws from global state."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if "brian2" in sys.modules:
        sys.modules["brian2"].seed(seed)
