"""The notebooks run top to bottom in their small setting, and the CLI works end to end."""

import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.py"))


@pytest.mark.notebook
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(notebook, tmp_path):
  env = dict(os.environ, SMOKE="1", NOTEBOOK_OUT=str(tmp_path))
  subprocess.run([sys.executable, str(notebook)], env=env, check=True, cwd=REPO)
  assert list(tmp_path.glob("*.png"))


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
  assert {pathlib.Path(p).name for p in paths} >= {"samples.png", "manifold.png", "reconstructions.png", "latent_scatter.png"}
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
