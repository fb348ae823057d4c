import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from conftest import assert_coordinates_not_names, assert_described

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
        assert_coordinates_not_names(ds)
        assert list(ds.claim.values) == ["S1", "S2", "S2a", "S2b", "S2c", "S3", "S3a", "S3b"]
        assert np.isfinite(ds.claim_value).all() and ds.claim_held.dtype == bool
        # one seed: only S2's trial-level deviations have an interval; the rest cannot be decided
        assert (ds.claim_verdict.sel(claim=["S1", "S2c", "S3a", "S3b"]) == "undecided").all()
        assert list(ds.kernel.values) == ["exponential", "gaussian"]
        assert ds.s1_measured.dims == ("seed", "kernel", "delay") and ds.s1_delay.attrs["units"] == "s"
        assert ds.s3_state.dims == ("seed", "step", "level", "dim") and ds.s3_state.attrs["units"] == "Hz"
        assert (ds.s3_state >= 0).all()
        # measured numbers are variables, selectable by coordinate; none hides in an attribute
        assert ds.s2_change.dims == ("seed", "kernel", "trial") and ds.s2_se_slope.dims == ("seed", "kernel")
        assert list(ds.model.values) == ["initial", "spiking", "rate"]
        assert float(ds.s3_weight_change_corr.mean()) == pytest.approx(float(ds.claim_value.sel(claim="S3a")))
        assert "numbers" not in ds.attrs
    for fig in ("window.png", "estimate.png", "weights.png"):
        assert (out / fig).stat().st_size > 0
    assert "S3" in res.stdout


def test_resume_reuses_the_finished_parts(quick_run, tmp_path):
    import shutil

    out, _ = quick_run
    with xr.open_dataset(out / "stdp_spiking.nc", engine="h5netcdf") as ds:
        before = ds.claim_value.values.copy()
    # a finished run resumed is a no-op that says so: nothing is measured again or replaced
    stamp = (out / "stdp_spiking.nc").stat().st_mtime_ns
    res = run("--quick", "--out", str(out), "--device", "cpu", "--resume")
    assert res.returncode == 0 and "nothing to do" in res.stderr, res.stderr[-3000:]
    assert (out / "stdp_spiking.nc").stat().st_mtime_ns == stamp
    # a run killed after its parts were cached goes on from them
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "stdp_spiking.nc").unlink()
    res = run("--quick", "--out", str(copy), "--device", "cpu", "--resume")
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.count(": from ") == 5  # S1 and S2 for two kernels, S3 (one seed)
    with xr.open_dataset(copy / "stdp_spiking.nc", engine="h5netcdf") as ds:
        assert np.array_equal(ds.claim_value.values, before)


def test_seeds_as_jobs_give_the_claims_one_process_gives_from_the_same_parts(quick_run, tmp_path):
    import shutil

    out, _ = quick_run
    jobs = tmp_path / "jobs"
    res = run("--quick", "--seeds", "2", "--jobs", "2", "--out", str(jobs), "--device", "cpu")
    assert res.returncode == 0 and "2 of 2 seeds as 2 parallel jobs" in res.stderr, res.stderr[-3000:]
    # seed 0's job computed the parts the one-seed run computed (a part's identity is not its run's seeds)
    for part in ("seed0-s3.nc", "seed0-s2-exponential.nc"):
        with xr.open_dataset(out / "checkpoints" / part, engine="h5netcdf") as a, \
                xr.open_dataset(jobs / "seeds" / "seed0" / "checkpoints" / part, engine="h5netcdf") as b:
            xr.testing.assert_equal(a, b)
    # one process reading the jobs' parts gives the jobs' claims
    one = tmp_path / "one"
    (one / "checkpoints").mkdir(parents=True)
    for part in jobs.glob("seeds/seed*/checkpoints/*.nc"):
        shutil.copy(part, one / "checkpoints" / part.name)
    shutil.copy(jobs / "run.json", one / "run.json")
    res = run("--quick", "--seeds", "2", "--jobs", "1", "--out", str(one), "--device", "cpu", "--resume")
    assert res.returncode == 0 and res.stdout.count(": from ") == 10, res.stderr[-3000:]
    with xr.open_dataset(jobs / "stdp_spiking.nc", engine="h5netcdf") as a, \
            xr.open_dataset(one / "stdp_spiking.nc", engine="h5netcdf") as b:
        np.testing.assert_array_equal(a.claim_value.values, b.claim_value.values)
        assert list(a.claim_verdict.values) == list(b.claim_verdict.values)


@pytest.mark.parametrize("args, message", [
    (["--kernels", "exponential,boxcar"], "kernels='boxcar'"),
    (["--dt-ms", "10"], "dt=10 ms"),
    (["--s2-rate", "-5"], "s2_rate=-5.0"),
    (["--brian-device", "gpu"], "brian_device"),
    (["--s3-scale", "30"], "s3_scale=30.0"),
    (["--s2-trials", "1"], "s2_trials=1"),
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


def _constructed_runs(seeds=5, bias=0.0, corr_noise=0.05, rng=0):
    """S1-S3 parts of ``seeds`` seeds: S1 errors at a tenth of the tolerance, S2 trials whose
    mean is the rate rule times ``1 + bias``, an S3 column whose learned change is the rate
    model's plus ``corr_noise`` noise."""
    r = np.random.default_rng(rng)
    runs = {}
    for s in range(seeds):
        analytic = np.sin(np.linspace(-3, 3, 21))
        s1 = xr.Dataset({"s1_measured": ("delay", analytic + 0.01 * r.uniform(-1, 1, 21)),
                         "s1_analytic": ("delay", analytic)}, attrs={"tolerance": 0.1, "peak": 1.0})
        trials = 3200
        w = 1000 * (1 + bias) + 100 * np.sqrt(trials) * 0.02 * r.standard_normal(trials)
        s2 = xr.Dataset({"s2_change": ("trial", w)}, attrs={"rate_rule": 1000.0, "exact": 1000.0})
        w0 = np.full((4, 4), 0.25)
        change = r.standard_normal((4, 4))
        a = r.standard_normal((60, 4))
        target = a @ (w0 + change)
        col = xr.Dataset({"weight": (("sample", "pre_dim", "dim"),
                                     np.stack([w0, w0 + change + corr_noise * r.standard_normal((4, 4))])),
                          "rate_weight": (("sample", "pre_dim", "dim"), np.stack([w0, w0 + change])),
                          "inputs": (("item", "pre_dim"), a), "targets": (("item", "dim"), target),
                          "is_test": ("item", np.arange(60) >= 20)})
        runs[s] = ({"exponential": s1}, {"exponential": s2}, col)
    return runs


def test_s_claims_give_each_verdict_over_seeds():
    from bioglom.experiments.stdp_spiking.claims import spike_claims

    good = {c.id: c.decided for c in spike_claims(_constructed_runs())[0]}
    assert all(v == "held" for v in good.values()), good
    biased = {c.id: c.decided for c in spike_claims(_constructed_runs(bias=0.2))[0]}
    assert biased["S2a"] == biased["S2b"] == biased["S2"] == "not held"
    unrelated = {c.id: c.decided for c in spike_claims(_constructed_runs(corr_noise=5.0))[0]}
    assert unrelated["S3a"] == "not held"
    few = {c.id: c.decided for c in spike_claims(_constructed_runs(seeds=2, bias=0.045))[0]}
    assert few["S2a"] == "undecided"  # near the bound with two seeds
