import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from conftest import assert_coordinates_not_names, assert_described

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


def test_quick_run_writes_claims_with_intervals(quick_run):
    tmp_path, res = quick_run
    with xr.open_dataset(tmp_path / "islands.nc", engine="h5netcdf") as ds:
        assert_described(ds)
        assert_coordinates_not_names(ds)
        claims = list(ds.claim.values)
        for c in ("I1", "I2", "I3", "I4", "I5", "I1a clips", "I1b clips", "I1b frames", "I3 clips"):
            assert c in claims
        # a still frame has no motion: its baseline is never the motion segments
        assert "motion_segments" not in str(ds.claim_criterion.sel(claim="I1b frames").values)
        assert set(ds.claim_verdict.values.tolist()) <= {"held", "not held", "undecided"}
        assert (ds.claim_held.values == (ds.claim_verdict.values == "held")).all()
        main = ds.sel(claim=["I1", "I2", "I3", "I4"])
        assert np.isfinite(main.claim_low).all() and np.isfinite(main.claim_high).all()
        assert (main.claim_low <= main.claim_high).all()
        assert ds.ari.dims == ("seed", "target", "islands", "step", "sample", "level")
        assert list(ds.target.values) == ["parts", "objects"]
        assert list(ds.islands.values) == ["threshold", "connected"]
        assert {"baseline_ari", "val_baseline_ari", "true_parts_ari", "kind_accuracy", "fill_error",
                "attention_logit", "sweep_ari", "threshold_chosen", "ari_no_lateral",
                "consensus_share", "objects_touch", "clip_ari", "clip_baseline_ari", "vote_collapse"} <= set(ds.data_vars)
        # every model-free baseline, the same-signal one (counted from the training clips) included
        assert set(ds.baseline.values) == {"raw_pixels", "raw_tuned", "foreground_components", "colour_components",
                                           "position_blocks", "position_kmeans", "colour_position_kmeans",
                                           "motion_pairs"}
        assert np.isfinite(ds.val_baseline_ari.sel(baseline="motion_pairs")).all()
        assert "motion_pairs" in ds.clip_baseline.values
        # collapse in sight: per level at step 0 and settled, and the untrained network's
        assert ds.collapse.dims == ("seed", "probe_step", "level", "collapse_measure")
        assert ds.untrained_collapse.dims == ("seed", "level", "collapse_measure")
        assert np.isfinite(ds.collapse.sel(collapse_measure="spread_across")).all()
        assert ds.curve_ari.dims == ("seed", "moment", "update") and ds.untrained_ari.dims[0] == "seed"
        assert ds.kept_update.values.tolist() == [20]  # --keep last: the last update's weights are measured
        assert "motion_segments" in ds.clip_baseline.values
        # each level's shares of the consensus sum to 1; the top level has no top-down share
        np.testing.assert_allclose(ds.consensus_share.sum("contribution"), 1.0, rtol=1e-6)
        assert float(ds.consensus_share.sel(level=2, contribution="top_down").max()) == 0.0
        assert str(ds.claim_criterion.sel(claim="I1b").values).count("strongest model-free baseline") == 1
        assert 0 < float(ds.mask_fraction.mean()) < 0.5
        assert "config" in ds.attrs and ds.attrs["seed"] == 0
        # the summary shows the top level's collapse measures beside the untrained network's
        line = next(x for x in res.stdout.splitlines() if x.startswith("top level, settled test states"))
        for c in (ds.collapse.sel(probe_step="settled"), ds.untrained_collapse):
            top = c.isel(level=-1).mean("seed")
            assert (f"across images {float(top.sel(collapse_measure='spread_across')):.3f}, participation ratio "
                    f"{float(top.sel(collapse_measure='participation_ratio')):.2f}") in line, line
    for png in ("islands.png", "ari_by_step.png", "attention.png"):
        assert (tmp_path / png).stat().st_size > 0
    assert "I4" in res.stdout and "foreground_components" in res.stdout and "I5" in res.stdout


def test_harder_world_runs_with_parts_from_motion_and_their_same_signal_baseline(tmp_path):
    """--preset harder: twelve kinds overlapping in depth order, patterned on clutter, parts
    that sway; level 0 is read beside the pair statistics of the part-scale segments."""
    res = run("--quick", "--preset", "harder", "--no-progress", "--out", str(tmp_path), "--device", "cpu")
    assert res.returncode == 0, res.stderr
    assert "same-signal baseline from part-scale motion (part_pairs)" in res.stdout
    with xr.open_dataset(tmp_path / "islands.nc", engine="h5netcdf") as ds:
        assert_described(ds)
        config = json.loads(ds.attrs["config"])
        assert (config["occlusion"], len(config["kinds"]), config["part_motion"]) == (0.3, 12, True)
        base = ds.part_pairs_ari.values
        assert np.isfinite(base).mean() > 0.9 and (base[np.isfinite(base)] <= 1).all()
        assert ds.part_pairs_ari.attrs["target"] == "parts" and float(ds.teacher_part_ari.mean()) > 0


def test_keep_best_measures_the_weights_of_the_best_tracked_validation_point(tmp_path):
    """--keep best: the test scenes measure the weights of the training curve's best settled
    point (a training length chosen on validation), and the table says which update that was."""
    # without the grouping signal this quick curve peaks before its last point (update 18 of 20)
    res = run("--quick", "--keep", "best", "--eval-every", "2", "--grouping", "none", "--lr", "0.003", "--no-progress",
              "--out", str(tmp_path), "--device", "cpu")
    assert res.returncode == 0, res.stderr
    with xr.open_dataset(tmp_path / "islands.nc", engine="h5netcdf") as ds:
        curve = ds.curve_ari.sel(moment="settled").isel(seed=0)
        best = int(curve.update[int(np.nanargmax(curve.values))])
        assert best < 20 and ds.kept_update.values.tolist() == [best]
        assert json.loads(ds.attrs["config"])["keep"] == "best"
    assert f"weights measured: those of update {best}" in res.stdout


@pytest.mark.slow  # about 30 s on 2 cores
def test_local_rule_with_sleep_on_spliced_scenes_learns_otherwise(tmp_path):
    """--sleep-push: wake blocks alternate with sleep blocks of the island push on spliced
    training scenes; the weights, and so the result, differ from the same run awake."""
    common = ("--quick", "--preset", "local", "--no-progress", "--device", "cpu", "--updates", "8")
    # one thread: the updates the runs share must agree to the bit across processes, and a
    # threaded reduction's order (hence its last bit) may differ from one process to the next
    one_thread = dict(os.environ, OMP_NUM_THREADS="1")
    for name, extra in (("awake", ()), ("sleep", ("--sleep-push", "0.05", "--sleep-block", "2")),
                        ("harder", ("--sleep-push", "0.5", "--sleep-block", "2"))):
        res = run(*common, *extra, "--out", str(tmp_path / name), env=one_thread)
        assert res.returncode == 0, res.stderr
    with xr.open_dataset(tmp_path / "awake" / "islands.nc", engine="h5netcdf") as a, \
            xr.open_dataset(tmp_path / "sleep" / "islands.nc", engine="h5netcdf") as b, \
            xr.open_dataset(tmp_path / "harder" / "islands.nc", engine="h5netcdf") as c:
        assert json.loads(b.attrs["config"])["sleep_push"] == 0.05
        assert not np.array_equal(a.train_loss.values, b.train_loss.values)
        # updates 0-1 awake alike; 2-3 asleep; 4-5 awake again, after sleeps that pushed by different weights:
        # the push of the sleep block reaches the weights
        loss_b, loss_c = b.train_loss.values.reshape(-1), c.train_loss.values.reshape(-1)
        np.testing.assert_array_equal(loss_b[:2], loss_c[:2])
        assert not np.array_equal(loss_b[4:6], loss_c[4:6])
        # the backprop reference trains awake in both
        np.testing.assert_array_equal(a.backprop_ari.values, b.backprop_ari.values)


@pytest.mark.slow  # about 20 s on 2 cores; the --reference test below runs the local rule's claims and figure
def test_quick_local_rule_run_trains_backprop_beside_it(tmp_path):
    """--rule temporal_derivative --teacher island: the local rule and backprop's default
    recipe on the same seed, claims I1-I5 and L1-L3, the rules figure and the table."""
    res = run("--quick", "--no-progress", "--out", str(tmp_path), "--rule", "temporal_derivative", "--teacher",
              "island", "--no-td-location", "--variance-weight", "1", "--anticollapse-levels", "ungrouped")
    assert res.returncode == 0, res.stderr
    with xr.open_dataset(tmp_path / "islands.nc", engine="h5netcdf") as ds:
        assert_described(ds)
        claims = list(ds.claim.values)
        for c in ("I1", "I3", "I5", "L1", "L2", "L3", "L3a", "L3b"):
            assert c in claims
        assert ds.attrs["rule"] == "temporal_derivative"
        assert {"backprop_ari", "backprop_untrained_ari", "backprop_collapse", "backprop_example_islands",
                "backprop_curve_ari", "backprop_vote_collapse"} <= set(ds.data_vars)
        assert "backprop" in str(ds.claim_criterion.sel(claim="L1").values)
    assert (tmp_path / "checkpoints" / "backprop" / "seed0.nc").exists()
    assert (tmp_path / "rules.png").stat().st_size > 0
    assert "local rule" in res.stdout and "L1" in res.stdout
    assert "backprop: bottom-up votes, cosine same / other object" in res.stdout


def test_local_rule_reads_the_reference_of_a_finished_backprop_run(quick_run, tmp_path):
    """--reference DIR: the backprop run's own per-seed result is the reference (nothing is
    trained for it), and a folder of another recipe or without the seed is refused in one line."""
    backprop, _ = quick_run
    # the default run measures its last update's weights; the local preset keeps its best unless told
    res = run("--quick", "--preset", "local", "--no-progress", "--out", str(tmp_path / "a"), "--reference",
              str(backprop), "--keep", "last")
    assert res.returncode == 0, res.stderr
    assert not (tmp_path / "a" / "checkpoints" / "backprop").exists()
    with xr.open_dataset(backprop / "checkpoints" / "seed0.nc", engine="h5netcdf") as ref, \
            xr.open_dataset(tmp_path / "a" / "islands.nc", engine="h5netcdf") as ds:
        top, last = int(ref.level[-1]), int(ref.step[-1])
        np.testing.assert_array_equal(ds.backprop_ari.sel(seed=0).values,
                                      ref.ari.sel(target="objects", step=last, level=top).values)
        assert ds.backprop_kept_update.values.tolist() == [20] and ds.kept_update.values.tolist() == [20]
        assert_described(ds)
        assert {"I1", "I3", "I5", "L1", "L2", "L3", "L3a", "L3b"} <= set(ds.claim.values)
    assert (tmp_path / "a" / "rules.png").stat().st_size > 0 and "L1" in res.stdout
    res = run("--quick", "--preset", "local", "--seed", "1", "--out", str(tmp_path / "b"), "--reference", str(backprop))
    assert res.returncode == 2 and "holds no result of seed 1" in res.stderr.strip().splitlines()[-1]
    res = run("--quick", "--preset", "local", "--out", str(tmp_path / "c"), "--reference", str(backprop), "--dim", "8")
    assert res.returncode == 2 and "was written with other options (dim" in res.stderr.strip().splitlines()[-1]
    # refused before the local rule trains: nothing of it is written
    res = run("--quick", "--preset", "local", "--out", str(tmp_path / "d"), "--reference", str(backprop))
    assert res.returncode == 2 and "was written with other options (keep)" in res.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "d" / "checkpoints" / "seed0.nc").exists()


@pytest.mark.parametrize("args, message", [
    (("--reference", "."), "reference='.' is not allowed with rule='backprop'"),
    (("--preset", "local", "--reference", "/nonexistent"), "reference='/nonexistent' is not a folder"),
    (("--rule", "delta", "--consensus", "oscillator", "--norm", "groups"), "consensus='oscillator' is not allowed with rule='delta'"),
    (("--rule", "delta", "--grouping", "none"), "teacher='island' is not allowed with grouping='none'"),
    (("--rule", "delta", "--island-kappa", "0"), "island_kappa=0.0 is not allowed"),
    (("--rule", "delta", "--island-kappa", "nan"), "island_kappa=nan is not allowed"),
    (("--rule", "delta", "--variance-weight", "-1"), "variance_weight=-1.0 is not allowed"),
    (("--rule", "delta", "--stats-window", "0"), "stats_window=0 is not allowed"),
    (("--variance-weight", "1"), "variance_weight=1.0 is not allowed with rule='backprop'"),
    (("--island-push", "0.5"), "island_push=0.5 is not allowed with rule='backprop', which does not read it"),
    (("--static-segment",), "static_segment=True is not allowed with rule='backprop'"),
    (("--hidden-credit", "frozen"), "hidden_credit='frozen' is not allowed with rule='backprop'"),
    (("--rule", "delta", "--nudge-weight", "2"), "nudge_weight=2.0 is not allowed"),
    (("--kinds", "tower,blob"), "kinds='blob' is not allowed; choose one of"),
    (("--parts-min", "1"), "parts=(1, 4) is not allowed"),
    (("--parts-max", "5"), "parts=(2, 5) is not allowed"),
    (("--mask", "blocks", "--mask-max", "40"), "mask_max=40 are not allowed"),
    (("--seeds", "0"), "seeds=0 is not allowed"),
    (("--patch-size", "3"), "patch_size=3 is not allowed"),
    (("--neighbourhood", "ring"), "neighbourhood='ring'"),
    (("--radius", "1,2,99"), "radius=(1, 2, 99)"),
    (("--frames", "1"), "frames=1 is not allowed"),
    (("--speed", "9"), "speed=9 is not allowed"),
    (("--min-gap", "12"), "min_gap=12 is not allowed"),
    (("--consensus", "oscillator", "--norm", "groups", "--oscillator-group", "3"), "oscillator_group=3 is not allowed"),
    (("--consensus", "oscillator"), "norm='layer' is not allowed with consensus='oscillator'"),
    (("--share-velocity", "1.5"), "share_velocity=1.5 is not allowed"),
    (("--still", "-0.1"), "still=-0.1 is not allowed"),
    (("--articulation", "2"), "articulation=2.0 is not allowed"),
    (("--occlusion", "1"), "occlusion=1.0 is not allowed"),
    (("--occlusion", "0.3", "--scenes", "plain", "--grouping", "none"), "occlusion=0.3 is not allowed with scenes='plain'"),
    (("--sleep-push", "0.1"), "sleep_push=0.1 is not allowed with rule='backprop'"),
    (("--rule", "delta", "--sleep-push", "-0.1"), "sleep_push=-0.1 is not allowed"),
    (("--rule", "delta", "--sleep-block", "0"), "sleep_block=0 is not allowed"),
    (("--rule", "delta", "--sleep-block", "5"), "sleep_block=5 is not allowed with sleep_push=0.0"),
    (("--image-size", "128", "--batch", "64", "--pair-clips", "0", "--clip-scenes", "0", "--test-scenes", "8", "--val-scenes", "8"),
     "batch=64 is not allowed here: one update's pair tensors"),
    (("--image-size", "128", "--batch", "64", "--pair-sample", "4000", "--pair-clips", "0", "--clip-scenes", "0",
      "--test-scenes", "8", "--val-scenes", "8"), "batch=64 is not allowed here: one update's pair tensors"),
    (("--pair-sample", "64"), "pair_sample=64 is not allowed with 64 columns"),
    (("--pair-sample", "-1"), "pair_sample=-1 is not allowed"),
    (("--rule", "delta", "--pair-sample", "8"), "pair_sample=8 is not allowed with rule='delta'"),
    (("--occlusion", "0.3", "--min-gap", "2"), "occlusion=0.3 is not allowed with min_gap=2"),
    (("--articulation", "0.5"), "articulation=0.5 is not allowed with frames=2"),
    (("--part-motion",), "part_motion=True is not allowed with grouping='motion', frames=2"),
    (("--part-motion", "--frames", "3", "--colour-parts"), "part_motion=True is not allowed"),
    (("--pair-clips", "-1"), "pair_clips=-1 is not allowed"),
    (("--shard", "1,2"), "shard='1,2' is not allowed without sweep=True"),
    (("--grouping", "motion", "--background", "black"), "grouping='motion' is not allowed"),
])
def test_bad_option_stops_before_work(tmp_path, args, message):
    res = run("--quick", *args, "--out", str(tmp_path / "o"))
    assert res.returncode == 2, res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last, last
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "o").exists()


def test_notebook_runs_on_quick_output(quick_run, run_notebook):
    out, _ = quick_run
    outputs = run_notebook("islands.ipynb", {"BIOGLOM_ISLANDS_NC": out / "islands.nc"})
    assert any("I1" in str(o.get("data", {})) for o in outputs)


def test_resume_with_changed_options_refuses(quick_run, tmp_path):
    import shutil

    out, _ = quick_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    res = run("--quick", "--no-progress", "--resume", "--lr", "0.5", "--out", str(copy))
    assert res.returncode == 2, res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "lr" in last and "Traceback" not in res.stderr
