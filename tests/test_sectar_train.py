"""SeCTAR outer loop: the smoke preset runs end to end, logs, checkpoints, and resumes exactly."""

import json

import jax
import numpy as np
import pytest

from trajvae.config import override
from trajvae.sectar import configs, outer_loop
from trajvae.train.metrics import read_metrics


class Interrupt(Exception):
  pass


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("full")
  state = outer_loop.train(configs.smoke(), workdir, verbose=False)
  return workdir, state


@pytest.mark.e2e
def test_smoke_runs_end_to_end_and_logs(uninterrupted):
  workdir, state = uninterrupted
  records = read_metrics(workdir)
  assert [r["step"] for r in records] == [1, 2, 3]
  for key in (
    "task_reward",
    "env_steps",
    "vae_loss",
    "vae_nll",
    "vae_kl",
    "vae_bc",
    "consistency_reward",
    "explore_neg_elbo",
    "explore_entropy",
    "val_vae_loss",
    "mpc_segment_error",
    "prior_segment_error",
    "mpc_latent_sq",
    "mpc_goals_reached",
  ):
    assert all(np.isfinite(r[key]) for r in records), key
  # Waypoint pays every 3rd goal passed, so an episode's reward is at most a third of the goals it passed.
  assert all(r["mpc_goals_reached"] >= 3 * r["task_reward"] - 1e-6 for r in records)
  cfg = configs.smoke()
  per_iter = (2 * 4 * 9) + (8 * 19) + (2 * 8 * 9)  # MPC + explorer + consistency PPO env steps
  assert [r["env_steps"] for r in records] == [per_iter, 2 * per_iter, 3 * per_iter]
  assert int(state.buffer.size) == 3 * cfg.explore.num_starts * cfg.explore.num_segments
  # One pass over the training split per fit round (drop_last, at least one minibatch): 15, 29, 44 segments
  # in minibatches of 16.
  assert [r["vae_steps"] for r in records] == [1, 1, 2]
  # The VAE learns the explorer's segments: its loss falls over the 3 iterations.
  assert records[-1]["vae_loss"] < records[0]["vae_loss"]
  meta = json.loads((workdir / "checkpoints" / "trajvae_checkpoint.json").read_text())
  assert meta["model"] == "sectar"


@pytest.mark.e2e
def test_interrupted_and_resumed_equals_uninterrupted(uninterrupted, tmp_path):
  _, full = uninterrupted

  def crash(iteration):
    if iteration == 2:
      raise Interrupt

  with pytest.raises(Interrupt):
    outer_loop.train(configs.smoke(), tmp_path, verbose=False, on_step=crash)
  _, step = outer_loop.restore_state(configs.smoke(), tmp_path, outer_loop.build(configs.smoke()))
  assert step == 2
  resumed = outer_loop.train(configs.smoke(), tmp_path, verbose=False)
  for a, b in zip(jax.tree.leaves(full), jax.tree.leaves(resumed)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2, 3]


def test_config_that_does_not_fit_the_env_is_rejected(tmp_path):
  with pytest.raises(ValueError, match="does not fit env"):
    outer_loop.build(override(configs.smoke(), ["model.obs_dim=3"]))


@pytest.mark.slow
def test_the_loop_runs_on_a_physics_env(tmp_path):
  """The swimmer (MJX contact + fluid, Gaussian policy, T = 9) through every stage: MPC, explorer, fit."""
  cfg = configs.swimmer_smoke()
  state = outer_loop.train(cfg, tmp_path, verbose=False)
  records = read_metrics(tmp_path)
  assert [r["step"] for r in records] == [1, 2]
  for key in ("task_reward", "vae_loss", "consistency_reward", "explore_neg_elbo", "pd_entropy", "mpc_segment_error"):
    assert all(np.isfinite(r[key]) for r in records), key
  per_iter = (2 * 2 * 9) + (4 * 19) + (1 * 4 * 9)  # MPC + explorer + consistency PPO env steps
  assert [r["env_steps"] for r in records] == [per_iter, 2 * per_iter]
  assert int(state.buffer.size) == 2 * cfg.explore.num_starts * cfg.explore.num_segments
  obs = np.asarray(state.buffer.states)[: int(state.buffer.size)]
  assert obs.shape[1:] == (10, 8) and np.all(np.isfinite(obs))
  assert np.ptp(obs[..., 6:8], axis=1).max() > 0  # the swimmer's centre of mass moved in the explorer's segments
