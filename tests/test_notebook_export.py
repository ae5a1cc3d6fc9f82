"""A notebook executed and exported to static HTML (nbconvert, what a saved or shared copy shows) keeps its figures."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbconvert import HTMLExporter

REPO = Path(__file__).resolve().parents[1]
PLOTLY = "application/vnd.plotly.v1+json"


def test_exported_notebook_shows_every_plotly_figure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("HELPERS_SMOKE", "1"), ("HELPERS_OUTPUTS", tmp_path / "outputs"),
                        ("HELPERS_CACHE", tmp_path / "cache")):
        monkeypatch.setenv(name, str(value))
    nb = nbformat.read(REPO / "notebooks" / "06_evaluate_prosopo.ipynb", as_version=4)
    NotebookClient(nb, timeout=120, resources={"metadata": {"path": str(REPO / "notebooks")}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    figures = [o for o in outputs if PLOTLY in o.get("data", {})]
    assert figures, "the notebook showed no plotly figure"
    for output in figures:  # beside the live figure, an HTML copy that needs no kernel
        assert "Plotly.newPlot" in output["data"].get("text/html", ""), sorted(output["data"])
    html, _ = HTMLExporter().from_notebook_node(nb)
    assert html.count("Plotly.newPlot") >= len(figures)
    assert "plotly.js v" in html  # the library itself is in the page: it opens offline
