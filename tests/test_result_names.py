"""Results are selected by coordinate, never by parsing a name: a walk over the committed
sample results and the notebooks (and every notebook runs on its sample)."""

import json
import re
from pathlib import Path

import pytest
import xarray as xr

from bioglom.analysis.names import CONVENTIONS, UNITS
from bioglom.analysis.samples import SAMPLES, SIMULATIONS

ROOT = Path(__file__).resolve().parents[1]
# a level, target, direction, rule or condition inside a variable name
ENCODED = re.compile(r"_level\d|_level\{|(_parts|_objects)$|_(bottom_up|top_down)$|^logit_|"
                     r"(^|_)(delta|temporal_derivative|backprop)(_|$)")
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
        encoded = [str(v) for v in ds.variables if ENCODED.search(str(v))]
        assert not encoded, f"{path.name}: names that encode a level, target, direction or rule: {encoded}"
        assert ds.attrs.get("Conventions") == CONVENTIONS
        units = {str(ds[v].attrs["units"]) for v in ds.variables if "units" in ds[v].attrs}
        assert units <= set(UNITS), f"{path.name}: units outside the UDUNITS list: {units - set(UNITS)}"
        bare = [str(c) for c in ds.dims if c in ds.coords and "long_name" not in ds[c].attrs]
        assert not bare, f"{path.name}: dimension coordinates without long_name: {bare}"
        undescribed = [str(v) for v in ds.data_vars if "long_name" not in ds[v].attrs]
        assert not undescribed, f"{path.name}: variables without long_name: {undescribed}"
        if "claim" in ds.dims:
            assert not any(" " in str(i) for i in ds.claim_id.values)
            joined = [f"{i} {c}".strip() for i, c in zip(ds.claim_id.values, ds.claim_condition.values)]
            assert joined == [str(c) for c in ds.claim.values]


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
