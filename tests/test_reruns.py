"""The rerun marks of kept claim rows (bioglom.analysis.reruns): which verdicts every rerun
kept, carried only with the numbers they were measured for, shown on the claims plot."""

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from bioglom.analysis.compare import main as compare
from bioglom.analysis.reruns import carry_marks, main, mark_reruns, rerun_rows
from bioglom.config import ConfigError


def rows(values, verdicts, names=("A", "B", "C"), commit="k"):
    values = np.asarray(values, float)
    return xr.Dataset({"claim_value": ("claim", values), "claim_low": ("claim", values - 0.1),
                       "claim_high": ("claim", values + 0.1), "claim_verdict": ("claim", list(verdicts))},
                      coords={"claim": list(names), "claim_criterion": ("claim", [f"{n} > 0" for n in names])},
                      attrs={"git_commit": commit})


def test_a_verdict_survives_only_when_every_rerun_that_holds_it_gave_the_kept_one():
    kept = rows([0.5, 0.1, 1.0], ["held", "undecided", "held"])
    same = rows([0.5, 0.1, 1.0], ["held", "undecided", "held"], commit="a")
    flip = rows([0.52, 0.15], ["held", "not held"], names=("A", "B"), commit="b")  # lacks C
    marked = mark_reruns(kept, {"today": same, "perturbed": flip})
    assert list(marked.verdict_survives_rerun.values) == [True, False, True]
    assert marked.rerun_verdict.sel(claim="B").values.tolist() == ["undecided", "not held"]
    assert marked.rerun_verdict.sel(claim="C", rerun="perturbed").item() == ""  # not measured there: no flip
    assert marked.rerun_commit.values.tolist() == ["a", "b"]
    again = mark_reruns(marked, {"today": same})  # earlier marks are replaced, not stacked
    assert list(again.rerun.values) == ["today"] and again.verdict_survives_rerun.all()
    assert rerun_rows(kept, {"today": same, "perturbed": flip}, "x") == [
        "| x | today | 3 / 3 | 0 (bit-identical) | 0.1 |",
        "| x | perturbed | 1 / 2 (B flip) | 0.05 (B) | 0.1 |"]
    with pytest.raises(ConfigError, match="reruns"):
        mark_reruns(kept, {})
    with pytest.raises(ConfigError, match="bad: it holds no claim rows"):
        mark_reruns(kept, {"bad": xr.Dataset({"x": ("i", [1.0])})})


def test_marks_stay_with_the_numbers_they_were_measured_for():
    kept = rows([0.5, 0.1, 1.0], ["held", "undecided", "held"])
    marked = mark_reruns(kept, {"p": rows([0.5, 0.2, 1.0], ["held", "held", "held"])})
    carried, ok = carry_marks(marked, kept.copy(deep=True))
    assert ok and list(carried.verdict_survives_rerun.values) == [True, False, True]
    moved = kept.copy(deep=True)
    moved["claim_value"][0] = 0.51
    dropped, ok = carry_marks(marked, moved)
    assert not ok and "verdict_survives_rerun" not in dropped
    assert carry_marks(kept, kept)[1] is False  # nothing to carry


def test_the_cli_writes_the_marks_and_compare_still_reads_only_the_claims(tmp_path, capsys):
    kept, rerun = tmp_path / "x_claims.nc", tmp_path / "r.nc"
    rows([0.5, 0.1, 1.0], ["held", "undecided", "held"]).to_netcdf(kept, engine="h5netcdf")
    rows([0.5, 0.2, 1.0], ["held", "held", "held"]).to_netcdf(rerun, engine="h5netcdf")
    assert main([str(kept), "--rerun", f"init 1e-7={rerun}"]) == 0
    out = capsys.readouterr().out
    assert "| x | init 1e-7 | 2 / 3 (B flip) |" in out and "do not survive a rerun: B" in out
    with xr.open_dataset(kept, engine="h5netcdf") as ds:
        assert list(ds.verdict_survives_rerun.values) == [True, False, True]
    fresh = tmp_path / "fresh.nc"
    rows([0.5, 0.1, 1.0], ["held", "undecided", "held"]).to_netcdf(fresh, engine="h5netcdf")
    assert compare([str(kept), str(fresh), "--claims"]) == 0  # the marks are not claim rows
    for argv, message in (([], "rerun=[] is not allowed"), (["--rerun", "noequals"], "give NAME=PATH"),
                          (["--rerun", f"a={rerun}", "--rerun", f"a={rerun}"], "given twice"),
                          (["--rerun", f"a={tmp_path / 'missing.nc'}"], "does not exist")):
        with pytest.raises(SystemExit) as e:
            main([str(kept), *argv])
        assert e.value.code == 2 and message in capsys.readouterr().err


def test_the_claims_plot_marks_the_verdicts_that_do_not_survive():
    import matplotlib

    matplotlib.use("Agg")
    from bioglom.analysis.figures import claims_figure

    kept = rows([0.5, 0.1, 1.0], ["held", "undecided", "held"])
    marked = mark_reruns(kept, {"p": rows([0.5, 0.2, 1.0], ["held", "held", "held"])})
    fig = claims_figure(marked)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert "B †" in labels and "A" in labels
    assert any("flips on rerun" in t.get_text() for t in fig.axes[0].texts)
    plain = claims_figure(kept)
    assert not any("†" in t.get_text() for t in plain.axes[0].get_yticklabels())


def test_readme_runs_reruns_only_the_named_runs_and_keeps_marks_only_for_unchanged_rows(tmp_path, monkeypatch,
                                                                                        capsys):
    from bioglom.analysis import samples

    samples_dir = tmp_path / "samples"
    samples_dir.mkdir()
    monkeypatch.setattr(samples, "SAMPLES", samples_dir)
    monkeypatch.setattr(samples, "PICTURES", {})
    ran, values = [], {"v": 0.5}

    def fake_run(argv, check, env):  # the simulation: writes its result where --out says
        assert env["OMP_NUM_THREADS"] == "1"  # one thread, as the kept rows were recorded
        out = Path(argv[argv.index("--out") + 1])
        out.mkdir(parents=True, exist_ok=True)
        rows([values["v"], 0.1, 1.0], ["held", "undecided", "held"]).to_netcdf(
            out / f"{Path(argv[1]).stem}.nc", engine="h5netcdf")
        ran.append(out.name)

    monkeypatch.setattr(samples.subprocess, "run", fake_run)
    kept = samples_dir / "scenes_distillery_claims.nc"
    mark_reruns(rows([0.5, 0.1, 1.0], ["held", "undecided", "held"]),
                {"p": rows([0.5, 0.2, 1.0], ["held", "held", "held"])}).to_netcdf(kept, engine="h5netcdf")
    samples.readme_runs(results=tmp_path / "results", runs=["scenes_distillery"])
    assert ran == ["scenes_distillery"]  # no other README run
    with xr.open_dataset(kept, engine="h5netcdf") as ds:
        assert list(ds.verdict_survives_rerun.values) == [True, False, True]  # the same rows: marks kept
    assert (samples_dir / "scenes_distillery_claims.png").exists()
    values["v"] = 0.6
    samples.readme_runs(results=tmp_path / "results", runs=["scenes_distillery"])
    assert "claim rows changed" in capsys.readouterr().out
    with xr.open_dataset(kept, engine="h5netcdf") as ds:
        assert "verdict_survives_rerun" not in ds and float(ds.claim_value[0]) == 0.6
    with pytest.raises(SystemExit) as e:
        samples.main(["--runs", "scenes_distillery"])  # selects README runs: only with --only readme
    assert e.value.code == 2 and "only with --only readme" in capsys.readouterr().err


def test_a_reader_that_stops_early_ends_the_tools_without_a_traceback(tmp_path):
    """``... | head``: the claim tools stop quietly with 141 (128 + SIGPIPE), as Unix tools do."""
    import subprocess
    import sys

    path = tmp_path / "a_claims.nc"
    rows([0.5, 0.1, 1.0], ["held", "undecided", "held"]).to_netcdf(path, engine="h5netcdf")
    for module, args in (("bioglom.analysis.compare", [str(path), str(path), "--claims", "--rerun"]),
                         ("bioglom.analysis.reruns", [str(path), "--rerun", f"a={path}", "--dry-run"])):
        proc = subprocess.Popen([sys.executable, "-m", module, *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        proc.stdout.close()  # the reader is gone before the tool writes a line
        err = proc.stderr.read().decode()
        proc.wait()
        assert "Traceback" not in err and "Exception ignored" not in err, err
        assert proc.returncode == 141, (module, proc.returncode, err)
