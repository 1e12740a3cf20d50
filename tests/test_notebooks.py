"""Execute the notebooks in ``notebooks/`` top to bottom at reduced size and check their figures.

Each notebook reads two environment variables: ``GEODLN_NOTEBOOK_SIZE`` (``full``, the default;
``ci``, the reduced size; ``tiny``, a seconds-long smoke size for the experiment notebooks) and
``GEODLN_NOTEBOOK_OUT`` (where figures go, default ``results/notebooks``); it writes its figures
to ``$GEODLN_NOTEBOOK_OUT/<notebook name>/``.
The kernel is the ``python3`` kernel of the interpreter running the tests (``ipykernel``, from
the ``test`` extra): ``jupyter_client`` starts the native kernel with ``sys.executable``, so a
fresh ``pip install -e .[test]`` is enough.

The notebooks check their own numerical claims with ``assert`` against independent
computations (brute-force sums, numerical determinants, finite differences, the explicit
geodesic), so a notebook that executes here has also passed those checks.
"""

import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK_DIR = pathlib.Path(__file__).resolve().parents[1] / "notebooks"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TIMEOUT = 900  # seconds per cell; CI-size cells take seconds

#: notebook name -> figures (PNG stems) it must save. The experiment notebooks display the
#: figures written by ``geodln.experiments.<name>.run`` and add one comparison figure each.
FIGURES = {
    "tour_of_the_geometry": [
        "metric_depth_limit",
        "flows_both_ways",
        "volume_diagonal_plane",
        "volume_along_level_set",
        "volume_vs_entropy",
        "geodesic_explicit_vs_exp",
    ],
    "razin_cohen": [
        "rc_fig1",
        "rc_norms",
        "rc_det_contrast",
        "rc_downstairs",
        "razin_cohen_x11_vs_prediction",
    ],
    "hyperbola": [
        "hyperbola_outcomes",
        "hyperbola_volume",
        "hyperbola_position",
        "hyperbola_vs_paper",
    ],
    "diag3": ["diag3_outcomes", "diag3_curve", "diag3_verdict"],
    "convergence_and_acceleration": [
        "saxe_modes",
        "acgh_bound",
        "ach_update_slopes",
        "curl_by_depth",
        "ach_lp",
        "coupling_rank1",
    ],
}
EXPERIMENTS = ("razin_cohen", "hyperbola", "diag3", "convergence_and_acceleration")


def _params():
    """(notebook, size) pairs: every notebook runs in the default suite, within ~2 minutes.

    ``GEODLN_NOTEBOOK_SIZE=ci`` is the experiments' reduced size, which takes several minutes per
    experiment on 2 cores (the Razin–Cohen GD runs alone take minutes): the experiment notebooks
    run at ``ci`` only under ``-m slow``, and at the seconds-long ``tiny`` size by default. The
    tour notebook has a single reduced size (``ci`` and ``tiny`` are the same).
    """
    params = [pytest.param("tour_of_the_geometry", "ci", id="tour_of_the_geometry-ci")]
    for name in EXPERIMENTS:
        params.append(pytest.param(name, "tiny", id=f"{name}-tiny"))
        params.append(pytest.param(name, "ci", marks=pytest.mark.slow, id=f"{name}-ci"))
    return params


def _read(name):
    path = NOTEBOOK_DIR / f"{name}.ipynb"
    assert path.is_file(), f"missing notebook {path}"
    return nbformat.read(path, as_version=4)


@pytest.mark.parametrize(("name", "size"), _params())
def test_notebook_executes_and_saves_figures(name, size, tmp_path, monkeypatch):
    monkeypatch.setenv("GEODLN_NOTEBOOK_SIZE", size)
    monkeypatch.setenv("GEODLN_NOTEBOOK_OUT", str(tmp_path))
    nb = _read(name)
    client = NotebookClient(
        nb,
        timeout=TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    client.execute()  # raises CellExecutionError (with the traceback) if any cell fails

    out = tmp_path / name
    saved = {p.stem: p for p in out.rglob("*.png")}
    missing = [fig for fig in FIGURES[name] if fig not in saved]
    assert not missing, f"{name} did not save {missing}; saved {sorted(saved)}"
    for path in saved.values():
        with open(path, "rb") as fh:
            assert fh.read(8) == PNG_SIGNATURE, f"{path} is not a PNG file"
        assert path.stat().st_size > 1000, f"{path} is suspiciously small"
    # every figure the notebook showed inline was also saved (one saved file per shown figure)
    shown = sum(
        1
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    )
    assert shown >= len(FIGURES[name]), f"{name} showed {shown} figures inline"


@pytest.mark.parametrize("name", list(FIGURES))
def test_notebook_is_stored_clean(name):
    """Notebooks are committed without outputs (small, reviewable diffs) and with prose."""
    nb = _read(name)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    prose = [c for c in nb.cells if c.cell_type == "markdown"]
    assert code and prose
    assert all(not c.outputs and c.execution_count is None for c in code), (
        f"{name}.ipynb is stored with outputs; clear them before committing"
    )
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    text = "\n".join(c.source for c in code)
    assert "GEODLN_NOTEBOOK_SIZE" in text and "GEODLN_NOTEBOOK_OUT" in text
