"""One jitted training step of every model: it runs, its loss is finite, the parameters move and keep their shapes.

The flax examples' sanity check, one per model, on tiny configs and random batches (seconds each):
the VAE, MusicVAE (flat and hierarchical decoder), SeCTAR's VAE + behaviour-cloning step and its
policy-decoder PPO update, and the latent structured learners' subgradient step (randomized and classic).
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from trajvae.config import select_preset
from trajvae.music import objective as music_objective
from trajvae.music.configs import MusicModelConfig, MusicVAEConfig
from trajvae.music.model import init_model as init_music_model
from trajvae.sectar import ppo
from trajvae.sectar.configs import PPOConfig, SectarModelConfig
from trajvae.sectar.envs import make_env
from trajvae.sectar.losses import Batch, vae_bc_loss
from trajvae.sectar.model import Sectar
from trajvae.structured.configs import LearnerConfig
from trajvae.structured.learners import full_objective, initial_weights
from trajvae.structured.losses import full_latent_loss, randomized_latent_loss
from trajvae.structured.solver import stochastic_subgradient
from trajvae.structured.synthetic import PlantedMultilabel, make_planted_data
from trajvae.train.optim import make_optimizer
from trajvae.train.supervised import init_train_state, make_train_step
from trajvae.vae import commands as vae
from trajvae.vae.model import init_model as init_vae_model


def assert_moved(before, after, idle: tuple[str, ...] = ()) -> None:
  """Same tree, shapes and dtypes; every leaf finite; every leaf changed by the step, except those
  named in idle (parameters the loss does not depend on), which must stay as they were."""
  assert jax.tree.structure(before) == jax.tree.structure(after)
  for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(before), jax.tree.leaves(after)):
    name = jax.tree_util.keystr(path)
    assert a.shape == b.shape and a.dtype == b.dtype, name
    assert bool(jnp.all(jnp.isfinite(b))), name
    changed = not np.array_equal(np.asarray(a), np.asarray(b))
    assert changed != any(part in name for part in idle), f"{name} {'changed' if changed else 'did not change'}"


def assert_finite_scalars(metrics: dict, *names: str) -> None:
  for name in names:
    value = np.asarray(metrics[name])
    assert value.shape == () and np.isfinite(value), (name, value)


def check_train_step(graphdef, params, loss_fn, tx, batch, idle: tuple[str, ...] = ()) -> dict:
  """One jitted make_train_step step: state advances, params move, loss finite and lower on the same batch and key."""
  state = init_train_state(params, tx)
  key = jax.random.key(1)
  new, metrics = jax.jit(make_train_step(graphdef, loss_fn, tx))(state, batch, key)
  assert int(new.step) == 1
  assert_finite_scalars(metrics, "loss", "grad_norm")
  assert float(metrics["grad_norm"]) > 0
  assert_moved(state.params, new.params, idle)
  assert jax.tree.structure(state.opt_state) == jax.tree.structure(new.opt_state)
  # A small step goes downhill on the loss it followed (same batch, key and step).
  after, _ = jax.jit(lambda p: loss_fn(nnx.merge(graphdef, p), batch, key, state.step))(new.params)
  assert float(after) < float(metrics["loss"]), (float(after), float(metrics["loss"]))
  return metrics


def test_vae_step():
  config = select_preset(vae.PRESETS, "smoke")
  graphdef, params = init_vae_model(config.model, 0)
  images = (jax.random.uniform(jax.random.key(0), (16, config.model.input_dim)) > 0.5).astype(jnp.float32)
  metrics = check_train_step(
    graphdef, params, vae.make_loss_fn(config, num_levels=2), make_optimizer(config.optim), {"image": images}
  )
  assert_finite_scalars(metrics, "elbo", "kl", "log_likelihood")
  assert float(metrics["kl"]) >= 0 and float(metrics["elbo"]) < 0


@pytest.mark.parametrize("decoder,num_steps", [("flat", 32), pytest.param("hierarchical", 64, marks=pytest.mark.slow)])
def test_musicvae_step(decoder, num_steps):
  model = MusicModelConfig(z_size=8, enc_rnn_sizes=(16,), dec_rnn_sizes=(16,), num_steps=num_steps, decoder=decoder)
  config = dataclasses.replace(MusicVAEConfig(), model=model)
  graphdef, params = init_music_model(model, 0)
  tokens = jax.random.randint(jax.random.key(0), (4, num_steps, 1), 0, model.track_depths[0])

  def loss_fn(m, batch, key, step):
    return music_objective.loss_and_metrics(m, batch["tokens"], key, step, config.loss)

  # The conductor runs on zero inputs (its state comes from z, as in Magenta), so its input kernel gets no gradient.
  idle = ("['conductor'][0]['w_in']",) if decoder == "hierarchical" else ()
  check_train_step(graphdef, params, loss_fn, make_optimizer(config.optim), {"tokens": tokens}, idle)


SECTAR_MODEL = SectarModelConfig(
  obs_dim=2, action_dim=4, discrete=True, encoder_hidden=16, decoder_hidden=16, decoder_mlp=(16,), policy_mlp=(16,)
)


def test_sectar_vae_bc_step():
  graphdef, params = nnx.split(Sectar(SECTAR_MODEL, rngs=nnx.Rngs(0)), nnx.Param)
  states = jax.random.normal(jax.random.key(2), (8, 11, 2))
  actions = jax.random.randint(jax.random.key(3), (8, 10), 0, 4)

  def loss_fn(model, batch, key, step):
    loss, terms = vae_bc_loss(model, Batch(batch["states"], batch["actions"]), key, beta=2.0, bc_weight=100.0)
    return loss, {"nll": terms.nll.mean(), "kl": terms.kl.mean(), "bc": terms.bc.mean()}

  # A discrete policy's log_std (used by continuous actions only) gets no gradient.
  metrics = check_train_step(
    graphdef, params, loss_fn, optax.adam(1e-3), {"states": states, "actions": actions}, idle=("['policy']['log_std']",)
  )
  assert_finite_scalars(metrics, "nll", "kl", "bc")


def test_sectar_policy_decoder_ppo_update():
  model = Sectar(SECTAR_MODEL, rngs=nnx.Rngs(0))
  pd_graphdef, pd_params = nnx.split(model.policy, nnx.Param)
  sd_graphdef, sd_params = nnx.split(model.state_decoder, nnx.Param)
  config = PPOConfig(epochs=2, num_minibatches=2)
  update = jax.jit(
    ppo.make_update(
      make_env("waypoint"),
      pd_graphdef,
      ppo.consistency_reward_fn(sd_graphdef),
      config,
      num_envs=8,
      rollout_len=10,
      latent_dim=SECTAR_MODEL.latent_dim,
    )
  )
  state = ppo.init_ppo_state(pd_params, config)
  new, metrics, _ = update(state, sd_params, jnp.zeros((4, 2)), jax.random.key(1))
  assert_finite_scalars(metrics, "reward", "loss", "entropy", "approx_kl")
  assert float(metrics["entropy"]) > 0
  assert_moved(state.params, new.params, idle=("['log_std']",))  # continuous actions only


@pytest.mark.parametrize("learner", ["randomized", "classic"])
def test_structured_subgradient_step(learner):
  problem = PlantedMultilabel(num_bits=3, num_views=4, view_dim=5)
  data = make_planted_data(problem, seed=0, num_train=16, num_test=1)
  xs, ys = jnp.asarray(data.train_x, jnp.float32), jnp.asarray(data.train_y, jnp.int32)
  config = LearnerConfig()
  w0 = initial_weights(problem, config, jax.random.key(0))
  if learner == "randomized":
    samples = jax.vmap(problem.sample_proposal, in_axes=(0, 0, None))(jax.random.split(jax.random.key(1), 16), xs, 6)
    examples = (xs, ys, *samples)

    def loss(w, example):
      return randomized_latent_loss(problem, w, *example)
  else:
    examples = (xs, ys, jax.vmap(problem.impute, in_axes=(None, 0, 0))(w0, xs, ys))

    def loss(w, example):
      return full_latent_loss(problem, w, *example)

  # One epoch of one full batch: exactly one subgradient step.
  step = jax.jit(
    lambda w, d, k: stochastic_subgradient(
      loss, w, d, k, lam=config.lam, epochs=1, batch_size=16, step_offset=config.step_offset
    )
  )
  w, trace = step(w0, examples, jax.random.key(2))
  assert w.shape == w0.shape == (problem.feature_dim,) and trace.shape == (1,)
  assert_moved(w0, w)
  objective = jax.jit(lambda v: full_objective(problem, v, xs, ys, config.lam))
  before, after = float(objective(w0)), float(objective(w))
  assert np.isfinite(after) and after < before, (before, after)
