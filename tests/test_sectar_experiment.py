"""SeCTAR CLI entry points: train -> evaluate (eval.json) -> sample (PNGs) on the smoke preset."""

import json

import pytest

from trajvae.config import override, select_preset
from trajvae.sectar import commands


@pytest.mark.e2e
def test_entry_points_train_evaluate_sample(tmp_path):
  assert commands.NAME == "sectar" and commands.DEFAULT_PRESET in commands.PRESETS
  assert set(commands.PRESETS) >= {"waypoint", "block", "waypoint_cpu", "block_cpu", "smoke"}
  config = override(select_preset(commands.PRESETS, "smoke"), ["train.iterations=1"])
  assert isinstance(config, commands.Config)
  commands.train(config, tmp_path, verbose=False)
  results = commands.evaluate(tmp_path, ["eval.tasks=0"])
  assert results["iterations"] == 1 and list(results["tasks"]) == ["0"]
  assert len(results["tasks"]["0"]["returns"]) == config.eval.num_episodes
  assert 0 <= results["task_reward"] <= 16  # 16 paid waypoints (not all reachable)
  assert json.loads((tmp_path / "eval.json").read_text())["task_reward"] == results["task_reward"]
  paths = commands.sample(tmp_path, num_samples=4, out_dir=str(tmp_path / "png"))
  assert [p.rsplit("/", 1)[-1] for p in paths] == ["consistency.png", "mpc_episode.png", "learning_curve.png"]
  assert all((tmp_path / "png" / p.rsplit("/", 1)[-1]).stat().st_size > 5000 for p in paths)


@pytest.mark.slow
def test_skill_reuse_plans_any_task_with_one_compilation(tmp_path):
  """evaluate's task-generic MPC (the task's start and goals traced) equals the MPC built for that task config."""
  import dataclasses

  import jax
  import numpy as np

  from trajvae.sectar import outer_loop

  config = override(select_preset(commands.PRESETS, "smoke"), ["train.iterations=1"])
  commands.train(config, tmp_path, verbose=False)
  run = commands.load_run(tmp_path)
  config, state = run.config, run.state
  returns = commands.task_returns_fn(run)
  key = jax.random.key(7)
  for task in (1, 3):
    generic, goals = map(np.asarray, returns(state.params, key, *commands.task_arrays(config, task)))
    own = outer_loop.build(dataclasses.replace(config, env=dataclasses.replace(config.env, task=task)))
    eps, _ = own.mpc(state.params, key)
    assert config.mpc.num_episodes == config.eval.num_episodes
    np.testing.assert_allclose(generic, outer_loop.episode_returns(eps), atol=1e-6)
    np.testing.assert_array_equal(run.task_returns(task, key), generic)
    np.testing.assert_array_equal(goals, own.env.reward_fn(eps.obs)[1])  # the task's own goals, in order


def test_load_run_is_the_shared_run_shape(tmp_path):
  import dataclasses

  import jax
  import numpy as np

  from trajvae.train.runs import TrainedRun

  config = override(select_preset(commands.PRESETS, "smoke"), ["train.iterations=1"])
  final = commands.train(config, tmp_path, verbose=False)
  run = commands.load_run(tmp_path)
  assert isinstance(run, TrainedRun) and isinstance(run, commands.SectarRun) and run.step == 1
  assert run.graphdef is run.stages.graphdefs.model and run.params is run.state.params
  for a, b in zip(jax.tree.leaves(final), jax.tree.leaves(run.state)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  with pytest.raises(dataclasses.FrozenInstanceError):
    run.step = 2
