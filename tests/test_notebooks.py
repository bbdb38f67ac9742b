"""The check notebooks (notebooks/*.ipynb) run top to bottom on each game's shipped agent, and are
committed without outputs.

Each is executed in memory (nothing is written back) by nbclient with the "python3" kernel of
this interpreter's environment: the kernelspec that ipykernel installs under sys.prefix, put first
on JUPYTER_PATH so that a user-level "python3" kernelspec pointing at another Python is not used.
"""
import os
import sys

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NB_DIR = os.path.join(ROOT, "notebooks")
NOTEBOOKS = ["check_vae.ipynb", "check_rnn.ipynb", "training_progress.ipynb"]
CELL_TIMEOUT_S = 300


def read(name):
    return nbformat.read(os.path.join(NB_DIR, name), as_version=4)


def test_every_notebook_in_the_folder_is_checked():
    assert sorted(f for f in os.listdir(NB_DIR) if f.endswith(".ipynb")) == sorted(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_committed_without_outputs(name):
    nb = read(name)
    nbformat.validate(nb)
    dirty = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
             and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, f"{name}: code cells {dirty} have outputs or an execution count; strip them before committing"


def execute(nb, monkeypatch):
    """Run nb in place; a cell that raises makes nbclient raise CellExecutionError."""
    monkeypatch.setenv("JUPYTER_PATH", os.pathsep.join(
        p for p in (os.path.join(sys.prefix, "share", "jupyter"), os.environ.get("JUPYTER_PATH")) if p))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": NB_DIR}})
    client.execute()
    return nb


GAME_LINE = 'GAME = "doom"  # or "carracing": the shipped agent in results/GAME/'


def for_game(nb, game):
    """The notebook with its first code cell's GAME set to `game` (as a user would edit it)."""
    first = next(cell for cell in nb.cells if cell.cell_type == "code")
    assert GAME_LINE in first.source, "the first code cell must set GAME"
    first.source = first.source.replace(GAME_LINE, f"GAME = {game!r}")
    return nb


@pytest.mark.parametrize("game", ["doom", "carracing"])
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_and_draws(name, game, monkeypatch):
    if not os.path.exists(os.path.join(ROOT, "results", game, "world_model.npz")):
        pytest.skip(f"no shipped {game} agent in results/{game}/")
    nb = execute(for_game(read(name), game), monkeypatch)
    text = "".join(o.get("text", "") for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs)
    for check in ("same pixels as", "same text as"):  # training_progress: stage 06's committed figure and table
        for line in (l for l in text.splitlines() if l.startswith(check)):
            assert line.endswith("True"), f"{name} ({game}): {line}"
    images = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs
              if {"image/png", "image/gif"} & set(o.get("data", {}))]
    assert images, f"{name}: ran but displayed no figure"


def test_a_failing_cell_fails_the_run(monkeypatch):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import sys\nprint(sys.prefix)"),
                                         nbformat.v4.new_code_cell("raise ValueError('broken cell')")])
    with pytest.raises(Exception, match="broken cell"):
        execute(nb, monkeypatch)
    # the kernel ran in this environment
    assert os.path.realpath(nb.cells[0].outputs[0]["text"].strip()) == os.path.realpath(sys.prefix)
