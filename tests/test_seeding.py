"""Every derived seed comes from bioglom.seeding, with the formulas the recorded results were drawn with."""

import re
from pathlib import Path

import pytest
import torch

from bioglom.seeding import STREAMS, derived_seed, generator

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("stream, want", [
    ("batch", 3 * 7919 + 5), ("update", 3 * 1_000_003 + 5), ("validation", 3 + 1_000_003),
    ("selection", 3 + 2_000_003), ("test", 3 + 3_000_003), ("split", 4), ("test_masks", 4), ("probe_fit", 4),
    ("probe_eval", 5), ("net_inputs", 5), ("feedback", 8),
])
def test_streams_keep_the_recorded_formulas(stream, want):
    """Changing one would change every result drawn from it (the README's numbers)."""
    assert derived_seed(3, stream, 5) == want
    assert torch.equal(torch.rand(3, generator=generator(3, stream, 5)),
                       torch.rand(3, generator=torch.Generator().manual_seed(want)))


def test_every_stream_is_listed_and_an_unknown_one_is_named():
    assert set(STREAMS) == {"batch", "update", "validation", "selection", "test", "split", "test_masks",
                            "probe_fit", "probe_eval", "net_inputs", "feedback", "init_perturbation"}
    with pytest.raises(ValueError, match="stream='tests'"):
        derived_seed(0, "tests")


def test_no_seed_is_derived_by_hand_outside_the_table():
    """No ``manual_seed(seed + ...)`` / ``(seed * ...)`` arithmetic left in the library or the simulations."""
    pattern = re.compile(r"manual_seed\(\s*(int\()?\s*seed\s*\)?\s*[-+*]")
    found = [f"{p.relative_to(ROOT)}:{i + 1}" for folder in ("bioglom", "simulations")
             for p in (ROOT / folder).rglob("*.py") for i, line in enumerate(p.read_text().splitlines())
             if pattern.search(line)]
    assert not found, found
