"""No claim comes out held on a model that does not learn (issue: verdicts that cannot
hold by construction). Each training simulation runs its --quick configuration with a
learning rate of 1e-12, so every model keeps its initial weights, and the claims held there
must be ones that are about the rule or the settling itself, not about learning."""

import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]

# held without learning, and why that is what they claim
ABOUT_THE_RULE = {
    "T1": "the temporal-derivative update points where the delta update points: a property of the rule at any weights",
    "T1 bottom_up": "T1's part", "T1 top_down": "T1's part",
    "T1p": "T1's precondition, that settling lowers the decoding error, is a property of settling",
    "T3": "peak memory of one update against settling steps: a property of the rule",
    "I2c": "island size rises with level; an untrained net's top level is one island, which I2d fails, so I2 is "
           "not held",
    "W2b": "accuracy falls by little while the spread shrinks: a part of W2, which W2a (the shrinking) decides",
}


@pytest.mark.parametrize("simulation, extra", [
    ("islands", []), ("distillery", []), ("wake_sleep", []), ("temporal_derivative", ["--sgd-lr", "1e-12"])])
def test_no_learning_claim_is_held_on_a_model_that_does_not_learn(simulation, extra, tmp_path):
    res = subprocess.run([sys.executable, str(ROOT / "simulations" / f"{simulation}.py"), "--quick", "--lr", "1e-12",
                          *extra, "--no-progress", "--device", "cpu", "--out", str(tmp_path)],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    with xr.open_dataset(tmp_path / f"{simulation}.nc", engine="h5netcdf") as ds:
        held = [str(c) for c, v in zip(ds.claim.values, ds.claim_verdict.values) if v == "held"]
    # a claim id may carry a rule or column kind after its own id (D5 delta)
    unexpected = [c for c in held if c not in ABOUT_THE_RULE and c.rsplit(" ", 1)[0] not in ABOUT_THE_RULE]
    assert not unexpected, f"held without any learning: {unexpected}"
