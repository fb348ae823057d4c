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
        for c in ("I1", "I2", "I3", "I4", "I5", "I1a clips", "I1b clips", "I3 clips"):
            assert c in claims
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
                "consensus_share", "objects_touch", "clip_ari", "clip_baseline_ari"} <= set(ds.data_vars)
        assert set(ds.baseline.values) == {"raw_pixels", "raw_tuned", "foreground_components", "colour_components"}
        assert "motion_segments" in ds.clip_baseline.values
        # each level's shares of the consensus sum to 1; the top level has no top-down share
        np.testing.assert_allclose(ds.consensus_share.sum("contribution"), 1.0, rtol=1e-6)
        assert float(ds.consensus_share.sel(level=2, contribution="top_down").max()) == 0.0
        assert str(ds.claim_criterion.sel(claim="I1b").values).count("strongest model-free baseline") == 1
        assert 0 < float(ds.mask_fraction.mean()) < 0.5
        assert "config" in ds.attrs and ds.attrs["seed"] == 0
    for png in ("islands.png", "ari_by_step.png", "attention.png"):
        assert (tmp_path / png).stat().st_size > 0
    assert "I4" in res.stdout and "foreground_components" in res.stdout and "I5" in res.stdout


@pytest.mark.parametrize("args, message", [
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
