"""The notebooks show their figures when run in a Jupyter kernel at their small setting, and the CLI works end to end."""

import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.py"))


def execute_notebook(notebook: pathlib.Path, out: pathlib.Path, monkeypatch):
  """The notebook read by jupytext and run cell by cell in an ipykernel (as Jupyter would), SMOKE=1."""
  import jupytext
  from nbclient import NotebookClient

  # The kernel inherits this environment: the small setting, the output folder, and this checkout's package.
  monkeypatch.setenv("SMOKE", "1")
  monkeypatch.setenv("NOTEBOOK_OUT", str(out))
  monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
  nb = jupytext.read(notebook)
  # Jupyter starts a notebook's kernel in the notebook's folder; so does this.
  NotebookClient(
    nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(notebook.parent)}}
  ).execute()
  return nb


def png_outputs(cell) -> int:
  return sum("image/png" in output.get("data", {}) for output in cell.get("outputs", []))


@pytest.mark.notebook
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_shows_every_figure_inline(notebook, tmp_path, monkeypatch):
  nb = execute_notebook(notebook, tmp_path, monkeypatch)
  code = [cell for cell in nb.cells if cell.cell_type == "code"]
  # Every figure a notebook saves it also shows: a cell's PNG outputs match its save_figure calls.
  expected = [cell.source.count("save_figure(") for cell in code]
  assert sum(expected) > 0
  assert [png_outputs(cell) for cell in code] == expected
  assert len(list(tmp_path.glob("*.png"))) >= sum(expected)


def test_notebooks_are_jupytext_percent_files():
  import jupytext

  for notebook in NOTEBOOKS:
    nb = jupytext.read(notebook)
    assert any(cell.cell_type == "markdown" for cell in nb.cells), notebook


def cli(*args, check=True):
  return subprocess.run([sys.executable, "-m", "trajvae", *args], capture_output=True, text=True, check=check, cwd=REPO)


@pytest.mark.e2e
def test_cli_train_eval_sample(tmp_path):
  cli("train", "vae", "--preset", "smoke", "--workdir", str(tmp_path), "--set", "train.steps=100")
  result = cli("eval", "vae", "--workdir", str(tmp_path), "--set", "eval.iwae_samples=20")
  assert '"iwae"' in result.stdout and (tmp_path / "eval.json").exists()
  paths = cli("sample", "vae", "--workdir", str(tmp_path), "--num", "16").stdout.split()
  assert {pathlib.Path(p).name for p in paths} >= {
    "samples.png",
    "manifold.png",
    "reconstructions.png",
    "latent_scatter.png",
  }
  assert all(pathlib.Path(p).stat().st_size > 1000 for p in paths)


@pytest.mark.e2e
def test_cli_progress_shows_rate_and_eta(tmp_path):
  result = cli("train", "vae", "--preset", "smoke", "--workdir", str(tmp_path), "--set", "train.steps=200")
  assert "steps/s" in result.stderr and "ETA" in result.stderr and "loss" in result.stderr


@pytest.mark.e2e
def test_cli_config_errors_are_clear(tmp_path):
  result = cli("train", "vae", "--workdir", str(tmp_path), "--set", "optim.lr=0.1", check=False)
  assert result.returncode == 2 and "unknown config key 'optim.lr'" in result.stderr
  result = cli("train", "nope", "--workdir", str(tmp_path), check=False)
  assert result.returncode == 2 and "unknown model 'nope'" in result.stderr
  assert "digits-2d (default)" in cli("presets", "vae").stdout
