"""Seeds as jobs: per-seed results merged by ``python -m bioglom.claims`` give the claims of
the one-process run."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from bioglom.analysis import write_netcdf

ROOT = Path(__file__).resolve().parents[1]
CLAIMS = ("claim_value", "claim_low", "claim_high")


def _run(simulation, out, *args):
    done = subprocess.run([sys.executable, str(ROOT / "simulations" / f"{simulation}.py"), "--quick", "--no-progress",
                           "--out", str(out), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return out / f"{simulation}.nc"


@pytest.fixture(scope="module")
def islands_whole(tmp_path_factory):
    """The islands --quick run of seeds 0 and 1 in one process: the reference of the tests
    that run the same seeds otherwise (shared, as it takes about 15 s)."""
    return _run("islands", tmp_path_factory.mktemp("whole"), "--seeds", "2", "--jobs", "1")


def _merge(simulation, paths, out):
    return subprocess.run([sys.executable, "-m", "bioglom.claims", simulation, *map(str, paths), "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT)


def _split(path, tmp_path):
    """The per-seed files of a multi-seed result, as separate runs would write them."""
    parts = []
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        ds = ds.load()
    body = ds.drop_vars([v for v in ds.variables if str(v).startswith("claim")])
    for s in ds.seed.values:
        part = body.sel(seed=[s])
        parts.append(write_netcdf(part, tmp_path / f"seed{s}" / path.name))
    return ds, parts


@pytest.mark.parametrize("simulation,data", [
    ("islands", None), ("wake_sleep", "digits"), ("distillery", "digits"), ("temporal_derivative", "digits"),
    # on scenes the claims read the scene quality back from the merged file (the jobs test runs the distillery's)
    *(pytest.param(s, "scenes", marks=pytest.mark.slow) for s in ("wake_sleep", "distillery", "temporal_derivative"))])
def test_merged_per_seed_files_give_the_one_process_claims_exactly(simulation, data, tmp_path, request):
    path = (request.getfixturevalue("islands_whole") if simulation == "islands"
            else _run(simulation, tmp_path / "all", "--seeds", "2", "--jobs", "1", "--data", data))
    whole, parts = _split(path, tmp_path)
    done = _merge(simulation, parts[::-1], tmp_path / "merged.nc")  # any order: merged in seed order
    assert done.returncode == 0, done.stderr
    with xr.open_dataset(tmp_path / "merged.nc", engine="h5netcdf") as merged:
        assert list(merged.claim.values) == list(whole.claim.values)
        for v in CLAIMS:
            np.testing.assert_array_equal(merged[v].values, whole[v].values)
        assert (merged.claim_verdict.values == whole.claim_verdict.values).all()
        assert list(merged.seed.values) == [0, 1]


@pytest.mark.slow  # the jobs test below runs the seeds as separate processes too
def test_seeds_run_as_separate_processes_merge_to_the_same_claims(tmp_path, islands_whole):
    whole = islands_whole
    parts = [_run("islands", tmp_path / f"s{s}", "--seed", str(s), "--seeds", "1") for s in (0, 1)]
    assert _merge("islands", parts, tmp_path / "merged.nc").returncode == 0
    with xr.open_dataset(whole, engine="h5netcdf") as a, xr.open_dataset(tmp_path / "merged.nc", engine="h5netcdf") as b:
        # a seed's numbers do not depend on the process it ran in, up to float32 summation order
        # (measured: values 5e-7, bounds 7e-6 apart)
        for v in CLAIMS:
            np.testing.assert_allclose(b[v].values, a[v].values, rtol=0, atol=5e-5)
        assert (a.claim_verdict.values == b.claim_verdict.values).all()


def test_merge_refuses_what_does_not_fit_with_one_line(tmp_path, islands_whole):
    import json

    _, (one, second) = _split(islands_whole, tmp_path)
    with xr.open_dataset(second, engine="h5netcdf") as ds:
        other = ds.load()
    other.attrs["config"] = json.dumps({**json.loads(other.attrs["config"]), "lr": 0.01})  # another option
    other = write_netcdf(other, tmp_path / "other" / "islands.nc")
    cases = [(("islands", [one, other]), "other options"),
             (("islands", [one, one]), "more than once"),
             (("stdp_spiking", [one]), "simulation='stdp_spiking' is not allowed"),
             (("islands", [tmp_path / "none.nc"]), "is not a file"),
             (("wake_sleep", [one]), "was not written by wake_sleep")]
    for (simulation, paths), message in cases:
        done = _merge(simulation, paths, tmp_path / "m.nc")
        assert done.returncode == 2 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    done = _merge("islands", [one], tmp_path)  # a folder, not a file
    assert done.returncode == 2 and "is a folder" in done.stderr
    # a finished merged result is replaced only with --overwrite
    assert _merge("islands", [one], tmp_path / "m.nc").returncode == 0
    before = (tmp_path / "m.nc").read_bytes()
    done = _merge("islands", [one], tmp_path / "m.nc")
    assert done.returncode == 2 and "exists; give --overwrite" in done.stderr
    assert (tmp_path / "m.nc").read_bytes() == before
    assert subprocess.run([sys.executable, "-m", "bioglom.claims", "islands", str(one), "--out", str(tmp_path / "m.nc"),
                           "--overwrite"], capture_output=True, text=True, cwd=ROOT).returncode == 0


def test_jobs_run_the_seeds_in_parallel_and_give_the_one_process_claims(tmp_path, islands_whole):
    whole = islands_whole
    jobs = _run("islands", tmp_path / "jobs", "--seeds", "2", "--jobs", "2")
    with xr.open_dataset(whole, engine="h5netcdf") as a, xr.open_dataset(jobs, engine="h5netcdf") as b:
        for v in CLAIMS:
            np.testing.assert_allclose(b[v].values, a[v].values, rtol=0, atol=5e-5)
        assert (a.claim_verdict.values == b.claim_verdict.values).all() and list(b.seed.values) == [0, 1]
    assert {p.name for p in (tmp_path / "jobs" / "seeds").iterdir()} == {"seed0", "seed1"}
    # resumed when finished: a no-op that says so; with the merged result gone, the finished
    # seeds are not run again and the merge is the same
    resume = [sys.executable, str(ROOT / "simulations" / "islands.py"), "--quick", "--no-progress",
              "--out", str(tmp_path / "jobs"), "--seeds", "2", "--jobs", "2", "--resume"]
    done = subprocess.run(resume, capture_output=True, text=True)
    assert done.returncode == 0 and "nothing to do" in done.stderr, done.stderr
    with xr.open_dataset(jobs, engine="h5netcdf") as b:
        before = b.claim_value.values.copy()
    jobs.unlink()
    done = subprocess.run(resume, capture_output=True, text=True)
    assert done.returncode == 0 and "0 of 2 seeds" in done.stderr, done.stderr
    with xr.open_dataset(jobs, engine="h5netcdf") as b:
        np.testing.assert_array_equal(b.claim_value.values, before)


def test_an_interrupted_jobs_run_leaves_no_lock(tmp_path):
    import signal
    import time

    out = tmp_path / "jobs"
    parent = subprocess.Popen([sys.executable, str(ROOT / "simulations" / "islands.py"), "--quick", "--no-progress",
                               "--out", str(out), "--seeds", "2", "--jobs", "2"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and len(list(out.glob("seeds/seed*/.lock"))) < 2:  # both jobs hold their folders
        time.sleep(0.1)
    assert len(list(out.glob("seeds/seed*/.lock"))) == 2
    parent.send_signal(signal.SIGINT)  # Ctrl-C
    parent.communicate(timeout=60)
    assert parent.returncode != 0
    assert not list(out.glob("**/.lock*")), list(out.glob("**/.lock*"))


@pytest.mark.parametrize("simulation,data,figure", [
    ("distillery", "scenes", "quality.png"),
    pytest.param("temporal_derivative", "digits", "quality.png", marks=pytest.mark.slow),  # the same path; 30 s more
    pytest.param("wake_sleep", "scenes", "curves.png", marks=pytest.mark.slow)])
def test_jobs_of_every_mergeable_simulation_write_the_merged_result_and_its_pictures(simulation, data, figure, tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "simulations" / f"{simulation}.py"), "--quick", "--no-progress",
                           "--out", str(tmp_path), "--seeds", "2", "--jobs", "2", "--data", data],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with xr.open_dataset(tmp_path / f"{simulation}.nc", engine="h5netcdf") as ds:
        assert list(ds.seed.values) == [0, 1] and int(ds.attrs["jobs"]) == 2 and ds.claim.size > 0
        commit = ds.attrs["git_commit"]
        if data == "scenes":  # the scene claims and the table of the positive controls' gain, from the merged file
            assert any(str(c).startswith("Q0") for c in ds.claim.values)
            assert np.isfinite(ds.claim_value.sel(claim=[c for c in ds.claim.values if str(c).startswith("Q1")])).all()
            assert "object ARI" in done.stdout and "gain" in done.stdout, done.stdout
    from bioglom.analysis.figures import figure_commit

    assert figure_commit(tmp_path / figure) == commit


def test_a_run_killed_as_jobs_goes_on_in_one_process_from_the_jobs_checkpoints(tmp_path, islands_whole):
    whole = islands_whole
    out = tmp_path / "killed"
    script = [sys.executable, str(ROOT / "simulations" / "islands.py"), "--quick", "--out", str(out), "--seeds", "2"]
    stopped = subprocess.run([*script, "--jobs", "2", "--stop-after", "10"], capture_output=True, text=True)
    assert stopped.returncode != 0 and len(list(out.glob("seeds/seed*/checkpoints/seed*.pt"))) == 2, stopped.stderr
    done = subprocess.run([*script, "--jobs", "1", "--resume"], capture_output=True, text=True)
    assert done.returncode == 0 and "checkpoint file(s) written by a run of another --jobs" in done.stderr, done.stderr
    # each seed went on from the jobs' update 10 (its log lines come every 2 updates), not from the start
    assert "update 12/20" in done.stderr and "update 2/20" not in done.stderr, done.stderr
    with xr.open_dataset(whole, engine="h5netcdf") as a, xr.open_dataset(out / "islands.nc", engine="h5netcdf") as b:
        for v in CLAIMS:  # the jobs' first 10 updates ran in other processes: float32 summation order
            np.testing.assert_allclose(b[v].values, a[v].values, rtol=0, atol=5e-5)
