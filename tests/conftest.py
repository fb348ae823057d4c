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
