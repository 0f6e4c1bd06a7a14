"""SeCTAR explorer: +(NLL/T + KL) reward (novelty) at the authors' indices, segments, starts, the entropy reset."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from trajvae.sectar import buffer as rb
from trajvae.sectar import explore, ppo
from trajvae.sectar.configs import ExploreConfig, PPOConfig, SectarModelConfig
from trajvae.sectar.envs import make_env
from trajvae.sectar.losses import Batch, vae_bc_loss, vae_bc_terms
from trajvae.sectar.model import PolicyDecoder, Sectar

T = 4
CFG = SectarModelConfig(
  obs_dim=2, action_dim=4, latent_dim=3, encoder_hidden=16, decoder_hidden=16, decoder_mlp=(16,), policy_mlp=(16,)
)


def fit_to_standing_still(steps: int = 150) -> tuple[nnx.GraphDef, object]:
  """A small VAE fitted on segments that stand still at random points (what a wall push or a no-op gives)."""
  graphdef, params = nnx.split(Sectar(CFG, rngs=nnx.Rngs(0)), nnx.Param)
  points = jax.random.uniform(jax.random.key(7), (256, 1, 2), minval=-2.0, maxval=2.0)
  batch = Batch(jnp.broadcast_to(points, (256, T + 1, 2)), jnp.zeros((256, T), jnp.int32))
  opt = optax.adam(3e-3)

  @jax.jit
  def step(carry, key):
    params, opt_state = carry
    grads = jax.grad(lambda p: vae_bc_loss(nnx.merge(graphdef, p), batch, key, bc_weight=0.0)[0])(params)
    updates, opt_state = opt.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), None

  (params, _), _ = jax.lax.scan(step, (params, opt.init(params)), jax.random.split(jax.random.key(8), steps))
  return graphdef, params


@pytest.mark.slow
def test_reward_pays_more_for_a_segment_the_vae_explains_badly():
  """The explorer seeks novelty: after the VAE learned standing still, a walk pays more than standing still."""
  graphdef, params = fit_to_standing_still()
  model = nnx.merge(graphdef, params)
  s0 = jnp.array([[0.5, -0.5]])
  still = jnp.broadcast_to(s0[:, None], (1, T + 1, 2))
  walk = s0[:, None] + 0.2 * jnp.arange(T + 1, dtype=jnp.float32)[None, :, None]  # 0.2 per step, diagonally
  keys = jax.random.split(jax.random.key(9), 16)
  mean_reward = lambda segs: float(jnp.mean(jax.vmap(lambda k: explore.segment_reward(model, segs, k))(keys)))
  assert mean_reward(walk) > mean_reward(still) + 1.0
  # And the formula: +(NLL / T + KL), the negative per-step ELBO, with the same z key.
  terms = vae_bc_terms(model, Batch(walk, jnp.zeros((1, T), jnp.int32)), keys[0])
  np.testing.assert_allclose(explore.segment_reward(model, walk, keys[0]), terms.nll / T + terms.kl, rtol=1e-5)


@pytest.mark.slow
def test_reward_is_negative_per_step_elbo_at_the_authors_indices():
  graphdef, params = nnx.split(Sectar(CFG, rngs=nnx.Rngs(0)), nnx.Param)
  n, segs = 3, 2
  length = explore.rollout_length(T, segs)  # 9 steps: s_0..s_9 = 2 segments of 5 states
  starts = jax.random.normal(jax.random.key(1), (n, 2))
  next_obs = jax.random.normal(jax.random.key(2), (n, length, 2))
  key = jax.random.key(3)
  rewards = explore.elbo_reward_fn(graphdef, T)((params, key), None, starts, next_obs, jnp.zeros((n, length)))
  # By hand: the segments, and +(NLL / T + KL) from the VAE+BC loss terms with the same z key.
  states = np.concatenate([np.asarray(starts)[:, None], np.asarray(next_obs)], axis=1).reshape(n * segs, T + 1, 2)
  terms = vae_bc_terms(
    nnx.merge(graphdef, params), Batch(jnp.asarray(states), jnp.zeros((n * segs, T), jnp.int32)), key
  )
  per_seg = (np.asarray(terms.nll) / T + np.asarray(terms.kl)).reshape(n, segs)
  expected = np.zeros((n, length), np.float32)
  expected[:, T] = per_seg[:, 0]  # the action after segment 0's last state s_T (the authors' rewidx)
  expected[:, length - 1] = per_seg[:, 1]  # the last action
  np.testing.assert_allclose(np.asarray(rewards), expected, rtol=1e-5, atol=1e-4)
  assert np.count_nonzero(np.asarray(rewards)) == n * segs


def test_reward_indices_are_the_authors():
  assert explore.reward_indices(19, 5) == [19, 39, 59, 79, 98]  # range(19, 99, 20) + [98]
  assert explore.reward_indices(19, 10) == list(range(19, 199, 20)) + [198]
  assert explore.reward_indices(4, 1) == [3]


def test_cut_segments_keeps_each_segments_own_actions():
  starts = jnp.zeros((1, 1))
  next_obs = jnp.arange(1, 10, dtype=jnp.float32).reshape(1, 9, 1)  # states 0..9
  actions = jnp.arange(9).reshape(1, 9)  # action j taken from state j
  s, a = explore.cut_segments(starts, next_obs, actions, T)
  np.testing.assert_array_equal(np.asarray(s[..., 0]), [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]])
  np.testing.assert_array_equal(np.asarray(a), [[0, 1, 2, 3], [5, 6, 7, 8]])


BIG = dataclasses.replace(CFG, policy_mlp=(400, 300, 200))  # the authors' explorer MLP


def run_step(reset_entropy, do_update=True, explorer=None, cfg=CFG):
  env = make_env("waypoint")
  graphdef, params = nnx.split(Sectar(cfg, rngs=nnx.Rngs(0)), nnx.Param)
  ecfg = ExploreConfig(
    num_starts=8, num_segments=2, reset_entropy=reset_entropy, ppo=PPOConfig(epochs=2, minibatch_size=200)
  )
  egraphdef, eparams = explore.init_explorer(cfg, ecfg, jax.random.key(5))
  step = jax.jit(explore.make_explore_step(env, graphdef, egraphdef, cfg, ecfg, T))
  state = ppo.init_ppo_state(eparams if explorer is None else explorer, ecfg.ppo)
  buf = rb.empty(100, T, 2)
  pool = jnp.broadcast_to(env.start_state, (16, 2))
  new, buf, m = step(state, params, buf, pool, jax.random.key(6), jnp.asarray(do_update))
  return state, new, buf, m


def leaves_equal(a, b):
  return all(jax.tree.leaves(jax.tree.map(lambda x, y: bool(jnp.all(x == y)), a, b)))


@pytest.mark.slow
def test_explore_step_fills_buffer_and_updates():
  state, new, buf, m = run_step(reset_entropy=-1.0)
  assert int(buf.size) == 8 * 2 and float(m["explore_reset"]) == 0.0
  assert float(m["explore_entropy"]) > 1.0 and np.isfinite(float(m["explore_neg_elbo"]))
  # Every segment is a real walk: consecutive states differ by one 0.2 move (or stay at the border).
  steps = np.linalg.norm(np.diff(np.asarray(buf.states[:16]), axis=1), axis=-1)
  assert np.all(steps < 0.2 + 1e-5)
  assert not leaves_equal(new.params, state.params)
  # With no update the explorer is unchanged.
  state, same, _, _ = run_step(reset_entropy=-1.0, do_update=False)
  assert leaves_equal(same.params, state.params)


@pytest.mark.slow
def test_fresh_explorer_starts_above_the_reset_threshold():
  """The authors' init (xavier-uniform weights, torch-default biases) gives a fresh 400-300-200 explorer an
  entropy of ~1.36 > 1.34 (waypoint) and ~1.76 > 1.6 (block); flax's default init gave 1.20-1.27."""
  for env_name, obs_dim, acts, threshold in (("waypoint", 2, 4, 1.34), ("block", 15, 6, 1.6)):
    cfg = SectarModelConfig(obs_dim=obs_dim, action_dim=acts)
    s0 = make_env(env_name).start_state
    ents = [
      float(ppo.entropy(PolicyDecoder(cfg, use_latent=False, rngs=nnx.Rngs(seed)), s0, None)) for seed in range(10)
    ]
    assert np.mean(ents) > threshold + 0.01, (env_name, ents)
  # In the explore step at the first iteration (no update): no reset.
  state, new, _, m = run_step(reset_entropy=1.34, do_update=False, cfg=BIG)
  assert float(m["explore_entropy"]) > 1.34 and float(m["explore_reset"]) == 0.0
  assert leaves_equal(new.params, state.params)


@pytest.mark.slow
def test_low_entropy_explorer_is_reset_weights_only():
  _, eparams = explore.init_explorer(BIG, ExploreConfig(), jax.random.key(5))
  policy = nnx.merge(nnx.split(PolicyDecoder(BIG, use_latent=False, rngs=nnx.Rngs(0)), nnx.Param)[0], eparams)
  policy.net.out.bias[...] = jnp.array([30.0, 0.0, 0.0, 0.0])  # a learned, nearly deterministic policy
  low = nnx.split(policy, nnx.Param)[1]
  state, new, _, m = run_step(reset_entropy=1.34, explorer=low, cfg=BIG)
  assert float(m["explore_entropy"]) < 0.01 and float(m["explore_reset"]) == 1.0
  # Weight matrices re-drawn, biases and the Adam state kept (the authors' apply(xavier_init)).
  kernels = lambda p: [
    x for path, x in jax.tree_util.tree_leaves_with_path(p) if "kernel" in jax.tree_util.keystr(path)
  ]
  biases = lambda p: [x for path, x in jax.tree_util.tree_leaves_with_path(p) if "bias" in jax.tree_util.keystr(path)]
  assert all(not bool(jnp.all(a == b)) for a, b in zip(kernels(new.params), kernels(state.params)))
  _, updated, _, _ = run_step(reset_entropy=-1.0, explorer=low, cfg=BIG)  # the same update, no reset
  assert leaves_equal(biases(new.params), biases(updated.params))
  assert leaves_equal(new.opt_state, updated.opt_state)
  assert int(jax.tree.leaves(new.opt_state)[0]) > 0  # Adam's step count was not restarted
  # An ordinary (fresh) explorer at the same threshold is not reset.
  _, _, _, m = run_step(reset_entropy=1.34, cfg=BIG)
  assert float(m["explore_reset"]) == 0.0


def test_starts_are_drawn_without_replacement():
  pool = jnp.arange(800, dtype=jnp.float32)[:, None] * jnp.ones((1, 2))
  starts = explore.choose_starts(pool, jax.random.key(0), 400)
  assert len(np.unique(np.asarray(starts[:, 0]))) == 400
  assert explore.choose_starts(pool[:10], jax.random.key(0), 20).shape == (20, 2)  # more than the pool: repeats
