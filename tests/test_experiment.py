"""The harness every simulation shares: option groups and defaults, the run loop's
statuses, per-seed results, cached parts and run datasets (bioglom.cli, bioglom.experiment)."""

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import xarray as xr

from bioglom.cli import DataOptions, MaskOptions, TrainingOptions, defaults, option, parse_options
from bioglom.config import ConfigError, NonFiniteError
from bioglom.experiment import COMPLETE, cached, over_seeds, run_dataset, train


@defaults(out="results/x", steps=6, batch=option(8, "scenes per update"))
class Opts(DataOptions, MaskOptions):
    extra: int = option(1, "an option of the script's own")


def test_defaults_change_the_inherited_default_and_keep_its_help():
    fields = {f.name: f for f in dataclasses.fields(Opts)}
    assert Opts().steps == 6 and Opts().out == "results/x" and Opts().batch == 8
    assert fields["steps"].metadata["help"] == "settling steps"  # the base's help
    assert fields["batch"].metadata["help"] == "scenes per update"  # a whole option replaces it
    assert fields["data"].metadata["choices"] == ("digits", "scenes")
    assert TrainingOptions().steps == 4  # the base class is unchanged
    with pytest.raises(TypeError, match="no inherited option 'stpes'"):
        defaults(stpes=3)(type("Bad", (TrainingOptions,), {}))


@pytest.mark.parametrize("argv, message", [
    (["--steps", "0"], "steps=0 is not allowed"),  # TrainingOptions
    (["--lr", "0"], "lr=0.0 is not allowed"),
    (["--stop-after", "-1"], "stop_after=-1 is not allowed"),
    (["--test-scenes", "0"], "test_scenes=0 is not allowed"),  # DataOptions
    (["--image-size", "6"], "image_size=6 is not allowed for data='digits'"),
    (["--data", "scenes", "--image-size", "8"], "image_size=8 is not allowed for the part-whole scenes"),
    (["--mask-min", "5", "--mask-max", "4"], "mask_min=5, mask_max=4 are not allowed"),  # MaskOptions
])
def test_every_group_checks_its_own_options(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        parse_options(Opts, argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


class FakeTrainer:
    """Stands for a Trainer: ``run`` does ``stop_after`` updates, or raises ``error``."""

    def __init__(self, updates, error=None):
        self.update, self.updates, self.error, self.calls = 0, updates, error, []

    def run(self, resume, stop_after, evaluate, evaluate_every):
        self.calls.append((resume, stop_after, evaluate_every))
        if self.error is not None:
            raise self.error
        self.update = self.updates if stop_after is None else min(self.updates, stop_after)


def test_train_says_how_a_run_ended(capsys):
    opts = SimpleNamespace(resume=True, stop_after=0)
    t = FakeTrainer(5)
    assert train(t, opts, "seed 0 a", evaluate_every=3) == COMPLETE
    assert t.calls == [(True, None, 3)]  # 0: no limit
    opts.stop_after = 2
    status = train(FakeTrainer(5), opts, "seed 0 a")
    assert status == "stopped after 2 of 5 updates of seed 0 a (--stop-after); continue with --resume"
    status = train(FakeTrainer(5, NonFiniteError("non-finite value at update 3")), opts, "seed 1 b")
    assert status == "stopped: seed 1 b: non-finite value at update 3"
    status = train(FakeTrainer(5, KeyboardInterrupt()), opts, "seed 1 b")
    assert status.startswith("interrupted (Ctrl-C) during seed 1 b") and "--resume" in status
    assert capsys.readouterr().err.count("error: ") == 2  # the two that stopped by themselves say so


def test_over_seeds_stops_at_the_first_seed_that_stops_and_keeps_its_partial_result():
    opts = SimpleNamespace(seed=4, seeds=3)
    results, status = over_seeds(opts, lambda s: (s, COMPLETE))
    assert results == [4, 5, 6] and status == COMPLETE
    results, status = over_seeds(opts, lambda s: (s, COMPLETE if s < 5 else "stopped"))
    assert results == [4, 5] and status == "stopped"


def test_run_dataset_puts_evaluations_along_update_and_training_along_train_update():
    t = SimpleNamespace(history=[{"update": 0, "phase": "both", "loss": 1.0}, {"update": 1, "phase": "both", "loss": 0.5}],
                        evaluations=[{"update": 0, "accuracy": 0.1, "correct": np.array([1.0, 0.0, 1.0]),
                                      "logit": np.zeros((2, 3))},
                                     {"update": 2, "accuracy": 0.3, "correct": np.array([1.0, 1.0, 1.0]),
                                      "logit": np.ones((2, 3))}])
    ds = run_dataset(t, along={"correct": ("sample",), "logit": ("level", "pair")}, coords={"pair": ["a", "b", "c"]})
    assert ds.logit.dims == ("update", "level", "pair") and list(ds.pair.values) == ["a", "b", "c"]
    assert float(ds.logit.sel(update=2, pair="b", level=1)) == 1.0
    assert ds.train_loss.dims == ("train_update",) and list(ds.train_loss.values) == [1.0, 0.5]
    assert ds.accuracy.dims == ("update",) and list(ds["update"].values) == [0, 2]
    assert ds.correct.dims == ("update", "sample") and float(ds.correct.sum()) == 5.0
    assert "phase" not in ds.variables


def test_cached_computes_once_and_refuses_a_part_computed_with_other_options(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return xr.Dataset({"v": ("i", np.arange(3.0))})

    opts = Opts(resume=True)
    path = tmp_path / "part.nc"
    first = cached(path, opts, compute)
    again = cached(path, opts, compute)
    assert len(calls) == 1 and (first.v.values == again.v.values).all()
    assert len(cached(path, dataclasses.replace(opts, resume=False), compute).v) == 3 and len(calls) == 2
    with pytest.raises(ConfigError, match=r"other options \(steps"):
        cached(path, dataclasses.replace(opts, steps=7), compute)
    other = tmp_path / "other.nc"
    cached(other, opts, compute, drop=("extra", "seed"))
    cached(other, dataclasses.replace(opts, extra=2, seed=9), compute, drop=("extra", "seed"))
    assert len(calls) == 3  # options left out of the identity do not matter


def test_a_list_option_naming_runs_refuses_an_item_given_twice(capsys):
    with pytest.raises(SystemExit) as e:
        parse_options(Lists, ["--rules", "a,b,a"])
    assert e.value.code == 2
    assert "rules='a,b,a' is not allowed; 'a' is given twice" in capsys.readouterr().err
    assert parse_options(Lists, ["--rules", "b,a"]).rules == ("b", "a")
    assert parse_options(Lists, ["--radius", "1,1,2"]).radius == (1, 1, 2)  # a list without choices may repeat


@dataclasses.dataclass
class Lists:
    rules: tuple[str, ...] = option(("a",), "rules", choices=("a", "b"))
    radius: tuple[int, ...] = option((1,), "radii")

    def validate(self):
        pass


def test_write_result_keeps_only_the_runs_attributes(tmp_path):
    from bioglom.analysis import Claim
    from bioglom.experiment import write_result

    part = xr.Dataset({"v": ("i", np.arange(2.0))}, attrs={"options": "{}", "tolerance": 0.1})  # a cached part's
    path = write_result(part, [Claim("X1", 1.0, True, "v > 0")], tmp_path / "r.nc", {"seed": 0, "config": "{}"})
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        assert dict(ds.attrs) == {"seed": 0, "config": "{}", "status": "complete", "Conventions": "CF-1.10"}
        assert list(ds.claim.values) == ["X1"] and list(ds.v.values) == [0.0, 1.0]


def test_compare_names_each_difference_and_nothing_else():
    from bioglom.analysis.compare import differences

    a = xr.Dataset({"v": ("i", [1.0, np.nan, 3.0]), "s": ("i", ["x", "y", "z"])}, coords={"i": [0, 1, 2]})
    assert differences(a, a.copy(deep=True)) == []
    b = a.copy(deep=True)
    b["v"][2] = 3.5
    b["w"] = ("i", [0.0, 0.0, 0.0])
    assert differences(a, b) == ["variable w: only in the second", "variable v: values differ by up to 0.5"]
    assert differences(a, b, atol=0.5) == ["variable w: only in the second"]
    c = a.copy(deep=True)
    c["v"][1] = 2.0  # a number where the first has NaN
    assert differences(a, c) == ["variable v: values differ by up to 0 (and NaN against a number)"]
    assert differences(a, a.rename(i="j")) != []


def test_compare_refuses_a_bad_tolerance_and_a_file_it_cannot_read(tmp_path, capsys):
    from bioglom.analysis.compare import main

    path = tmp_path / "a.nc"
    xr.Dataset({"v": ("i", [1.0])}).to_netcdf(path, engine="h5netcdf")
    assert main([str(path), str(path)]) == 0
    for argv, message in ((["--atol", "nan"], "atol=nan is not allowed"), (["--atol", "-1"], "atol=-1.0 is not allowed"),
                          ([], "cannot read both files")):
        files = [str(path), str(path)] if argv else [str(path), str(tmp_path / "missing.nc")]
        with pytest.raises(SystemExit) as e:
            main(files + argv)
        assert e.value.code == 2 and message in capsys.readouterr().err


def test_compare_claims_only_checks_the_claim_rows_within_a_tolerance(tmp_path):
    from bioglom.analysis.compare import main

    def result(value, verdict, other):
        return xr.Dataset({"claim_value": ("claim", [value]), "claim_verdict": ("claim", [verdict]),
                           "per_sample": ("sample", [other, other])},
                          coords={"claim": ["X1"], "claim_criterion": ("claim", ["x > 0"]), "sample": [0, 1]})

    paths = []
    for i, args in enumerate(((0.10, "held", 1.0), (0.11, "held", 5.0), (0.11, "undecided", 1.0))):
        paths.append(tmp_path / f"{i}.nc")
        result(*args).to_netcdf(paths[-1], engine="h5netcdf")
    assert main([str(paths[0]), str(paths[1]), "--claims", "--atol", "0.02"]) == 0  # other variables not read
    assert main([str(paths[0]), str(paths[1]), "--atol", "0.02"]) == 1
    assert main([str(paths[0]), str(paths[1]), "--claims"]) == 1  # 0.01 apart, no tolerance
    assert main([str(paths[0]), str(paths[2]), "--claims", "--atol", "0.02"]) == 1  # a verdict changed


def test_rerun_summary_counts_flipped_verdicts_and_the_largest_change():
    from bioglom.analysis.compare import rerun_summary

    def rows(values, lows, highs, verdicts, names=("A", "B", "C")):
        return xr.Dataset({"claim_value": ("claim", values), "claim_low": ("claim", lows),
                           "claim_high": ("claim", highs), "claim_verdict": ("claim", list(verdicts))},
                          coords={"claim": list(names)})

    a = rows([0.5, 0.1, 1.0], [0.4, 0.0, np.nan], [0.6, 0.3, np.nan], ["held", "undecided", "held"])
    b = rows([0.5, 0.15, 1.0, 9.0], [0.42, -0.05, np.nan, 0], [0.6, 0.35, np.nan, 0],
             ["held", "not held", "held", "held"], names=("A", "B", "C", "D"))  # D: only in the rerun
    r = rerun_summary(a, b)
    assert (r["claims"], r["verdicts_equal"], r["flipped"]) == (3, 2, ["B: undecided -> not held"])
    assert r["largest"] == pytest.approx(0.05) and r["largest_claim"] == "B"
    assert r["half_width"] == pytest.approx(0.125)  # median of 0.1 and 0.15 (C has no interval)
    same = rerun_summary(a, a)
    assert (same["verdicts_equal"], same["largest"], same["flipped"]) == (3, 0.0, [])


def test_compare_claims_refuses_files_without_claim_rows(tmp_path, capsys):
    from bioglom.analysis.compare import main

    for i in range(2):
        xr.Dataset({"x": ("sample", [float(i)])}).to_netcdf(tmp_path / f"{i}.nc", engine="h5netcdf")
    with pytest.raises(SystemExit):
        main([str(tmp_path / "0.nc"), str(tmp_path / "1.nc"), "--claims"])
    assert "holds no claim rows" in capsys.readouterr().err


def test_compare_prints_where_each_result_was_computed_when_claims_differ(tmp_path, capsys):
    from bioglom.analysis.compare import main

    for i, (value, cpu) in enumerate(((0.10, "cpu A"), (0.20, "cpu B"), (0.10, "cpu C"))):
        xr.Dataset({"claim_value": ("claim", [value])}, coords={"claim": ["X1"]},
                   attrs={"git_commit": "abc", "cpu_model": cpu, "cpu_capability": "AVX2"}
                   ).to_netcdf(tmp_path / f"{i}.nc", engine="h5netcdf")
    assert main([str(tmp_path / "0.nc"), str(tmp_path / "1.nc"), "--claims"]) == 1
    out = capsys.readouterr().out
    assert "claims: DIFFER" in out and "cpu_model     * cpu A | cpu B" in out and "cpu_capability  AVX2 | AVX2" in out
    assert "torch_threads   ? | ?" in out  # not recorded by either
    assert main([str(tmp_path / "0.nc"), str(tmp_path / "2.nc"), "--claims"]) == 0  # same claims: no table
    assert "provenance" not in capsys.readouterr().out
