"""bioglom: GLOM (Hinton 2023) with the biologically plausible learning of its section 12.

Public API (docs/design.md §10)::

    from bioglom import GlomConfig, Glom
    model = Glom(GlomConfig(levels=4, dim=32, image_size=32, patch_size=4, channels=1))
    traj = model.settle(images, steps=8)
"""

import os

# Large CPU tensors on transparent huge pages: unshared column nets allocate a weight-sized
# gradient every backward pass, and on 4 KB pages its page faults cost more than the
# matmul that fills it (benchmarks/kernels.py: a fresh 200 MB tensor 3.9-4.5x faster on huge
# pages; benchmarks/columns.py: unshared forward+backward 1.4-1.9x shared with them, 2.2x
# without). PyTorch reads the variable lazily, so setting it after `import torch` still
# takes effect (benchmarks/kernels.py measures it so); set THP_MEM_ALLOC_ENABLE=0 to
# keep 4 KB pages.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

from .config import ConfigError, GlomConfig, NonFiniteError  # noqa: E402
from .model import Glom, Trajectory  # noqa: E402

__version__ = "0.1.0"

__all__ = ["GlomConfig", "Glom", "Trajectory", "ConfigError", "NonFiniteError", "__version__"]
