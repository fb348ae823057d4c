import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from conftest import assert_coordinates_not_names, assert_described

from bioglom.data import write_idx

ROOT = Path(__file__).resolve().parents[1]


def run(*args):
    return subprocess.run([sys.executable, str(ROOT / "simulations" / "wake_sleep.py"), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("wake_sleep")
    res = run("--quick", "--no-progress", "--out", str(out), "--device", "cpu")
    assert res.returncode == 0, res.stderr
    return out, res


def test_quick_run_writes_netcdf_with_w_claims(quick_run):
    out, res = quick_run
    with xr.open_dataset(out / "wake_sleep.nc", engine="h5netcdf") as ds:
        assert_described(ds)
        assert_coordinates_not_names(ds)
        assert list(ds.claim.values) == ["W0", "W0a", "W0b", "W0c", "W1", "W1 block 1", "W1 block 3", "W2", "W2a",
                                         "W2b", "W3", "W3a", "W3b", "W4"]
        assert ds.claim_held.dtype == bool and set(ds.claim_verdict.values) <= {"held", "not held", "undecided"}
        # choices are made on validation digits, apart from the test digits; W0a's model-free reference
        assert ds.val_accuracy.dims == ("seed", "schedule", "update") and ds.raw_pixels_correct.dims == ("seed", "sample")
        assert list(ds.schedule.values) == ["interleaved", "day-night-1", "day-night-3", "deprivation", "sleep-first",
                                            "positive-only", "sleep-only"]
        # kind and block are coordinates: select without parsing names
        assert list(ds.sel(schedule=ds.kind == "day-night").block.values) == [1, 3]
        assert set(np.unique(ds.schedule_period.sel(schedule="day-night-3").values)) >= {"wake", "sleep"}
        assert ds.accuracy.dims == ("seed", "schedule", "update") and ds.level_accuracy.dims == ("seed", "schedule", "update", "level")
        assert ds.probe_correct.dims == ("seed", "schedule", "update", "sample")
        assert {"accuracy_raw", "centred_norm", "effective_rank"} <= set(ds.data_vars)
    for fig in ("curves.png", "recovery.png", "block_length.png"):
        assert (out / fig).stat().st_size > 0
    assert "W3" in res.stdout


def test_kill_and_resume_gives_the_same_result(quick_run, tmp_path):
    straight, _ = quick_run
    res = run("--quick", "--no-progress", "--out", str(tmp_path), "--device", "cpu", "--stop-after", "3")
    assert res.returncode == 1 and "--resume" in res.stderr  # "killed" part-way, results so far on disk
    assert (tmp_path / "wake_sleep.nc").exists()
    res = run("--quick", "--no-progress", "--out", str(tmp_path), "--device", "cpu", "--resume")
    assert res.returncode == 0, res.stderr
    with xr.open_dataset(straight / "wake_sleep.nc", engine="h5netcdf") as a, \
            xr.open_dataset(tmp_path / "wake_sleep.nc", engine="h5netcdf") as b:
        xr.testing.assert_identical(a.drop_attrs(), b.drop_attrs())


def test_bad_options_stop_before_work(tmp_path):
    for args, expect in ((["--blocks", "1,0"], "blocks=0"), (["--sleep-input", "nap"], "sleep_input='nap'"),
                         (["--rule", "hebb"], "rule='hebb'")):
        res = run("--quick", *args, "--out", str(tmp_path / "o"))
        assert res.returncode == 2 and expect in res.stderr, res.stderr
    for args, expect in ((["--data", "emnist"], "data='emnist'"),
                         (["--data", "mnist", "--data-dir", str(tmp_path)], "train-images-idx3-ubyte"),
                         (["--data", "mnist"], "data_dir=''"),
                         (["--schedules", "siesta"], "schedules='siesta'"),
                         (["--teacher", "island"], "teacher='island' is not allowed with grouping='none'"),
                         (["--sleep-input", "splice"], "sleep_input='splice' is not allowed with teacher='consensus'"),
                         (["--sleep-push", "-1"], "sleep_push=-1.0 is not allowed"),
                         (["--sleep-push", "0.1"], "sleep_push=0.1 is not allowed with sleep_input='dream'"),
                         (["--grouping", "motion"], "grouping='motion' is not allowed with data='digits'"),
                         (["--data", "scenes", "--image-size", "16", "--grouping", "motion", "--frames", "6"],
                          "frames=6 is not allowed with grouping='motion'"),
                         (["--data", "scenes", "--image-size", "16", "--grouping", "motion", "--negative",
                           "near_frame"], "negative='near_frame' is not allowed with grouping='motion'")):
        res = run("--quick", *args, "--out", str(tmp_path / "o"))
        assert res.returncode == 2 and expect in res.stderr, res.stderr
    cfg = tmp_path / "bad.toml"
    cfg.write_text("colums = 'shared'\n")
    res = run("--config", str(cfg), "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "colums" in res.stderr
    assert not (tmp_path / "o").exists()


def test_notebook_runs_on_quick_output(quick_run, run_notebook):
    out, _ = quick_run
    outputs = run_notebook("wake_sleep.ipynb", {"BIOGLOM_WAKE_SLEEP_NC": out / "wake_sleep.nc"})
    assert any("W0" in str(o.get("data", {})) for o in outputs)


def test_runs_on_local_mnist_files(tmp_path):
    """--data mnist reads IDX files from --data-dir (here small synthetic ones in MNIST's format)."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "mnist"
    folder.mkdir()
    for split, n in (("train", 80), ("t10k", 50)):
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)).astype(np.uint8))
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, n).astype(np.uint8))
    res = run("--quick", "--no-progress", "--out", str(tmp_path / "o"), "--device", "cpu", "--data", "mnist",
              "--data-dir", str(folder), "--image-size", "32", "--patch-size", "4", "--schedules", "interleaved")
    assert res.returncode == 0, res.stderr
    with xr.open_dataset(tmp_path / "o" / "wake_sleep.nc", engine="h5netcdf") as ds:
        assert ds.attrs["data"] == "mnist"
        assert np.isfinite(ds.accuracy.sel(schedule="interleaved")).any()
    res = run("--quick", "--data", "mnist", "--data-dir", str(folder), "--image-size", "24",
              "--out", str(tmp_path / "p"))
    assert res.returncode == 2 and "image_size=24" in res.stderr, res.stderr


@pytest.mark.slow  # about a minute on 2 cores; the temporal-derivative scenes run is in the default suite
def test_quick_run_on_scenes_reports_quality_against_the_controls(tmp_path):
    res = run("--quick", "--data", "scenes", "--image-size", "16", "--schedules", "interleaved,sleep-first",
              "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    with xr.open_dataset(tmp_path / "wake_sleep.nc", engine="h5netcdf") as ds:
        assert_described(ds)
        assert list(ds.run.values) == ["interleaved", "sleep-first", "untrained", "backprop", "backprop label-trained"]
        assert ds.object_ari.dims == ("seed", "run", "settling", "sample")
        assert ds.object_ari_mean.dims[:2] == ("seed", "schedule")
        assert {"W0-W4", "Q0 backprop label-trained", "Q2 sleep-first", "Q3 backprop"} <= set(ds.claim.values)
        assert ds.claim_verdict.sel(claim="W0-W4") == "undecided"
    res = run("--quick", "--data", "scenes", "--image-size", "10", "--out", str(tmp_path / "small"))  # too small
    assert res.returncode == 2 and "image_size=10" in res.stderr and not (tmp_path / "small").exists()


@pytest.mark.slow  # about two minutes on 2 cores
def test_the_island_teacher_learns_from_the_motion_segments_on_scenes(tmp_path):
    res = run("--quick", "--data", "scenes", "--image-size", "16", "--grouping", "motion", "--teacher", "island",
              "--schedules", "interleaved,sleep-first", "--sleep-input", "splice", "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr  # an island teacher whose batches carried no groups would stop the run
    with xr.open_dataset(tmp_path / "wake_sleep.nc", engine="h5netcdf") as ds:
        config = json.loads(ds.attrs["config"])
        assert (config["grouping"], config["teacher"], config["sleep_input"]) == ("motion", "island", "splice")
        assert {"interleaved", "sleep-first", "untrained", "backprop"} <= set(ds.run.values)


@pytest.mark.slow
def test_ctrl_c_writes_partial_results_and_resume_finishes_the_same(quick_run, tmp_path):
    """SIGINT (Ctrl-C) once training has written a checkpoint: the run writes what it has
    measured (status says interrupted and how to go on) and exits 1; --resume then ends
    with the uninterrupted run's result."""
    import signal
    import time

    out = tmp_path / "o"
    proc = subprocess.Popen([sys.executable, str(ROOT / "simulations" / "wake_sleep.py"), "--quick", "--no-progress",
                             "--out", str(out), "--device", "cpu"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)
    deadline = time.time() + 300
    while not list((out / "checkpoints").glob("*.pt")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1 and "Traceback" not in err, err[-2000:]
    assert "interrupted (Ctrl-C)" in err and "--resume" in err
    with xr.open_dataset(out / "wake_sleep.nc", engine="h5netcdf") as ds:
        assert ds.attrs["status"].startswith("interrupted (Ctrl-C)")
    res = run("--quick", "--no-progress", "--out", str(out), "--device", "cpu", "--resume")
    assert res.returncode == 0, res.stderr
    straight, _ = quick_run
    with xr.open_dataset(straight / "wake_sleep.nc", engine="h5netcdf") as a, \
            xr.open_dataset(out / "wake_sleep.nc", engine="h5netcdf") as b:
        xr.testing.assert_identical(a.drop_attrs(), b.drop_attrs())
