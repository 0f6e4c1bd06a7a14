"""SeCTAR baselines: the learned one-step model fits the kinematics, and its MPC beats chance; flat PPO runs."""

import jax
import numpy as np
import pytest

from trajvae.sectar import baselines
from trajvae.sectar.configs import DynamicsMPCConfig, FlatPPOConfig, PPOConfig
from trajvae.sectar.envs import make_env


@pytest.mark.slow
def test_dynamics_mpc_learns_the_moves_and_collects_reward():
  env = make_env("waypoint")
  cfg = DynamicsMPCConfig(num_episodes=2, num_sequences=128, hidden=(64, 64), fit_steps=300)
  iterate, state, per = baselines.make_dynamics_mpc(env, cfg, 0)
  assert per == 2 * 380
  mse, rewards = [], []
  for i in range(3):
    state, m = iterate(state, jax.random.key(i))
    mse.append(float(m["model_mse"]))
    rewards.append(float(m["task_reward"]))
  assert int(state.size) == 3 * 2 * 380
  # Moves are 0.2 per step: a model worse than "no move" would have MSE ~ 0.02.
  assert mse[-1] < 2e-3, mse
  assert max(rewards[1:]) > 0, rewards  # a fitted model plans onto rewarded waypoints


@pytest.mark.slow
def test_flat_ppo_runs_full_horizon_on_the_task_reward():
  env = make_env("waypoint")
  step, state, per = baselines.make_flat_ppo(
    env, FlatPPOConfig(num_envs=4, ppo=PPOConfig(epochs=4, num_minibatches=4, entropy_coef=0.01)), 0
  )
  assert per == 4 * 380
  state, m = step(state, jax.random.key(0))
  assert np.isfinite(float(m["loss"])) and 0 <= float(m["env_reward"]) <= 16
