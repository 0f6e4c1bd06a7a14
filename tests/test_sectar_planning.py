"""Latent MPC: finds the known best latent on a toy decoder; closes the loop on the real waypoint env."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trajvae.sectar import planning
from trajvae.sectar.configs import MPCConfig
from trajvae.sectar.envs import make_env


def linear_decode(params, z, s0, length):
  """Toy state decoder: s_t = s0 + t * scale * z."""
  t = jnp.arange(1, length + 1, dtype=jnp.float32)[:, None]
  return s0[:, None] + t * params * z[:, None]


def quadratic_reward(goal):
  def fn(states, progress):
    return -jnp.sum((states - goal) ** 2, axis=-1), progress

  return fn


def known_best(s0, goal, scale, length):
  # argmin_z sum_t |s0 + t scale z - g|^2  =>  z* = (g - s0) sum t / (scale sum t^2)
  t = np.arange(1, length + 1)
  return (goal - s0) * t.sum() / (scale * (t**2).sum())


@pytest.mark.parametrize("method,tol", [("random", 0.25), ("cem", 0.03)])
def test_plan_finds_known_best_latent(method, tol):
  s0, goal = jnp.array([0.5, -0.5]), jnp.array([0.9, 0.2])
  cfg = MPCConfig(num_sequences=2048, horizon=1, discount=1.0, method=method)
  best = jax.jit(lambda k: planning.plan(linear_decode, quadratic_reward(goal), 0.1, s0, jnp.int32(0), k, cfg, 5, 2))(
    jax.random.key(0)
  )
  z_star = known_best(np.asarray(s0), np.asarray(goal), 0.1, 5)
  assert np.linalg.norm(np.asarray(best.latents[0]) - z_star) < tol
  # The returned score is that of the returned latents.
  score, _ = planning.score_sequences(
    linear_decode, quadratic_reward(goal), 0.1, best.latents[None], s0, jnp.int32(0), cfg, 5
  )
  np.testing.assert_allclose(score[0], best.score, rtol=1e-5)


def test_chain_decode_starts_each_segment_at_the_previous_end():
  lat = jnp.array([[[1.0, 0.0], [0.0, 1.0]]])  # K=1, H=2
  states = planning.chain_decode(linear_decode, 0.1, lat, jnp.zeros((1, 2)), 3)
  np.testing.assert_allclose(states[0], [[0.1, 0], [0.2, 0], [0.3, 0], [0.3, 0.1], [0.3, 0.2], [0.3, 0.3]], atol=1e-6)


@pytest.mark.slow
def test_mpc_collects_sparse_reward_on_waypoint_with_a_perfect_model():
  env = make_env("waypoint", task=0, continuous=True)

  def decode(params, z, s0, length):  # exact model of the env under the policy below
    def body(s, _):
      s = jnp.clip(s + 0.2 * jnp.clip(z[:, :2], -1, 1), -2.8, 2.8)
      return s, s

    return jnp.swapaxes(jax.lax.scan(body, s0, None, length=length)[1], 0, 1)

  def follow(z):  # the latent's first two entries are the action
    return lambda obs, key: (z[:2], {})

  cfg = MPCConfig(num_sequences=2048, horizon=3, num_latents=8)
  ep = jax.jit(lambda k: planning.mpc_episode(env, decode, follow, None, k, cfg, 19, 2))(jax.random.key(0))
  assert ep.obs.shape == (152, 2) and ep.rewards.shape == (152,)
  assert float(ep.rewards.sum()) >= 1  # +1 needs waypoints 0, 1, 2 in order
  # Without planning (one random candidate per replan) the same loop collects nothing.
  blind = MPCConfig(num_sequences=1, horizon=3, num_latents=8)
  ep0 = jax.jit(lambda k: planning.mpc_episode(env, decode, follow, None, k, blind, 19, 2))(jax.random.key(0))
  assert float(ep0.rewards.sum()) == 0


def test_unknown_method_is_an_error():
  cfg = MPCConfig(num_sequences=4, horizon=1, method="mppi")
  with pytest.raises(ValueError, match="unknown planning method"):
    planning.plan(
      linear_decode, quadratic_reward(jnp.zeros(2)), 0.1, jnp.zeros(2), jnp.int32(0), jax.random.key(0), cfg, 2, 2
    )


def test_near_the_end_only_the_latents_left_are_scored():
  """The authors plan min(H, latents left): scoring H = 3 with 1 latent left equals scoring H = 1."""
  reward = lambda states, progress: (states[..., 0], progress)  # reward = x at every step
  lat = jax.random.normal(jax.random.key(0), (16, 3, 2))
  s0 = jnp.zeros(2)
  cfg3 = MPCConfig(num_sequences=16, horizon=3, discount=0.9)
  cfg1 = MPCConfig(num_sequences=16, horizon=1, discount=0.9)
  short, _ = planning.score_sequences(linear_decode, reward, 0.1, lat[:, :1], s0, jnp.int32(0), cfg1, 4)
  cut, _ = planning.score_sequences(linear_decode, reward, 0.1, lat, s0, jnp.int32(0), cfg3, 4, latents_left=1)
  full, _ = planning.score_sequences(linear_decode, reward, 0.1, lat, s0, jnp.int32(0), cfg3, 4)
  np.testing.assert_allclose(cut, short, rtol=1e-6)
  assert float(jnp.abs(full - short).max()) > 1e-3
  # With 3 or more left it is the full score.
  more, _ = planning.score_sequences(linear_decode, reward, 0.1, lat, s0, jnp.int32(0), cfg3, 4, latents_left=5)
  np.testing.assert_allclose(more, full, rtol=1e-6)


def test_episode_records_its_replan_states():
  env = make_env("waypoint", task=0, continuous=True)

  def decode(params, z, s0, length):
    return s0[:, None] + jnp.zeros((1, length, 1))

  cfg = MPCConfig(num_sequences=4, horizon=2, num_latents=3)
  ep = jax.jit(lambda k: planning.mpc_episode(env, decode, lambda z: lambda o, k: (z[:2], {}), None, k, cfg, 5, 2))(
    jax.random.key(0)
  )
  assert ep.replan_states.shape == (3, 2)
  np.testing.assert_array_equal(ep.replan_states[0], env.start_state)  # the task's start state is a replan state
  np.testing.assert_array_equal(ep.replan_states[1:], ep.obs[4:-1:5])  # then each segment's end state


def test_episode_returns_the_plans_it_executed():
  """Each segment's plan comes back as chosen: its first latent is the one executed, and with a perfect model
  (the decoder predicts exactly what following z does) the plan's first segment is the executed path."""
  env = make_env("waypoint", task=0, continuous=True)

  def decode(params, z, s0, length):  # straight 0.2 * clip(z) steps, clipped per axis at the border as the env
    steps = jnp.arange(1, length + 1, dtype=jnp.float32)[None, :, None]
    return jnp.clip(s0[:, None] + 0.2 * jnp.clip(z[:, None, :2], -1, 1) * steps, -2.8, 2.8)

  t, cfg = 5, MPCConfig(num_sequences=8, horizon=3, num_latents=4)
  ep = jax.jit(lambda k: planning.mpc_episode(env, decode, lambda z: lambda o, k: (z[:2], {}), None, k, cfg, t, 2))(
    jax.random.key(3)
  )
  assert ep.plans.latents.shape == (4, 3, 2) and ep.plans.states.shape == (4, 3 * t, 2)
  np.testing.assert_array_equal(ep.plans.latents[:, 0], ep.latents)
  segments = np.asarray(ep.obs).reshape(4, t, 2)
  np.testing.assert_allclose(np.asarray(ep.plans.states)[:, :t], segments, atol=1e-5)
  # The plans differ between segments (each replans from where the last one ended).
  assert not np.allclose(ep.plans.latents[0], ep.plans.latents[1])


def test_executed_segment_error_is_the_gap_to_the_chosen_plans_prediction():
  """0 when the decoder predicts exactly what the policy decoder executes; the squared offset when every
  prediction is off by the same amount; the same over a vmapped batch of episodes."""
  env = make_env("waypoint", task=0, continuous=True)
  t, cfg = 5, MPCConfig(num_sequences=8, horizon=2, num_latents=3)

  def decoder(offset):
    def decode(params, z, s0, length):  # exact for the policy below (small steps stay inside the arena)
      steps = jnp.arange(1, length + 1, dtype=jnp.float32)[None, :, None]
      return s0[:, None] + 0.02 * jnp.tanh(z[:, None, :2]) * steps + offset

    return decode

  follow = lambda z: lambda o, k: (0.1 * jnp.tanh(z[:2]), {})  # env moves 0.2 * a = 0.02 tanh(z)
  run = lambda offset, k: planning.mpc_episode(env, decoder(offset), follow, None, k, cfg, t, 2)
  exact = jax.jit(lambda k: run(0.0, k))(jax.random.key(0))
  assert float(planning.executed_segment_error(exact, t)) < 1e-10
  # The first segment's prediction is off by 0.3 everywhere; the chained later states carry it on, but only the
  # first T states of each plan (the executed latent's) are compared.
  off = jax.jit(lambda k: run(0.3, k))(jax.random.key(0))
  np.testing.assert_allclose(planning.executed_segment_error(off, t), 0.09, rtol=1e-4)
  batch = jax.jit(jax.vmap(lambda k: run(0.3, k)))(jax.random.split(jax.random.key(1), 2))
  np.testing.assert_allclose(planning.executed_segment_error(batch, t), 0.09, rtol=1e-4)
