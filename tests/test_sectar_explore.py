"""SeCTAR explorer: -ELBO reward on each segment's last step (checked against losses), segments, entropy reset."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from trajvae.sectar import buffer as rb
from trajvae.sectar import explore, ppo
from trajvae.sectar.envs import make_env
from trajvae.sectar.losses import Batch, vae_bc_terms
from trajvae.sectar.model import ModelConfig, Sectar

T = 4
CFG = ModelConfig(obs_dim=2, action_dim=4, latent_dim=3, encoder_hidden=16, decoder_hidden=16, decoder_mlp=(16,),
                  policy_mlp=(16,))


@pytest.mark.slow
def test_reward_is_negative_elbo_on_each_segments_last_step():
  graphdef, params = nnx.split(Sectar(CFG, rngs=nnx.Rngs(0)), nnx.Param)
  n, segs = 3, 2
  length = explore.rollout_length(T, segs)  # 9 steps: s_0..s_9 = 2 segments of 5 states
  starts = jax.random.normal(jax.random.key(1), (n, 2))
  next_obs = jax.random.normal(jax.random.key(2), (n, length, 2))
  key = jax.random.key(3)
  rewards = explore.elbo_reward_fn(graphdef, T)((params, key), None, starts, next_obs, jnp.zeros((n, length)))
  # By hand: the segments, and LossTerms.elbo from the VAE+BC loss with the same z key.
  states = np.concatenate([np.asarray(starts)[:, None], np.asarray(next_obs)], axis=1).reshape(n * segs, T + 1, 2)
  terms = vae_bc_terms(nnx.merge(graphdef, params), Batch(jnp.asarray(states), jnp.zeros((n * segs, T), jnp.int32)), key)
  expected = np.zeros((n, length), np.float32)
  expected[:, T - 1] = -np.asarray(terms.elbo).reshape(n, segs)[:, 0]  # next_obs index T-1 is s_T
  expected[:, 2 * T] = -np.asarray(terms.elbo).reshape(n, segs)[:, 1]  # next_obs index 2T is s_{2T+1}
  np.testing.assert_allclose(np.asarray(rewards), expected, rtol=1e-5, atol=1e-4)
  assert np.count_nonzero(np.asarray(rewards)) == n * segs


def test_cut_segments_keeps_each_segments_own_actions():
  starts = jnp.zeros((1, 1))
  next_obs = jnp.arange(1, 10, dtype=jnp.float32).reshape(1, 9, 1)  # states 0..9
  actions = jnp.arange(9).reshape(1, 9)  # action j taken from state j
  s, a = explore.cut_segments(starts, next_obs, actions, T)
  np.testing.assert_array_equal(np.asarray(s[..., 0]), [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]])
  np.testing.assert_array_equal(np.asarray(a), [[0, 1, 2, 3], [5, 6, 7, 8]])


def run_step(reset_entropy, do_update=True):
  env = make_env("waypoint")
  graphdef, params = nnx.split(Sectar(CFG, rngs=nnx.Rngs(0)), nnx.Param)
  ecfg = explore.ExploreConfig(num_starts=8, num_segments=2, reset_entropy=reset_entropy, epochs=2)
  step = jax.jit(explore.make_explore_step(env, graphdef, CFG, ecfg, T))
  _, eparams = explore.init_explorer(CFG, ecfg, jax.random.key(5))
  state = ppo.init_train_state(eparams, explore.ppo_config(ecfg, T))
  buf = rb.empty(100, T, 2)
  pool = jnp.zeros((4, 2))
  new, buf, m = step(state, params, buf, pool, jax.random.key(6), jnp.asarray(do_update))
  return state, new, buf, m


@pytest.mark.slow
def test_explore_step_fills_buffer_and_resets_on_low_entropy():
  state, new, buf, m = run_step(reset_entropy=-1.0)
  assert int(buf.size) == 8 * 2 and float(m["explore_reset"]) == 0.0
  assert float(m["explore_entropy"]) > 1.0 and np.isfinite(float(m["explore_neg_elbo"]))
  # Every segment is a real walk: consecutive states differ by one 0.2 move (or stay at the border).
  steps = np.linalg.norm(np.diff(np.asarray(buf.states[:16]), axis=1), axis=-1)
  assert np.all(steps < 0.2 + 1e-5)
  changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), new.params, state.params)
  assert any(jax.tree.leaves(changed))
  # With no update the explorer is unchanged; with an entropy threshold above ln 4 it is re-initialised.
  state, same, _, _ = run_step(reset_entropy=-1.0, do_update=False)
  assert all(jax.tree.leaves(jax.tree.map(lambda a, b: bool(jnp.all(a == b)), same.params, state.params)))
  state, fresh, _, m = run_step(reset_entropy=10.0)
  assert float(m["explore_reset"]) == 1.0
  assert int(jax.tree.leaves(fresh.opt_state)[0]) == 0  # optimiser restarted (Adam count)
