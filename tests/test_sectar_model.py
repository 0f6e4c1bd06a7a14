"""SeCTAR model and losses: shapes, the open-loop decoder, hand-computed NLL and consistency reward, BC fit."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from trajvae.sectar import losses
from trajvae.sectar.configs import SectarModelConfig
from trajvae.sectar.model import PolicyDecoder, Sectar

SMALL = SectarModelConfig(
  obs_dim=2, action_dim=4, discrete=True, encoder_hidden=16, decoder_hidden=16, decoder_mlp=(16,), policy_mlp=(32, 32)
)


@pytest.mark.slow
def test_shapes_and_encoder_sees_both_directions():
  model = Sectar(SMALL, rngs=nnx.Rngs(0))
  states = jax.random.normal(jax.random.key(1), (5, 20, 2))
  mean, std = model.encoder(states)
  assert mean.shape == std.shape == (5, 8) and bool(jnp.all(std > 0))
  # Changing only the last state changes the pooled code (the backward LSTM feeds every step).
  m2, _ = model.encoder(states.at[:, -1].add(1.0))
  assert float(jnp.abs(m2 - mean).max()) > 1e-4
  means, sd_std = model.state_decoder(mean, states[:, 0], 19)
  assert means.shape == (5, 19, 2) and sd_std.shape == (2,)
  np.testing.assert_allclose(sd_std, [0.1, 0.1], rtol=1e-6)
  logits = model.policy(states, jnp.zeros((5, 20, 8)))
  assert logits.shape == (5, 20, 4)


def test_state_decoder_is_open_loop_on_its_own_means():
  model = Sectar(SMALL, rngs=nnx.Rngs(0))
  z = jax.random.normal(jax.random.key(2), (3, 8))
  s0 = jax.random.normal(jax.random.key(3), (3, 2))
  full, _ = model.state_decoder(z, s0, 6)
  # Restarting from the predicted s_3 with the LSTM state replayed gives the same tail:
  # check the simpler invariant that the prefix does not depend on the length.
  short, _ = model.state_decoder(z, s0, 3)
  np.testing.assert_allclose(full[:, :3], short, rtol=1e-5, atol=1e-6)
  # And that it depends on s_0 and z.
  assert float(jnp.abs(model.state_decoder(z, s0 + 1, 6)[0] - full).max()) > 1e-4
  assert float(jnp.abs(model.state_decoder(z + 1, s0, 6)[0] - full).max()) > 1e-4


def test_nll_and_consistency_reward_hand_computed():
  means = jnp.array([[[0.0, 1.0], [2.0, -1.0]]])  # [1, T=2, D=2]
  targets = jnp.array([[[0.1, 1.0], [2.0, -0.8]]])
  std = jnp.array([0.1, 0.2])
  # log N(x; m, s) = -0.5((x-m)/s)^2 - log s - 0.5 log 2pi
  c = -0.5 * math.log(2 * math.pi)
  step0 = (-0.5 * 1.0 - math.log(0.1) + c) + (0.0 - math.log(0.2) + c)
  step1 = (0.0 - math.log(0.1) + c) + (-0.5 * 1.0 - math.log(0.2) + c)
  np.testing.assert_allclose(losses.consistency_reward(targets, means, std), [[step0, step1]], rtol=1e-6)
  np.testing.assert_allclose(losses.state_decoder_nll(means, std, targets), [-(step0 + step1)], rtol=1e-6)


@pytest.mark.slow
def test_loss_terms_combine_as_stated():
  model = Sectar(SMALL, rngs=nnx.Rngs(0))
  states = jax.random.normal(jax.random.key(1), (4, 20, 2))
  actions = jax.random.randint(jax.random.key(2), (4, 19), 0, 4)
  terms = losses.vae_bc_terms(model, losses.Batch(states, actions), jax.random.key(3), beta=2.0, bc_weight=100.0)
  np.testing.assert_allclose(terms.loss, terms.nll / 19 + 2.0 * terms.kl + 100.0 * terms.bc, rtol=1e-5)
  np.testing.assert_allclose(terms.elbo, -terms.nll - terms.kl, rtol=1e-6)
  # An untrained categorical policy is close to uniform: BC near log 4.
  assert abs(float(terms.bc.mean()) - math.log(4)) < 0.3
  # Hand-check the NLL with the same z: reproduce the sample and decode.
  mean, std = model.encoder(states)
  z = mean + std * jax.random.normal(jax.random.key(3), mean.shape)
  sd_means, sd_std = model.state_decoder(z, states[:, 0], 19)
  manual = 0.5 * jnp.sum(
    ((states[:, 1:] - sd_means) / sd_std) ** 2 + 2 * jnp.log(sd_std) + math.log(2 * math.pi), axis=(1, 2)
  )
  np.testing.assert_allclose(terms.nll, manual, rtol=1e-5)


@pytest.mark.slow
def test_training_reduces_loss_and_fits_bc():
  model = Sectar(SMALL, rngs=nnx.Rngs(0))
  graphdef, params = nnx.split(model, nnx.Param)
  # Trajectories of a point moving with a constant action a: 0.2 * direction(a).
  moves = jnp.array([[0.2, 0], [0, 0.2], [-0.2, 0], [0, -0.2]])
  actions = jax.random.randint(jax.random.key(0), (64,), 0, 4)
  s0 = jax.random.uniform(jax.random.key(1), (64, 2), minval=-1, maxval=1)
  states = s0[:, None] + jnp.arange(20)[None, :, None] * moves[actions][:, None]
  batch = losses.Batch(states, jnp.broadcast_to(actions[:, None], (64, 19)))
  opt = optax.adam(3e-3)
  opt_state = opt.init(params)

  @jax.jit
  def step(params, opt_state, key):
    def f(p):
      return losses.vae_bc_loss(nnx.merge(graphdef, p), batch, key)

    (loss, terms), grads = jax.value_and_grad(f, has_aux=True)(params)
    updates, opt_state = opt.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss, terms

  first = None
  for i in range(150):
    params, opt_state, loss, terms = step(params, opt_state, jax.random.key(i))
    first = float(loss) if first is None else first
  assert float(loss) < 0.2 * first
  assert float(terms.bc.mean()) < 0.2  # the policy decoder reads the action off z


def test_continuous_policy_log_prob():
  cfg = SectarModelConfig(obs_dim=2, action_dim=2, discrete=False, policy_mlp=(8,), policy_init_std=1.0)
  pd = PolicyDecoder(cfg, rngs=nnx.Rngs(0))
  s, z, a = jnp.zeros((3, 2)), jnp.zeros((3, 8)), jnp.ones((3, 2))
  mean, std = pd(s, z)
  np.testing.assert_allclose(std, [1.0, 1.0])
  expected = -0.5 * jnp.sum((a - mean) ** 2, -1) - math.log(2 * math.pi)
  np.testing.assert_allclose(losses.policy_log_prob(pd, s, z, a), expected, rtol=1e-5)


def test_authors_init_heads_and_no_std_floor():
  model = Sectar(SMALL, rngs=nnx.Rngs(0))
  # Encoder heads: ReLU MLPs (32, 32), as the authors' MLP default.
  assert [layer.kernel.shape for layer in model.encoder.mean.hidden] == [(32, 32), (32, 32)]
  assert model.encoder.log_std.out.kernel.shape == (32, 8)
  # Xavier-uniform weights and torch-default biases: U(+-sqrt(6 / (in + out))) and U(+-1 / sqrt(in)).
  pd = PolicyDecoder(SectarModelConfig(), rngs=nnx.Rngs(1))
  layer = pd.net.hidden[0]  # 10 -> 400
  w, b = np.asarray(layer.kernel[...]), np.asarray(layer.bias[...])
  bound = math.sqrt(6 / (10 + 400))
  assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
  assert np.abs(b).max() <= 1 / math.sqrt(10) and np.abs(b).max() > 0.9 / math.sqrt(10)
  # No floor on the state decoder's std (the authors' clamp is commented out).
  model.state_decoder.log_std[...] = jnp.full((2,), math.log(1e-3))
  np.testing.assert_allclose(model.state_decoder.std(), [1e-3, 1e-3], rtol=1e-5)
