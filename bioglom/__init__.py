"""bioglom: GLOM (Hinton 2023) with the biologically plausible learning of its section 12.

Public API (docs/design.md §10)::

    from bioglom import GlomConfig, Glom
    model = Glom(GlomConfig(levels=4, dim=32, image_size=32, patch_size=4, channels=1))
    traj = model.settle(images, steps=8)
"""

import warnings

from .allocator import keep_freed_memory
from .config import ConfigError

# malloc keeps freed memory for reuse, so a large tensor freed and allocated again every
# update (unshared nets' gradients) is not page-faulted in again each time: see allocator.py
try:
    keep_freed_memory()
except ConfigError as e:  # an import does not fail on it: glibc stays as it is, and a simulation refuses it
    warnings.warn(str(e), stacklevel=2)

from .config import GlomConfig, NonFiniteError  # noqa: E402
from .model import Glom, Trajectory  # noqa: E402

__version__ = "0.1.0"

__all__ = ["GlomConfig", "Glom", "Trajectory", "ConfigError", "NonFiniteError", "__version__"]
