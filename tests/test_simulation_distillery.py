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
    return subprocess.run([sys.executable, str(ROOT / "simulations" / "distillery.py"), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("distillery")
    res = run("--quick", "--no-progress", "--out", str(out), "--device", "cpu")
    assert res.returncode == 0, res.stderr
    return out, res


def test_quick_run_writes_netcdf_with_d_claims(quick_run):
    out, res = quick_run
    with xr.open_dataset(out / "distillery.nc", engine="h5netcdf") as ds:
        assert_described(ds)
        assert_coordinates_not_names(ds)
        ids = [f"{c} {r}" for r in ("delta", "temporal_derivative")
               for c in ("D1", "D1a", "D1b", "D2", "D3", "D3a", "D3b", "D4", "D5")]
        assert list(ds.claim.values) == ids
        assert np.isfinite(ds.claim_value).all() and set(ds.claim_verdict.values) <= {"held", "not held", "undecided"}
        # retina, condition, rule and location are coordinates of run
        assert {"uniform shared backprop", "foveated unshared temporal_derivative",
                "uniform distilled +location delta"} <= set(ds.run.values)
        shared = ds.sel(run=(ds.condition == "shared") & (ds.rule == "delta") & (ds.retina == "uniform"))
        assert (shared.dispersion.sel(direction="bottom_up") == 0).all()  # one net: no dispersion, ever
        assert (ds.sel(run="uniform unshared delta").dispersion_inputs > 0).all()
        assert ds.probe_correct.dims == ("seed", "run", "sample")
        assert ds.dispersion_inputs.dims == ("seed", "run", "moment", "input")
        assert list(ds["images"].values) == list(ds["update"].values * 4)
    for fig in ("quality.png", "dispersion.png", "gap.png"):
        assert (out / fig).stat().st_size > 0
    assert "D5" in res.stdout


def test_kill_and_resume_gives_the_same_result(quick_run, tmp_path):
    straight, _ = quick_run
    res = run("--quick", "--no-progress", "--out", str(tmp_path), "--device", "cpu", "--stop-after", "3")
    assert res.returncode == 1 and "--resume" in res.stderr
    res = run("--quick", "--no-progress", "--out", str(tmp_path), "--device", "cpu", "--resume")
    assert res.returncode == 0, res.stderr
    with xr.open_dataset(straight / "distillery.nc", engine="h5netcdf") as a, \
            xr.open_dataset(tmp_path / "distillery.nc", engine="h5netcdf") as b:
        xr.testing.assert_identical(a.drop_attrs(), b.drop_attrs())


def test_bad_options_stop_before_work(tmp_path):
    for args, expect in ((["--conditions", "shared,pooled"], "conditions='pooled'"),
                         (["--retinas", "fisheye"], "retinas='fisheye'"),
                         (["--fixation", "9,1"], "fixation="),
                         (["--aberration", "4"], "aberration=4"),
                         (["--rules", "backprop"], "rules='backprop'"),
                         (["--grouping", "motion"], "grouping='motion' is not allowed with data='digits'"),
                         (["--data", "scenes", "--teacher", "island"], "teacher='island' is not allowed with "
                                                                        "grouping='none'"),
                         (["--teacher", "segment"], "teacher")):
        res = run("--quick", *args, "--out", str(tmp_path / "o"))
        assert res.returncode == 2 and expect in res.stderr, res.stderr
    assert not (tmp_path / "o").exists()


def test_notebook_runs_on_quick_output(quick_run, run_notebook):
    out, _ = quick_run
    outputs = run_notebook("distillery.ipynb", {"BIOGLOM_DISTILLERY_NC": out / "distillery.nc"})
    assert any("D3" in str(o.get("data", {})) for o in outputs)


def test_the_island_teacher_teaches_the_columns_that_learn_from_others_and_reads_the_motion_segments(tmp_path):
    from bioglom.learning.conditions import ISLAND_RECIPE, teacher_options

    assert teacher_options("distilled", "island") == ISLAND_RECIPE == teacher_options("shared", "island")
    assert teacher_options("unshared", "island") == {"teacher": "no_lateral"}  # it learns from no other column
    assert teacher_options("distilled") == {"teacher": "full"}
    res = run("--quick", "--data", "scenes", "--grouping", "motion", "--teacher", "island", "--retinas", "uniform",
              "--rules", "temporal_derivative", "--conditions", "shared,distilled", "--no-location-check",
              "--no-backprop", "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr  # an island teacher with no groups in its batches would stop the run
    with xr.open_dataset(tmp_path / "distillery.nc", engine="h5netcdf") as ds:
        config = json.loads(ds.attrs["config"])
        assert (config["grouping"], config["teacher"]) == ("motion", "island")
        assert {"uniform shared temporal_derivative", "uniform distilled temporal_derivative"} <= set(ds.run.values)


@pytest.mark.slow  # about a minute on 2 cores; the temporal-derivative scenes run is in the default suite
def test_quick_run_on_scenes_reports_quality_against_the_controls(tmp_path):
    res = run("--quick", "--data", "scenes", "--retinas", "uniform", "--rules", "temporal_derivative", "--out",
              str(tmp_path))
    assert res.returncode == 0, res.stderr
    with xr.open_dataset(tmp_path / "distillery.nc", engine="h5netcdf") as ds:
        assert_described(ds)
        assert "uniform shared backprop label-trained" in ds.run.values
        assert ds.object_ari.dims == ("seed", "scene_run", "settling", "sample")
        assert "untrained" in ds.scene_run.values
        assert {"D1", "D2", "D3", "Q0 uniform shared backprop label-trained", "Q3 uniform distilled temporal_derivative"} \
            <= set(ds.claim.values)
    assert "of uniform shared backprop label-trained gain" in res.stdout


@pytest.mark.slow
def test_distributed_run_under_torchrun_matches_one_process(tmp_path):
    """``torchrun --nproc-per-node 2 simulations/distillery.py --distributed``: two gloo
    processes, each training half the rows of every run's columns, give the one-process
    run's training losses and probe (float32, so to rounding) and report the halo bytes."""
    args = ["--quick", "--no-backprop", "--radius", "1,1", "--no-progress", "--device", "cpu"]
    one = run(*args, "--out", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          str(ROOT / "simulations" / "distillery.py"), *args, "--out", str(tmp_path / "two"),
                          "--distributed"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert two.returncode == 0, two.stderr[-3000:]
    assert "bytes per settling step" in two.stdout
    assert len(list((tmp_path / "two" / "checkpoints").glob("*.rank1of2.pt"))) > 0
    with xr.open_dataset(tmp_path / "one" / "distillery.nc", engine="h5netcdf") as a, \
            xr.open_dataset(tmp_path / "two" / "distillery.nc", engine="h5netcdf") as b:
        np.testing.assert_allclose(b.train_loss.values, a.train_loss.values, rtol=1e-3)
        np.testing.assert_array_equal(b.probe_correct.values, a.probe_correct.values)
        # 6x6 grid, radius 1: each of the 2 processes sends one row of 6 columns x 4 images x 2 levels x 8 dims
        assert (b.halo_bytes_per_step == 2 * 6 * 4 * 2 * 8 * 4).all()
        assert "halo_bytes_per_step" not in a


def test_distributed_without_torchrun_names_the_missing_variables(tmp_path):
    res = run("--quick", "--no-backprop", "--distributed", "--out", str(tmp_path), "--device", "cpu")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT are not set" in res.stderr
    res = run("--quick", "--distributed", "--out", str(tmp_path), "--device", "cpu")
    assert res.returncode == 2 and "distributed=True is not allowed with backprop=True" in res.stderr
