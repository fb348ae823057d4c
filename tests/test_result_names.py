"""Results are selected by coordinate, never by parsing a name: a walk over the committed
sample results and the notebooks (and every notebook runs on its sample)."""

import json
import re
from pathlib import Path

import pytest
import xarray as xr

from bioglom.analysis.samples import SAMPLES, SIMULATIONS
from conftest import ENCODED, assert_coordinates_not_names

ROOT = Path(__file__).resolve().parents[1]
PARSING = re.compile(r"\.startswith\(|\.endswith\(|\[f['\"]|\bre\.(match|search|fullmatch)\(")


def _results():
    return sorted(SAMPLES.glob("*.nc"))


def test_every_simulation_has_a_sample_result_and_a_claims_sample():
    names = {p.stem for p in _results()}
    for name in SIMULATIONS:
        assert name in names and f"{name}_claims" in names, name


@pytest.mark.parametrize("path", _results(), ids=lambda p: p.name)
def test_no_result_name_encodes_what_a_coordinate_should_say(path):
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        assert_coordinates_not_names(ds, path.name)


def test_the_walk_catches_a_name_that_encodes_a_level():
    assert ENCODED.search("accuracy_level1") and ENCODED.search("ari_objects") and ENCODED.search("dispersion_top_down")
    assert ENCODED.search("logit_0_same_part") and ENCODED.search("accuracy_temporal_derivative")
    assert not ENCODED.search("level_accuracy") and not ENCODED.search("ari") and not ENCODED.search("object_size")


def _code_cells(name):
    nb = json.loads((ROOT / "analysis" / name).read_text())
    return nb, ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


@pytest.mark.parametrize("simulation", SIMULATIONS)
def test_no_notebook_parses_a_name_and_each_is_committed_with_figures(simulation):
    nb, cells = _code_cells(f"{simulation}.ipynb")
    parsing = [c.splitlines()[0] for c in cells if PARSING.search(c)]
    assert not parsing, f"{simulation}.ipynb parses names in: {parsing}"
    images = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert images, f"{simulation}.ipynb is committed without a figure"


@pytest.mark.parametrize("simulation", SIMULATIONS)
def test_each_notebook_runs_on_its_committed_sample(simulation, run_notebook):
    outputs = run_notebook(f"{simulation}.ipynb", {f"BIOGLOM_{simulation.upper()}_NC": SAMPLES / f"{simulation}.nc",
                                                   "MPLBACKEND": "module://matplotlib_inline.backend_inline"})
    assert any("image/png" in o.get("data", {}) for o in outputs)
