import dataclasses

import pytest

from bioglom.cli import option, parse_options
from bioglom.config import ConfigError


@dataclasses.dataclass
class Opts:
    lr: float = option(0.1, "learning rate")
    steps: int = option(3, "steps")
    radius: tuple[int, ...] = option((1, 2), "radii")
    rule: str = option("a", "rule", choices=("a", "b"))
    fast: bool = option(False, "go fast")

    def validate(self):
        if self.lr <= 0:
            raise ConfigError(f"lr={self.lr!r} is not allowed; it must be > 0")


PRESETS = {"quick": {"steps": 1}}


def test_priority_defaults_preset_file_command_line(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('steps = 5\nradius = [3, 4]\nrule = "b"\n')
    o = parse_options(Opts, ["--quick"], presets=PRESETS)
    assert o.steps == 1 and o.radius == (1, 2)
    o = parse_options(Opts, ["--quick", "--config", str(cfg)], presets=PRESETS)
    assert (o.steps, o.radius, o.rule) == (5, (3, 4), "b")
    o = parse_options(Opts, ["--config", str(cfg), "--steps", "7", "--radius", "5,6", "--fast"], presets=PRESETS)
    assert (o.steps, o.radius, o.fast) == (7, (5, 6), True)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--lr", "-1"], "error: lr=-1.0 is not allowed"),
        (["--steps", "x"], "error: steps='x' is not allowed; it must be int"),
        (["--rule", "c"], "error: rule='c' is not allowed; choose one of ['a', 'b']"),
    ],
)
def test_bad_values_exit_with_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        parse_options(Opts, argv, presets=PRESETS)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(message)


def test_unknown_config_key(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text("stpes = 5\n")
    with pytest.raises(SystemExit):
        parse_options(Opts, ["--config", str(cfg)])
    assert "config file key 'stpes' is not an option" in capsys.readouterr().err


def test_an_earlier_result_is_never_overwritten_without_being_asked(tmp_path, capsys):
    from bioglom.cli import TrainingOptions, keep_earlier_results

    def attempt(**kw):
        opts = TrainingOptions(out=str(tmp_path), **kw)
        try:
            keep_earlier_results(opts, tmp_path)
        except SystemExit as e:
            assert e.code == 2
            return capsys.readouterr().err
        return ""

    assert attempt(updates=10) == ""  # an empty folder: the run is recorded
    (tmp_path / "sim.nc").write_bytes(b"")
    assert "holds the results of an earlier run (sim.nc)" in attempt(updates=10)  # a rerun, without --resume
    assert "seed=0, not 1" in attempt(updates=10, seed=1, resume=True)  # another seed's checkpoints are not these
    assert "updates=5 is not allowed" in attempt(updates=5, resume=True)  # fewer updates than the run holds
    assert attempt(updates=20, resume=True) == ""  # more updates continue it
    assert attempt(updates=5, overwrite=True) == ""  # asked for
    assert attempt(updates=5, resume=True) == ""


def test_a_run_saved_before_the_anticollapse_options_resumes_only_as_it_ran(tmp_path, capsys):
    """A run recorded before a simulation took the anti-collapse options had no terms and
    per-level statistics; a resume at today's defaults (0.1, 1, per column) would change
    its learning, so it is refused, naming the options; given the values it ran with, it
    goes on. Also through ``defaults`` (a script's own default keeps the absent value)."""
    import json

    from bioglom.cli import AnticollapseOptions, defaults, keep_earlier_results, resume_defaults, run_identity

    @defaults(variance_weight=option(0.3, "another default, its own help"))
    class Script(AnticollapseOptions):
        pass

    assert resume_defaults(Script())["variance_weight"] == 0.0 and resume_defaults(Script())["stats_per"] == "level"
    old = {k: v for k, v in run_identity(Script()).items()
           if k not in ("variance_weight", "decorrelation_weight", "stats_window", "stats_per", "anticollapse_levels")}
    (tmp_path / "run.json").write_text(json.dumps(old))
    with pytest.raises(SystemExit) as e:
        keep_earlier_results(Script(out=str(tmp_path), resume=True), tmp_path)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "variance_weight=None, not 0.3" in err and "stats_per=None, not 'column'" in err
    (tmp_path / "run.json").write_text(json.dumps(old))
    keep_earlier_results(Script(out=str(tmp_path), resume=True, variance_weight=0.0, decorrelation_weight=0.0,
                                stats_per="level"), tmp_path)


def test_seeds_and_switches_are_checked_where_they_enter():
    import torch

    from bioglom import Glom, GlomConfig
    from bioglom.learning import Trainer, build_rule
    from bioglom.seeding import derived_seed

    model = Glom(GlomConfig(levels=2, dim=8, hidden=8, image_size=8, patch_size=2, channels=1, radius=(1, 2)))
    rule = build_rule("backprop", steps=2)
    for kw, message in ((dict(seed=-1), "seed=-1"), (dict(seed=True), "seed=True"), (dict(seed=2**63), "2**63 - 1"),
                        (dict(progress="no"), "progress='no'")):
        with pytest.raises(ConfigError, match=message.replace("*", r"\*")):
            Trainer(model, rule, lambda u: None, updates=1, **kw)
    with pytest.raises(ConfigError, match="batches=5"):
        Trainer(model, rule, 5, updates=1)
    trainer = Trainer(model, rule, lambda u: None, updates=1)
    with pytest.raises(ConfigError, match="evaluate_every=-5"):
        trainer.run(evaluate_every=-5)
    with pytest.raises(ConfigError, match="stop_after=-1"):
        trainer.run(stop_after=-1)
    # a seed at the top of its range still gives valid derived seeds
    torch.Generator().manual_seed(derived_seed(2**63 - 1, "update", 5))


@pytest.mark.parametrize("simulation", ["islands", "distillery", "temporal_derivative", "wake_sleep", "stdp_spiking"])
def test_every_preset_passes_its_own_checks(simulation, tmp_path):
    import importlib
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "simulations"))
    try:
        module = importlib.import_module(simulation)
    finally:
        sys.path.pop(0)
    for name in getattr(module, "PRESETS", {}):
        opts = parse_options(module.Options, ["--preset" if name != "quick" else "--quick", *([name] if name != "quick" else []),
                                              "--out", str(tmp_path)], presets=module.PRESETS)
        assert opts.out == str(tmp_path)


def test_wake_sleep_keeps_its_validation_digits_apart_from_the_probe(tmp_path):
    import importlib
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "simulations"))
    try:
        wake_sleep = importlib.import_module("wake_sleep")
    finally:
        sys.path.pop(0)
    with pytest.raises(SystemExit) as e:
        parse_options(wake_sleep.Options, ["--probe-train", "1200", "--out", str(tmp_path)])
    assert e.value.code == 2


def _readme_commands():
    """Every ``python simulations/NAME.py ...`` (or torchrun) command of the README and the
    docs, as printed: in code blocks (with their shell variables) and in inline code."""
    import re
    import shlex
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for doc in ("README.md", "docs/claims.md", "docs/design.md", "analysis/README.md"):
        text = (root / doc).read_text()
        parts = re.split(r"^```.*$", text, flags=re.M)  # prose, code, prose, code, ...
        spans = parts[1::2]
        inline = re.findall(r"(?<!`)`([^`]+)`(?!`)", "".join(parts[0::2]))
        for span in spans + inline:
            env = dict(re.findall(r'^(\w+)="([^"]*)"$', span, flags=re.M))
            for line in span.replace("\n", " \n").split("\n"):
                # a shell variable the block sets is expanded; a loop's (for s in 0 1 2) takes 0
                line = re.sub(r"\$(\w+)", lambda m: env.get(m.group(1), "0"), line.split("#")[0])
                m = re.search(r"simulations/(\w+)\.py((?:\s+[^\s|;&]+)*)", line)
                if m and "NAME" not in line and "DIR" not in line:
                    yield doc, m.group(1), shlex.split(m.group(2))


def test_every_readme_command_is_accepted_as_printed(tmp_path, capsys):
    import importlib
    import sys
    from pathlib import Path

    commands = list(_readme_commands())
    assert len(commands) >= 8
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "simulations"))
    try:
        for doc, simulation, args in commands:
            module = importlib.import_module(simulation)
            args = [a for a in args if a != "--help"]
            if "--out" in args:  # the printed folder is replaced, its option kept
                args[args.index("--out") + 1] = str(tmp_path)
            try:
                parse_options(module.Options, [*args, "--out", str(tmp_path)], presets=getattr(module, "PRESETS", {}))
            except SystemExit:
                pytest.fail(f"{doc}: python simulations/{simulation}.py {' '.join(args)} is refused: "
                            f"{capsys.readouterr().err.strip()}")
    finally:
        sys.path.pop(0)


def test_scenes_take_a_side_they_allow_unless_one_is_given(tmp_path, capsys):
    import importlib
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "simulations"))
    try:
        wake_sleep = importlib.import_module("wake_sleep")
    finally:
        sys.path.pop(0)
    opts = parse_options(wake_sleep.Options, ["--quick", "--data", "scenes", "--out", str(tmp_path)],
                         presets=wake_sleep.PRESETS)
    assert opts.image_size == 12 and "image_size=12" in capsys.readouterr().err
    assert parse_options(wake_sleep.Options, ["--data", "scenes", "--image-size", "16"]).image_size == 16
    with pytest.raises(SystemExit):  # a side the user chose is checked, not changed
        parse_options(wake_sleep.Options, ["--data", "scenes", "--image-size", "10"])
    assert "image_size=10 is not allowed" in capsys.readouterr().err
    assert parse_options(wake_sleep.Options, ["--quick"], presets=wake_sleep.PRESETS).image_size == 10


def test_the_default_folder_is_shared_only_by_runs_of_the_default_seed(tmp_path, monkeypatch):
    """islands' claims run from seed 1000: its default run writes results/islands; a --seed the
    user gives (other than the default) writes beside it, never into it."""
    import importlib
    import sys
    from pathlib import Path

    from bioglom.cli import start_run

    monkeypatch.chdir(tmp_path)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "simulations"))
    try:
        islands = importlib.import_module("islands")
    finally:
        sys.path.pop(0)
    opts, _, out = start_run(islands.Options, ["--quick"], presets=islands.PRESETS)  # the preset's seed 0
    assert out == Path("results/islands")
    opts, _, out = start_run(islands.Options, ["--seed", "1000", "--overwrite"], presets=islands.PRESETS)
    assert out == Path("results/islands")
    opts, _, out = start_run(islands.Options, ["--seed", "5"], presets=islands.PRESETS)
    assert out == Path("results/islands-seed5")


@pytest.mark.parametrize("simulation", ["islands", "distillery", "temporal_derivative", "wake_sleep"])
def test_every_local_rule_simulation_passes_the_anticollapse_options_to_its_rules(simulation, tmp_path, capsys):
    """The LPL terms are options of every simulation with local rules, and what is given
    reaches the rules it builds; where the island recipe sets the terms itself for every
    rule (wake/sleep's island teacher), changing one is refused with a line that names it."""
    import importlib
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "simulations"))
    try:
        module = importlib.import_module(simulation)
    finally:
        sys.path.pop(0)
    given = ["--variance-weight", "0.25", "--decorrelation-weight", "0.5", "--stats-window", "3", "--stats-per",
             "column", "--anticollapse-levels", "ungrouped"]
    local = {"islands": ["--rule", "delta"]}.get(simulation, [])
    opts = parse_options(module.Options, ["--quick", *local, *given, "--out", str(tmp_path)],
                         presets=getattr(module, "PRESETS", None))
    rules = {"islands": lambda: [opts.build_rule()],
             "distillery": lambda: [module.build_rule(r.rule, **opts.rule_options(r.rule, r.condition))
                                    for r in opts.runs() if r.rule in module.LOCAL_RULES],
             "temporal_derivative": lambda: [module.build_rule(c.rule, **c.options) for c in opts.conditions()
                                             if c.rule != "backprop"],
             "wake_sleep": lambda: [module.build_rule(opts.rule, **opts.rule_options())]}[simulation]()
    assert rules
    for rule in rules:
        assert (rule.variance_weight, rule.decorrelation_weight, rule.stats_window, rule.stats_per,
                rule.anticollapse_levels) == (0.25, 0.5, 3, "column", "ungrouped")
        assert rule._statistics.per == "column"
    island = ["--data", "scenes", "--image-size", "16", "--grouping", "motion", "--teacher", "island"]
    if simulation == "wake_sleep":  # every wake update learns by the island recipe then
        with pytest.raises(SystemExit) as e:
            parse_options(module.Options, ["--quick", *island, "--stats-per", "level", "--out", str(tmp_path)],
                          presets=getattr(module, "PRESETS", None))
        assert e.value.code == 2
        assert "stats_per='level' is not allowed with teacher='island'" in capsys.readouterr().err
    if simulation == "distillery":  # the recipe's terms where it teaches; unshared columns keep the consensus
        opts = parse_options(module.Options, ["--quick", *island, *given, "--out", str(tmp_path)],
                             presets=getattr(module, "PRESETS", None))
        island_rules = {c: module.build_rule("temporal_derivative", **opts.rule_options("temporal_derivative", c))
                        for c in ("shared", "unshared", "distilled")}
        assert island_rules["unshared"].stats_per == "column" and island_rules["unshared"].teacher == "no_lateral"
        for c in ("shared", "distilled"):
            assert (island_rules[c].teacher, island_rules[c].stats_per, island_rules[c].variance_weight) == \
                ("island", "level", 1.0)
