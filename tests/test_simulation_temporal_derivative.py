import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from conftest import assert_coordinates_not_names, assert_described

ROOT = Path(__file__).resolve().parents[1]


def run(*args):
    return subprocess.run([sys.executable, str(ROOT / "simulations" / "temporal_derivative.py"), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)


def test_quick_run_writes_netcdf_with_t_claims(tmp_path, run_notebook):
    res = run("--quick", "--no-progress", "--out", str(tmp_path), "--device", "cpu")
    assert res.returncode == 0, res.stderr
    with xr.open_dataset(tmp_path / "temporal_derivative.nc", engine="h5netcdf") as ds:
        assert_described(ds)
        assert_coordinates_not_names(ds)
        assert list(ds.claim.values) == ["T1", "T1 bottom_up", "T1 top_down", "T1p", "T2", "T2a", "T2b", "T2c", "T2d", "T2e",
                                         "T3"]
        assert set(ds.claim_verdict.values) <= {"held", "not held", "undecided"}
        assert ds.claim_value.notnull().all() and ds.claim_low.notnull().all()
        assert ds.alignment.dims == ("seed", "columns", "condition", "batch", "step", "direction", "level")
        names = list(ds.condition.values)
        assert names == ["untrained", "backprop", "backprop lr x2", "delta", "temporal_derivative local_backprop",
                         "temporal_derivative feedback_alignment", "temporal_derivative frozen",
                         "temporal_derivative sgd"]
        # rule, hidden credit and optimizer are coordinates, not parts of a string to parse
        td_adam = ds.sel(condition=(ds.rule == "temporal_derivative") & (ds.optimizer == "adam"))
        assert sorted(td_adam.hidden_credit.values) == ["feedback_alignment", "frozen", "local_backprop"]
        # plain SGD runs with the credit Adam's runs chose on validation
        best = td_adam.val_accuracy.isel(seed=0, columns=0).argmax("condition")
        assert ds.sgd_hidden_credit.isel(seed=0, columns=0) == td_adam.hidden_credit[int(best)]
        assert ds.probe_correct.dims == ("seed", "columns", "condition", "sample")
        # backprop gets learning rates to choose from, as temporal_derivative gets hidden credits
        assert list(ds.lr_scale.sel(condition=["backprop", "backprop lr x2"]).values) == [1.0, 2.0]
        # the model-free reference of T2a and T2c: the same probe on the pixels
        assert ds.raw_pixels_correct.dims == ("seed", "columns", "condition", "sample")
        assert any(r in str(ds.claim_criterion.sel(claim="T2a").values) for r in ("raw pixels", "untrained"))
        assert set(np.unique(ds.probe_correct)) <= {0.0, 1.0}
        # T1 leaves out what is 1 by construction: the bottom-up nets at step 0
        trivial = ds.alignment_trivial.sel(condition="temporal_derivative frozen")
        assert trivial.sel(step=0, direction="bottom_up").all() and not trivial.sel(direction="top_down").any()
        assert (ds.peak_memory > 0).all() and ds.train_loss.dims[:3] == ("seed", "columns", "condition")
    for fig in ("alignment.png", "quality.png", "memory.png"):
        assert (tmp_path / fig).stat().st_size > 0
    assert "T2c" in res.stdout
    outputs = run_notebook("temporal_derivative.ipynb", {"BIOGLOM_TEMPORAL_DERIVATIVE_NC": tmp_path / "temporal_derivative.nc"})
    assert any("T1p" in str(o.get("data", {})) for o in outputs)


def test_bad_options_stop_before_work(tmp_path):
    res = run("--quick", "--hidden-credits", "local_backprop,oracle", "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "hidden_credits='oracle'" in res.stderr
    res = run("--quick", "--lr", "-1", "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "lr=-1" in res.stderr
    res = run("--quick", "--margin", "-2", "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "margin=-2" in res.stderr
    res = run("--quick", "--rules", "hebb", "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "rules='hebb'" in res.stderr
    res = run("--quick", "--memory-steps", "2,2", "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "memory_steps='2,2'" in res.stderr
    res = run("--quick", "--optimizers", "rmsprop", "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "optimizers='rmsprop'" in res.stderr
    res = run("--quick", "--alignment-batches", "99", "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "alignment_batches=99" in res.stderr
    res = run("--quick", "--grouping", "motion", "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "grouping='motion' is not allowed with data='digits'" in res.stderr
    res = run("--quick", "--data", "scenes", "--teacher", "segment", "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "teacher='segment' is not allowed with grouping='none'" in res.stderr
    assert not (tmp_path / "o").exists()


# the plain scenes run is slow-only (about 30 s on 2 cores): the motion one covers the scene path and more
@pytest.mark.parametrize("grouping", [pytest.param([], marks=pytest.mark.slow),
                                      ["--grouping", "motion", "--teacher", "segment"]], ids=["plain", "motion"])
def test_quick_run_on_scenes_reports_quality_against_the_controls(tmp_path, grouping):
    res = run("--quick", "--data", "scenes", "--no-progress", "--out", str(tmp_path), "--device", "cpu",
              "--hidden-credits", "feedback_alignment", *grouping)
    assert res.returncode == 0, res.stderr
    with xr.open_dataset(tmp_path / "temporal_derivative.nc", engine="h5netcdf") as ds:
        assert_described(ds)
        config = json.loads(ds.attrs["config"])
        assert (config["grouping"], config["teacher"]) == (("motion", "segment") if grouping else ("none", "full"))
        assert list(ds.condition.values) == ["untrained", "backprop", "backprop label-trained", "delta",
                                             "temporal_derivative feedback_alignment", "temporal_derivative sgd"]
        assert ds.object_ari.dims == ("seed", "columns", "condition", "moment", "sample")
        claims = list(ds.claim.values)
        assert "Q0 backprop label-trained" in claims and "Q2 temporal_derivative sgd" in claims
        assert ds.claim_value.sel(claim="T2d").isnull() and "probe_correct" not in ds
    assert "of backprop label-trained gain" in res.stdout
