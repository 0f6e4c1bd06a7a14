"""Library plotting builds matplotlib Figures without pyplot or a backend switch, so Jupyter can show them inline."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure

from trajvae.vae import plots as vae_plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_importing_every_plotting_module_leaves_pyplot_and_the_backend_alone():
  code = """
import json, sys, matplotlib
before = matplotlib.get_backend()
import trajvae.figures, trajvae.vae.plots, trajvae.music.plots, trajvae.music.latent_plots, trajvae.sectar.plots
import trajvae.structured.study
print(json.dumps({"pyplot": "matplotlib.pyplot" in sys.modules, "before": before, "after": matplotlib.get_backend()}))
"""
  env = {**os.environ, "MPLBACKEND": "module://matplotlib_inline.backend_inline"}  # what a Jupyter kernel sets
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
  result = json.loads(out.stdout.strip().splitlines()[-1])
  assert not result["pyplot"]
  assert result["after"] == result["before"]


def test_plot_functions_return_figures_and_save_helpers_write_pngs(tmp_path):
  rng = np.random.default_rng(0)
  images = rng.uniform(size=(20, 8, 8)).astype(np.float32)
  figures = [
    vae_plots.plot_image_grid(images[:16], 4, 4, "grid"),
    vae_plots.plot_reconstructions(images[:10], images[10:]),
    vae_plots.plot_latent_scatter(rng.normal(size=(30, 3)), rng.integers(0, 10, 30)),
    vae_plots.plot_learning_curves(
      [{"split": "train", "step": 1, "elbo": -3.0}, {"split": "eval", "step": 1, "elbo": -3.5, "iwae": -3.4}]
    ),
  ]
  assert all(isinstance(fig, Figure) for fig in figures)
  assert [len(fig.axes) for fig in figures] == [1, 1, 2, 1]  # the scatter has its colour bar
  path = vae_plots.save_reconstructions(images[:10], images[10:], tmp_path / "recon.png")
  assert path.read_bytes()[:8] == PNG_MAGIC


def test_train_test_curves_draw_solid_train_dashed_test_per_method_on_a_log_axis():
  points = lambda off: [
    {"samples": s, "tr": -300.0 + off + k, "te": -301.0 + off + k} for k, s in enumerate((1e4, 1e5, 1e6))
  ]
  early = [{"samples": 1e4, "tr": -5000.0, "te": -5000.0}, *points(-20)[1:]]
  panels = {"N_z = 3": {"a": points(0), "b": early}, "N_z = 5": {"a": points(5), "b": []}}
  fig = vae_plots.plot_train_test_curves(
    panels,
    train_key="tr",
    test_key="te",
    ylabel="bound",
    colours={"a": "C0", "b": "C1"},
    labels={"a": "A", "b": "B"},
    focus_after=100_000,
  )
  left, right = fig.axes
  assert [ax.get_title() for ax in fig.axes] == ["N_z = 3", "N_z = 5"] and left.get_xscale() == "log"
  assert [line.get_linestyle() for line in left.get_lines()] == ["-", "--", "-", "--"] and len(right.get_lines()) == 2
  low, high = -301.0 - 20 + 1, -300.0 + 2
  assert left.get_ylim()[0] == pytest.approx(low - 0.25 * (high - low))  # the 1e4 outlier of "b" is below it


def test_sectar_learning_curve_shows_plan_fidelity_where_the_records_have_it():
  from trajvae.sectar import plots as sectar_plots

  old = [{"env_steps": s, "task_reward": r} for s, r in ((100, 0.0), (200, 0.5))]
  assert len(sectar_plots.plot_learning_curve(old).axes) == 1  # records from before the diagnostics
  new = [
    {**r, "mpc_predicted_score": 1.0, "mpc_goals_reached": 1.5, "mpc_segment_error": 0.2, "prior_segment_error": 0.1}
    for r in old
  ]
  reward, gap = sectar_plots.plot_learning_curve(new).axes
  assert [line.get_label() for line in reward.get_lines()] == [
    "task reward (executed)",
    "plans' predicted score",
    "goals passed",
  ]
  assert [list(line.get_ydata()) for line in gap.get_lines()] == [[0.2, 0.2], [0.1, 0.1]] and gap.get_yscale() == "log"
