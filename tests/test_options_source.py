"""One source of options: every script option that sets a GlomConfig field is declared by
the config (``model_option``): its help is the field's documentation, its allowed values
the config's; no simulation re-declares one."""

import dataclasses
import importlib
import sys
from pathlib import Path

import pytest

from bioglom.cli import ModelOptions, model_option, parse_options
from bioglom.config import FIELD_CHOICES, GlomConfig, field_doc

ROOT = Path(__file__).resolve().parents[1]
SIMULATIONS = ["islands", "distillery", "temporal_derivative", "wake_sleep", "stdp_spiking"]
FIELDS = {f.name for f in dataclasses.fields(GlomConfig)}


def _options(name):
    sys.path.insert(0, str(ROOT / "simulations"))
    try:
        return importlib.import_module(name).Options
    finally:
        sys.path.pop(0)


@pytest.mark.parametrize("simulation", SIMULATIONS)
def test_each_glom_config_field_is_declared_once_by_the_config(simulation):
    cls = _options(simulation)
    for f in dataclasses.fields(cls):
        if f.name in FIELDS - {"seed"}:  # a run's seed is a run option: it seeds data too
            assert f.metadata.get("glom_field") == f.name, f"{simulation}: --{f.name} re-declares GlomConfig.{f.name}"
            assert f.metadata["help"].startswith(field_doc(f.name)), f"{simulation}: --{f.name} has its own help"
            assert f.metadata.get("choices") == FIELD_CHOICES.get(f.name)


def test_model_fields_feed_the_config_and_the_config_checks_them(capsys):
    opts = parse_options(_options("islands"), ["--consensus", "mean", "--beta-end", "5"])
    fields = opts.model_fields()
    assert fields["consensus"] == "mean" and fields["beta_end"] == 5.0 and set(fields) <= FIELDS
    assert opts.glom_config().beta_end == 5.0
    with pytest.raises(SystemExit):  # a value the config refuses is refused before any work, in one line
        parse_options(_options("islands"), ["--oscillator-group", "3", "--consensus", "oscillator", "--norm", "groups"])
    assert "oscillator_group" in capsys.readouterr().err


def test_the_help_of_a_model_option_is_the_field_documentation():
    f = model_option("levels")
    assert f.default == 3 and f.metadata["help"] == field_doc("levels")
    assert "part-whole hierarchy" in field_doc("levels")
    assert field_doc("beta_start") == field_doc("beta_end")  # documented together
    with pytest.raises(KeyError):
        field_doc("no_such_field")
    assert {f.name for f in dataclasses.fields(ModelOptions)} >= {"levels", "dim", "hidden", "patch_size"}
