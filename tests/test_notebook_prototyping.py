"""Execute notebooks/prototyping_metrics.ipynb at reduced size (GEODLN_NOTEBOOK_SIZE=ci)."""

import os
from pathlib import Path

import nbformat
import pytest

nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "prototyping_metrics.ipynb"


def test_prototyping_notebook_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("GEODLN_NOTEBOOK_SIZE", "ci")
    monkeypatch.setenv("GEODLN_NOTEBOOK_OUT", str(tmp_path))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    assert (tmp_path / "prototype_metrics.png").stat().st_size > 1000
    assert (tmp_path / "prototyping_volume.png").stat().st_size > 1000
    text = "".join(
        out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )
    assert "sharp vs formula" in text and "corners" in text
    assert os.environ["GEODLN_NOTEBOOK_SIZE"] == "ci"
