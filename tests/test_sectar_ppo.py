"""SeCTAR PPO: it improves a consistency-style task within a fixed budget; reward params are traced (no re-jit)."""

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from trajvae.sectar import ppo
from trajvae.sectar.configs import PPOConfig, SectarModelConfig
from trajvae.sectar.envs import make_env
from trajvae.sectar.losses import consistency_reward
from trajvae.sectar.model import PolicyDecoder, StateDecoder
from trajvae.train.optim import OptimConfig, make_optimizer


def toy_reward(w, latents, starts, next_obs, env_rewards):
  """A fixed toy 'state decoder': move in direction tanh(z @ w) at up to 0.2 per step (sigma 0.2)."""
  t = jnp.arange(1, next_obs.shape[-2] + 1, dtype=jnp.float32)[:, None]
  means = starts[:, None] + t * 0.2 * jnp.tanh(latents @ w)[:, None]
  return consistency_reward(next_obs, means, jnp.full((2,), 0.2))


@pytest.mark.slow
def test_ppo_improves_consistency_reward_within_budget():
  env = make_env("waypoint", continuous=True)
  cfg = SectarModelConfig(
    obs_dim=2, action_dim=2, discrete=False, latent_dim=2, policy_mlp=(64, 64), policy_init_std=0.5
  )
  graphdef, params = nnx.split(PolicyDecoder(cfg, rngs=nnx.Rngs(0)), nnx.Param)
  pcfg = PPOConfig(epochs=4, num_minibatches=4, optim=OptimConfig(name="adam", learning_rate=1e-3, adam_eps=1e-5))
  update = ppo.make_update(env, graphdef, toy_reward, pcfg, num_envs=64, rollout_len=19, latent_dim=2)
  train = jax.jit(ppo.make_train(update, 60))
  w = 1.5 * jnp.eye(2)
  pool = jax.random.uniform(jax.random.key(1), (256, 2), minval=-1.5, maxval=1.5)
  t0 = time.perf_counter()
  ts, metrics = train(ppo.init_ppo_state(params, pcfg), w, pool, jax.random.key(2))
  rewards = np.asarray(metrics["reward"])
  elapsed = time.perf_counter() - t0
  first, last = rewards[:5].mean(), rewards[-5:].mean()
  assert np.all(np.isfinite(rewards))
  # Per-step reward is log N with sigma 0.2 in 2-D (max ~ +2.2/step, ~ +42 per rollout).
  assert last > first + 0.5 * abs(first), (first, last)
  assert elapsed < 60


@pytest.mark.slow
def test_update_is_jitted_once_with_decoder_params_traced():
  env = make_env("waypoint")
  cfg = SectarModelConfig(obs_dim=2, action_dim=4, discrete=True, decoder_hidden=8, decoder_mlp=(8,), policy_mlp=(16,))
  pgraph, pparams = nnx.split(PolicyDecoder(cfg, rngs=nnx.Rngs(0)), nnx.Param)
  dgraph, dparams = nnx.split(StateDecoder(cfg, rngs=nnx.Rngs(1)), nnx.Param)
  pcfg = PPOConfig(epochs=2, num_minibatches=2)
  update = jax.jit(
    ppo.make_update(env, pgraph, ppo.consistency_reward_fn(dgraph), pcfg, num_envs=20, rollout_len=19, latent_dim=8)
  )
  ts = ppo.init_ppo_state(pparams, pcfg)
  pool = jnp.zeros((10, 2))
  for i in range(3):  # the outer loop changes the decoder every iteration
    dparams = jax.tree.map(lambda x: x + 0.01, dparams)
    ts, m, data = update(ts, dparams, pool, jax.random.key(i))
    assert data.rollout.obs.shape == (20, 19, 2) and data.rewards.shape == (20, 19)
    assert np.isfinite(float(m["reward"])) and float(m["entropy"]) > 0
  assert update._cache_size() == 1


def test_discounted_advantages_hand_computed():
  r = jnp.array([[1.0, 0.0, 2.0]])
  adv = ppo.discounted_advantages(r, gamma=0.5, lam=1.0)
  np.testing.assert_allclose(adv, [[1.0 + 0.25 * 2.0, 0.5 * 2.0, 2.0]])


def test_minibatches_of_200_and_adam_without_clip():
  cfg = PPOConfig(minibatch_size=200)
  assert cfg.minibatches(400 * 99) == (198, 200)  # ~2,000 Adam steps in 10 epochs, as the authors' explorer
  assert cfg.minibatches(32 * 99) == (15, 211)
  assert cfg.minibatches(4 * 19) == (1, 76)
  assert PPOConfig().minibatches(20 * 19) == (2, 190)
  with pytest.raises(ValueError, match="divisible by num_minibatches"):
    PPOConfig(num_minibatches=3).minibatches(20 * 19)
  # Adam eps 1e-5: the first step on a gradient of 1e-5 is lr / 2 (eps 1e-8 would give ~lr); no clip of large ones.
  cfg = PPOConfig(optim=dataclasses.replace(PPOConfig().optim, learning_rate=1.0))
  opt = make_optimizer(cfg.optim)
  params = {"w": jnp.zeros(2)}
  upd, _ = opt.update({"w": jnp.array([1e-5, 1e6])}, opt.init(params), params)
  np.testing.assert_allclose(upd["w"], [-0.5, -1.0], rtol=1e-4)


def test_rollout_takes_any_policy_fn_and_keeps_its_extras():
  """The rollout knows nothing of the network: a plain function acts, its extras come back per step."""
  env = make_env("waypoint", continuous=True)
  starts = jnp.zeros((3, 2))

  def go_right(obs, key):
    return jnp.tile(jnp.array([1.0, 0.0]), (obs.shape[0], 1)), {"log_prob": jnp.full(obs.shape[0], -1.5)}

  traj = ppo.rollout(env, go_right, starts, 4, jax.random.key(0))
  assert traj.obs.shape == (3, 4, 2) and traj.log_probs.shape == (3, 4)
  np.testing.assert_allclose(traj.log_probs, -1.5)
  x = np.asarray(traj.next_obs[0, :, 0])
  assert np.all(np.diff(x) > 0) and np.allclose(traj.next_obs[:, :, 1], 0.0)  # moving right only
  np.testing.assert_allclose(traj.obs[:, 1:], traj.next_obs[:, :-1])
