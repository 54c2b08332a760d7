"""Every notebook in notebooks/ runs top to bottom on a small demo world (their own asserts compare the
report's numbers with the simulation's ground truth), in a real Jupyter kernel via nbclient."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from greylogd.demo import World, build_world

NOTEBOOKS = Path(__file__).parents[2] / "notebooks"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("notebook-world"), seed=3, connections=3000, days=7)


def test_there_are_three_numbered_notebooks() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == [
        "01-weekly-overview.ipynb", "02-domain-drilldown.ipynb", "03-retry-patterns.ipynb"]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_notebook_runs_on_the_demo_world(world: World, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREYLOGD_DEMO_DIR", str(world.kern_log.parent))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute(env=dict(os.environ))
    errors = [out for cell in notebook.cells if cell.cell_type == "code"
              for out in cell.outputs if out.output_type == "error"]
    assert errors == []
    assert notebook.cells[1].outputs[0]["data"]["text/plain"].startswith("Period(")
