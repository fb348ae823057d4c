"""Bad input to the data and mask functions ends in one ConfigError naming the field,
never a numpy or torch traceback from inside (a table of cases, grown from the issue's)."""

import pytest
import torch

from bioglom.config import ConfigError
from bioglom.data import fill_removed, make_scenes, make_whole_scenes, mask_parts, mask_regions, masked_batch

IMAGES = torch.rand(2, 3, 8, 8)
ONE_PART = torch.zeros(2, 8, 8, dtype=torch.long)
BATCH = dict(batch=2, regions=1, min_size=1, max_size=2)

CASES = [
    ("seed", lambda: make_whole_scenes(2, seed=-1)),
    ("seed", lambda: make_whole_scenes(2, seed=2**63)),
    ("start", lambda: make_whole_scenes(2, start=-3)),
    ("scale", lambda: make_whole_scenes(2, scale=0.4)),
    ("objects", lambda: make_whole_scenes(2, objects=3)),
    ("min_gap", lambda: make_whole_scenes(2, min_gap=-1)),
    ("seed", lambda: make_scenes(2, seed=1.5)),
    ("objects", lambda: make_scenes(2, objects=(1,))),
    ("start", lambda: make_scenes(2, start=2**63)),
    ("images", lambda: mask_regions(torch.rand(3, 8, 8))),
    ("images", lambda: mask_regions(IMAGES.long())),
    ("regions", lambda: mask_regions(IMAGES, regions=1.5)),
    ("max_size", lambda: mask_regions(IMAGES, min_size=3, max_size=20)),
    ("parts", lambda: mask_parts(IMAGES, torch.zeros(2, 4, 4, dtype=torch.long))),
    ("parts", lambda: mask_parts(IMAGES, torch.full((2, 8, 8), -1))),
    ("parts", lambda: mask_parts(IMAGES, torch.zeros(2, 8, 8))),
    ("count", lambda: mask_parts(IMAGES, ONE_PART, count=-1)),
    ("keep", lambda: fill_removed(IMAGES, torch.ones(3, 1, 8, 8))),
    ("fill", lambda: fill_removed(IMAGES, torch.ones(2, 1, 8, 8), float("nan"))),
    ("fill", lambda: fill_removed(IMAGES, torch.ones(2, 1, 8, 8), "grey")),
    ("indices", lambda: masked_batch(IMAGES, [5], 0, seed=0, **BATCH)),
    ("indices", lambda: masked_batch(IMAGES, [], 0, seed=0, **BATCH)),
    ("update", lambda: masked_batch(IMAGES, [0], -1, seed=0, **BATCH)),
    ("seed", lambda: masked_batch(IMAGES, [0], 0, seed=-2, **BATCH)),
    ("batch", lambda: masked_batch(IMAGES, [0], 0, seed=0, **{**BATCH, "batch": 0})),
]


@pytest.mark.parametrize("field,call", CASES, ids=[f"{i}-{f}" for i, (f, _) in enumerate(CASES)])
def test_bad_input_names_its_field_in_one_line(field, call):
    with pytest.raises(ConfigError) as e:
        call()
    message = str(e.value)
    assert message.startswith(field) or f"{field}=" in message or f"{field} " in message, message
    assert "\n" not in message


def test_good_input_still_works():
    scenes = make_whole_scenes(2, seed=3, start=5)
    corrupted, keep = mask_parts(scenes.images, scenes.parts, 1, torch.Generator().manual_seed(0))
    assert corrupted.shape == scenes.images.shape and keep.shape == (2, 1, 16, 16)
    chosen, _, keep = masked_batch(IMAGES, torch.tensor([0, 1]), 0, seed=0, **BATCH)
    assert chosen.shape == (2, 3, 8, 8) and keep.shape == (2, 1, 8, 8)
