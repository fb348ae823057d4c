import re

import pytest
import torch

from bioglom import GlomConfig

torch.set_num_threads(2)


@pytest.fixture
def small_cfg():
    return GlomConfig(levels=3, dim=8, image_size=8, patch_size=2, channels=1, hidden=16, radius=(1, 2, 3))


@pytest.fixture
def run_notebook(monkeypatch):
    """Execute ``analysis/NAME`` with ``env`` set (nbclient); return every code cell's outputs,
    after checking that none is an error."""
    from pathlib import Path

    import nbformat
    from nbclient import NotebookClient

    analysis = Path(__file__).resolve().parents[1] / "analysis"

    def run(name: str, env: dict) -> list:
        for k, v in {"MPLBACKEND": "Agg", **env}.items():
            monkeypatch.setenv(k, str(v))
        nb = nbformat.read(analysis / name, as_version=4)
        NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(analysis)}}).execute()
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
        assert not [o for o in outputs if o.get("output_type") == "error"]
        return outputs

    return run


def assert_described(ds):
    """Every data variable of a result has a long_name and units (bioglom.analysis.names)."""
    missing = [str(k) for k in ds.data_vars if "long_name" not in ds[k].attrs or "units" not in ds[k].attrs]
    assert not missing, f"variables without long_name or units: {missing}"


def assert_coordinates_not_names(ds, where: str = "result"):
    """No variable name of ``ds`` encodes a level, target, direction or rule; the file
    follows CF (``Conventions``, UDUNITS units from the project's list, a long_name on
    every dimension coordinate and variable); claim labels split into id and condition."""
    from bioglom.analysis.names import CONVENTIONS, UNITS

    encoded = [str(v) for v in ds.variables if ENCODED.search(str(v))]
    assert not encoded, f"{where}: names that encode a level, target, direction or rule: {encoded}"
    assert ds.attrs.get("Conventions") == CONVENTIONS
    units = {str(ds[v].attrs["units"]) for v in ds.variables if "units" in ds[v].attrs}
    assert units <= set(UNITS), f"{where}: units outside the UDUNITS list: {units - set(UNITS)}"
    bare = [str(c) for c in ds.dims if c in ds.coords and "long_name" not in ds[c].attrs]
    assert not bare, f"{where}: dimension coordinates without long_name: {bare}"
    undescribed = [str(v) for v in ds.data_vars if "long_name" not in ds[v].attrs]
    assert not undescribed, f"{where}: variables without long_name: {undescribed}"
    if "claim" in ds.dims:
        assert not any(" " in str(i) for i in ds.claim_id.values)
        joined = [f"{i} {c}".strip() for i, c in zip(ds.claim_id.values, ds.claim_condition.values)]
        assert joined == [str(c) for c in ds.claim.values]


# a level, target, direction, rule or condition inside a variable name
ENCODED = re.compile(r"_level\d|_level\{|(_parts|_objects)$|_(bottom_up|top_down)$|^logit_|"
                     r"(^|_)(delta|temporal_derivative|backprop)(_|$)")
