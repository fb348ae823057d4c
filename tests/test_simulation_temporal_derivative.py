import subprocess
import sys
from pathlib import Path

import xarray as xr
from conftest import assert_described

ROOT = Path(__file__).resolve().parents[1]


def run(*args):
    return subprocess.run([sys.executable, str(ROOT / "simulations" / "temporal_derivative.py"), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)


def test_quick_run_writes_netcdf_with_t_claims(tmp_path):
    res = run("--quick", "--no-progress", "--out", str(tmp_path), "--device", "cpu")
    assert res.returncode == 0, res.stderr
    with xr.open_dataset(tmp_path / "temporal_derivative.nc", engine="h5netcdf") as ds:
        assert_described(ds)
        assert list(ds.claim.values) == ["T1", "T2", "T3"]
        assert ds.claim_held.dtype == bool and ds.claim_value.notnull().all()
        assert ds.alignment.dims == ("columns", "rule", "step", "direction", "level")
        assert list(ds.rule.values) == ["untrained", "backprop", "delta", "temporal_derivative:local_backprop",
                                        "temporal_derivative:feedback_alignment", "temporal_derivative:frozen"]
        assert (ds.probe_accuracy > 0).all() and (ds.peak_memory > 0).all()
        assert "phase" in ds.coords and ds.train_loss.dims == ("columns", "rule", "update")
    for fig in ("alignment.png", "quality.png", "memory.png"):
        assert (tmp_path / fig).stat().st_size > 0
    assert "T2" in res.stdout


def test_bad_options_stop_before_work(tmp_path):
    res = run("--quick", "--hidden-credits", "local_backprop,oracle", "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "hidden_credits='oracle'" in res.stderr
    res = run("--quick", "--lr", "-1", "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "lr=-1" in res.stderr
    res = run("--quick", "--margin", "-2", "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "margin=-2" in res.stderr
    res = run("--quick", "--rules", "hebb", "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "rules='hebb'" in res.stderr
    assert not (tmp_path / "o").exists()
