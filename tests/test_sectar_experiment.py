"""SeCTAR CLI entry points: train -> evaluate (eval.json) -> sample (PNGs) on the smoke preset."""

import json

import pytest

from trajvae.config import override, select_preset
from trajvae.sectar import experiment


@pytest.mark.e2e
def test_entry_points_train_evaluate_sample(tmp_path):
  assert experiment.NAME == "sectar" and experiment.DEFAULT_PRESET in experiment.PRESETS
  assert set(experiment.PRESETS) >= {"waypoint", "block", "waypoint_cpu", "block_cpu", "smoke"}
  config = override(select_preset(experiment.PRESETS, "smoke"), ["train.iterations=1"])
  assert isinstance(config, experiment.Config)
  experiment.train(config, tmp_path, verbose=False)
  results = experiment.evaluate(tmp_path, ["eval.tasks=0"])
  assert results["iterations"] == 1 and list(results["tasks"]) == ["0"]
  assert len(results["tasks"]["0"]["returns"]) == config.eval.num_episodes
  assert 0 <= results["task_reward"] <= 16
  assert json.loads((tmp_path / "eval.json").read_text())["task_reward"] == results["task_reward"]
  paths = experiment.sample(tmp_path, num_samples=4, out_dir=str(tmp_path / "png"))
  assert [p.rsplit("/", 1)[-1] for p in paths] == ["consistency.png", "mpc_episode.png", "learning_curve.png"]
  assert all((tmp_path / "png" / p.rsplit("/", 1)[-1]).stat().st_size > 5000 for p in paths)
