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
