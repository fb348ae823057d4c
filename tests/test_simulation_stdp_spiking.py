import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from conftest import assert_described

ROOT = Path(__file__).resolve().parents[1]


def run(*args):
    return subprocess.run([sys.executable, str(ROOT / "simulations" / "stdp_spiking.py"), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("stdp_spiking")
    res = run("--quick", "--out", str(out), "--device", "cpu")
    assert res.returncode == 0, res.stderr[-3000:]
    return out, res


def test_quick_run_writes_netcdf_with_s_claims(quick_run):
    out, res = quick_run
    with xr.open_dataset(out / "stdp_spiking.nc", engine="h5netcdf") as ds:
        assert_described(ds)
        assert list(ds.claim.values) == ["S1", "S2", "S3"]
        assert np.isfinite(ds.claim_value).all() and ds.claim_held.dtype == bool
        assert list(ds.kernel.values) == ["exponential", "gaussian"]
        assert ds.s1_measured.dims == ("kernel", "delay")
        assert ds.s3_state.dims == ("step", "level", "dim") and ds.s3_state.attrs["units"] == "Hz"
        assert (ds.s3_state >= 0).all()
        # measured numbers are variables, selectable by coordinate; none hides in an attribute
        assert ds.s2_change.dims == ("kernel", "trial") and ds.s2_se_slope.dims == ("kernel",)
        assert list(ds.model.values) == ["initial", "spiking", "rate"]
        assert float(ds.s3_weight_change_corr) == float(ds.claim_value.sel(claim="S3"))
        assert "numbers" not in ds.attrs
    for fig in ("window.png", "estimate.png", "weights.png"):
        assert (out / fig).stat().st_size > 0
    assert "S3" in res.stdout


def test_resume_reuses_the_finished_parts(quick_run):
    out, _ = quick_run
    with xr.open_dataset(out / "stdp_spiking.nc", engine="h5netcdf") as ds:
        before = ds.claim_value.values.copy()
    res = run("--quick", "--out", str(out), "--device", "cpu", "--resume")
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.count(": from ") == 5  # S1 and S2 for two kernels, S3
    with xr.open_dataset(out / "stdp_spiking.nc", engine="h5netcdf") as ds:
        assert np.array_equal(ds.claim_value.values, before)


@pytest.mark.parametrize("args, message", [
    (["--kernels", "exponential,boxcar"], "kernels='boxcar'"),
    (["--dt-ms", "10"], "dt=10 ms"),
    (["--s2-rate", "-5"], "s2_rate=-5.0"),
    (["--brian-device", "gpu"], "brian_device"),
    (["--s3-scale", "30"], "s3_scale=30.0"),
])
def test_bad_options_stop_before_any_work(tmp_path, args, message):
    res = run(*args, "--out", str(tmp_path / "o"))
    assert res.returncode == 2
    assert message in res.stderr
    assert not (tmp_path / "o" / "stdp_spiking.nc").exists()


def test_notebook_runs_on_the_quick_result(quick_run, run_notebook):
    out, _ = quick_run
    outputs = run_notebook("stdp_spiking.ipynb", {"BIOGLOM_STDP_SPIKING_NC": out / "stdp_spiking.nc"})
    text = "\n".join(str(o.get("data", o.get("text", ""))) for o in outputs)
    assert "S3" in text and "se_slope" in text and "held-out prediction correlation" in text
