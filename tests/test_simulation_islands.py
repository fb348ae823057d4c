import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]


def run(*args, **kw):
    return subprocess.run([sys.executable, str(ROOT / "simulations" / "islands.py"), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=600, **kw)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("islands")
    res = run("--quick", "--no-progress", "--out", str(out), "--device", "cpu")
    assert res.returncode == 0, res.stderr
    return out, res


def test_quick_run_writes_netcdf_with_claims(quick_run):
    tmp_path, res = quick_run
    with xr.open_dataset(tmp_path / "islands.nc", engine="h5netcdf") as ds:
        assert list(ds.claim.values) == ["I1", "I2", "I3"]
        assert ds.claim_held.dtype == bool
        assert ds.claim_value.notnull().all()
        assert set(ds.claim_criterion.values.tolist())
        assert ds.ari.dims == ("step", "sample", "level")
        assert "config" in ds.attrs and ds.attrs["seed"] == 0
    assert (tmp_path / "islands.png").stat().st_size > 0
    assert "I1" in res.stdout and "held" in res.stdout


def test_bad_option_stops_before_work(tmp_path):
    res = run("--quick", "--patch-size", "3", "--out", str(tmp_path / "o"))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1].startswith("error: patch_size=3 is not allowed")
    assert not (tmp_path / "o").exists()
    res = run("--neighbourhood", "ring", "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "neighbourhood='ring'" in res.stderr
    res = run("--radius", "1,2,99", "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "radius=(1, 2, 99)" in res.stderr


def test_notebook_runs_on_quick_output(quick_run, run_notebook):
    out, _ = quick_run
    outputs = run_notebook("islands.ipynb", {"BIOGLOM_ISLANDS_NC": out / "islands.nc"})
    assert any("I1" in str(o.get("data", {})) for o in outputs)
