import pytest
import torch

from bioglom import GlomConfig

torch.set_num_threads(2)


@pytest.fixture
def small_cfg():
    return GlomConfig(levels=3, dim=8, image_size=8, patch_size=2, channels=1, hidden=16, radius=(1, 2, 3))
