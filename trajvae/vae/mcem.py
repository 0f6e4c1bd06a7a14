"""Monte Carlo EM with Hybrid (Hamiltonian) Monte Carlo: the paper's third baseline (Kingma & Welling, §5, Fig. 3).

No encoder: every training image i keeps a persistent latent z_i (a Markov chain on its posterior
p(z | x_i) ∝ p(z) p(x_i | z)). A step takes a minibatch, moves each of its chains by HMC transitions
(blackjax, `mcem.leapfrog_steps` leapfrog steps, one step size for all chains, adapted towards the
target acceptance rate), then takes `mcem.m_steps` Adagrad steps on the decoder's log p(x, z) at those
samples. The state (decoder, optimiser, chains, step size) is one pytree on the shared driver, so a
run resumes exactly.

The marginal likelihood of any decoder (MCEM's, AEVB's, wake-sleep's) is estimated without an encoder
by `hmc_importance_log_likelihood`: HMC samples of each image's posterior, a Gaussian fitted to them,
and importance sampling from that Gaussian (k samples). It also returns the reciprocal estimator
1/p(x) ≈ mean r(z)/p(x, z) over posterior samples, which is how we read the paper's appendix D.
"""

from __future__ import annotations

import functools
import math
import pathlib
from typing import Any, Mapping

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx, struct

from trajvae.config import field_defaults
from trajvae.core.distributions import standard_normal_log_prob
from trajvae.core.objectives import importance_weighted_bound
from trajvae.train import driver
from trajvae.train.checkpoint import CheckpointStore
from trajvae.train.metrics import MetricWriter
from trajvae.train.optim import make_optimizer
from trajvae.train.workdir import workdir_path
from trajvae.vae import objective
from trajvae.vae.batches import batch_indices
from trajvae.vae.configs import VAEConfig
from trajvae.vae.model import VAE, init_model

NAME = "vae-mcem"


@struct.dataclass
class MCEMState:
  step: jax.Array
  params: nnx.State  # the whole VAE's; only the decoder is trained (the encoder stays at its init)
  opt_state: optax.OptState
  chains: jax.Array  # [num_train, latent_dim], one persistent posterior sample per training image
  log_step_size: jax.Array  # HMC step size, shared by the chains, adapted to the target acceptance


def log_joint(model: VAE, x: jax.Array, z: jax.Array) -> jax.Array:
  """log p(z) + log p(x | z) for one image x [D] and latent z [latent]."""
  return objective.decoder_log_prob(model, x, z) + standard_normal_log_prob(z)


def hmc_transition(
  model: VAE, key: jax.Array, z: jax.Array, x: jax.Array, step_size: jax.Array, leapfrog_steps: int
) -> tuple[jax.Array, jax.Array]:
  """One blackjax HMC transition of each chain z [B, latent] targeting p(z | x_b); (new z, acceptance [B]).

  step_size is one for all chains (a scalar) or one per chain ([B]).
  """

  def one(key, z, x, step_size):
    kernel = blackjax.hmc(lambda v: log_joint(model, x, v), step_size, jnp.ones(z.shape[-1]), leapfrog_steps)
    state, info = kernel.step(key, kernel.init(z))
    return state.position, info.acceptance_rate

  step_size = jnp.broadcast_to(step_size, z.shape[:1])
  return jax.vmap(one)(jax.random.split(key, z.shape[0]), z, x, step_size)


def decoder_mask(params: nnx.State) -> Any:
  """True on the decoder's leaves: MCEM's M-step trains only the generative model."""
  flat = jax.tree_util.tree_flatten_with_path(params)[0]
  leaves = ["decoder" in jax.tree_util.keystr(path) for path, _ in flat]
  return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(params), leaves)


def make_tx(config: VAEConfig, params: nnx.State) -> optax.GradientTransformation:
  return optax.masked(make_optimizer(config.optim), decoder_mask(params))


def init_state(config: VAEConfig, num_train: int) -> tuple[nnx.GraphDef, MCEMState]:
  graphdef, params = init_model(config.model, config.train.seed)
  chains = jax.random.normal(jax.random.key(config.train.seed + 1), (num_train, config.model.latent_dim))
  state = MCEMState(
    jnp.zeros((), jnp.int32),
    params,
    make_tx(config, params).init(params),
    chains,
    jnp.asarray(math.log(config.mcem.initial_step_size), jnp.float32),
  )
  return graphdef, state


def make_step(graphdef: nnx.GraphDef, config: VAEConfig, tx: optax.GradientTransformation):
  """The jitted step(state, idx, x, key) -> (state, metrics): an E-step on the minibatch's chains, then M-steps."""
  mcem = config.mcem

  def m_loss(params, x, z):
    return -jax.vmap(lambda xi, zi: log_joint(nnx.merge(graphdef, params), xi, zi))(x, z).mean()

  @jax.jit
  def step(state: MCEMState, idx: jax.Array, x: jax.Array, key: jax.Array):
    model = nnx.merge(graphdef, state.params)
    z = state.chains[idx]
    step_size = jnp.exp(state.log_step_size)
    accept = []
    for i in range(mcem.hmc_transitions):
      z, acceptance = hmc_transition(model, jax.random.fold_in(key, i), z, x, step_size, mcem.leapfrog_steps)
      accept.append(acceptance.mean())
    acceptance = jnp.stack(accept).mean()
    log_step_size = state.log_step_size + mcem.adapt_rate * (acceptance - mcem.target_acceptance)
    params, opt_state = state.params, state.opt_state
    for _ in range(mcem.m_steps):
      loss, grads = jax.value_and_grad(m_loss)(params, x, z)
      updates, opt_state = tx.update(grads, opt_state, params)
      params = optax.apply_updates(params, updates)
    new = MCEMState(state.step + 1, params, opt_state, state.chains.at[idx].set(z), log_step_size)
    return new, {"loss": loss, "log_joint": -loss, "acceptance": acceptance, "step_size": jnp.exp(log_step_size)}

  return step


def train(
  config: VAEConfig,
  workdir: str | pathlib.Path,
  config_dict: Mapping[str, Any],
  train_images: np.ndarray,
  verbose: bool = True,
  on_step=None,
) -> MCEMState:
  """Train (or resume) MCEM in workdir on the shared driver; returns the final state."""
  workdir = workdir_path(workdir)
  num_train = len(train_images)
  graphdef, state = init_state(config, num_train)
  step = make_step(graphdef, config, make_tx(config, state.params))
  images = jnp.asarray(train_images)

  def step_fn(state: MCEMState, i: int, key: jax.Array):
    idx = jnp.asarray(batch_indices(num_train, config.train.batch_size, config.train.seed, i))
    return step(state, idx, images[idx], key)

  store = CheckpointStore(
    workdir / "checkpoints",
    NAME,
    dict(config_dict),
    config.train.checkpoint_every,
    config.train.keep_checkpoints,
    defaults=field_defaults(VAEConfig),
  )
  return driver.run(
    state,
    step_fn,
    config.train.steps,
    store,
    MetricWriter(workdir),
    name=NAME,
    seed=config.train.seed,
    log_every=config.train.log_every,
    shown=("loss", "acceptance"),
    verbose=verbose,
    on_step=on_step,
  )


def load_params(config: VAEConfig, workdir: str | pathlib.Path, num_train: int) -> tuple[nnx.GraphDef, nnx.State, int]:
  """The decoder (inside the VAE's params) of an MCEM run's latest checkpoint, and its step."""
  graphdef, template = init_state(config, num_train)
  store = CheckpointStore(workdir_path(workdir) / "checkpoints", NAME, None, 1, 1_000_000)  # read-only: no config check
  try:
    state = store.restore(template)
  finally:
    store.close()
  return graphdef, state.params, int(state.step)


@functools.partial(jax.jit, static_argnums=(0, 3, 4, 5, 6, 7))
def _posterior_estimate(
  graphdef, params, x, num_burn: int, num_samples: int, k: int, leapfrog_steps: int, chunk: int, key
):
  model = nnx.merge(graphdef, params)
  latent_dim = model.decoder.hidden.in_features
  batch = x.shape[0]
  init_key, burn_key, sample_key, is_key = jax.random.split(key, 4)
  z = jax.random.normal(init_key, (batch, latent_dim))

  def burn(carry, key):  # per-chain Robbins-Monro step size towards 0.8 acceptance
    z, log_eps = carry
    z, acc = hmc_transition(model, key, z, x, jnp.exp(log_eps), leapfrog_steps)
    return (z, log_eps + 0.1 * (acc - 0.8)), acc

  (z, log_eps), _ = jax.lax.scan(burn, (z, jnp.full((batch,), math.log(0.1))), jax.random.split(burn_key, num_burn))

  def draw(z, key):
    z, acc = hmc_transition(model, key, z, x, jnp.exp(log_eps), leapfrog_steps)
    return z, (z, acc)

  _, (samples, acc) = jax.lax.scan(draw, z, jax.random.split(sample_key, 2 * num_samples))
  fit, test = samples[::2], samples[1::2]  # [S, B, latent]: fit the Gaussian on one half, estimate on the other
  mean = fit.mean(0)
  centred = fit - mean
  cov = jnp.einsum("sbi,sbj->bij", centred, centred) / num_samples
  cov = 1.5 * cov + 1e-4 * jnp.eye(latent_dim)  # widened: importance weights want heavier tails than the posterior
  chol = jnp.linalg.cholesky(cov)

  def log_r(v):  # v [..., B, latent]
    sol = jax.scipy.linalg.solve_triangular(chol, (v - mean)[..., None], lower=True)[..., 0]
    log_det = jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)).sum(-1)
    return -0.5 * (sol**2).sum(-1) - log_det - 0.5 * latent_dim * math.log(2 * math.pi)

  def log_p(v):  # [S, B, latent] -> [S, B]
    return objective.decoder_log_prob(model, jnp.broadcast_to(x, (v.shape[0], *x.shape)), v) + standard_normal_log_prob(
      v
    )

  def log_weights(key, n):
    v = mean + jnp.einsum("bij,nbj->nbi", chol, jax.random.normal(key, (n, batch, latent_dim)))
    return jnp.moveaxis(log_p(v) - log_r(v), 0, -1)

  importance = importance_weighted_bound(log_weights, is_key, k, chunk)
  reciprocal = -(jax.nn.logsumexp(log_r(test) - log_p(test), axis=0) - math.log(num_samples))
  return importance, reciprocal, acc.mean(0)


def hmc_importance_log_likelihood(
  graphdef: nnx.GraphDef,
  params: nnx.State,
  images: np.ndarray,
  key: jax.Array,
  *,
  num_burn: int = 100,
  num_samples: int = 100,
  k: int = 5000,
  leapfrog_steps: int = 10,
  batch_size: int = 100,
  chunk: int = 500,
) -> dict[str, float]:
  """Mean log p(x) (nats/image) of a decoder by HMC-fitted importance sampling, and by the reciprocal estimator."""
  totals = {"importance": 0.0, "reciprocal": 0.0, "acceptance": 0.0}
  for start in range(0, len(images), batch_size):
    x = jnp.asarray(images[start : start + batch_size])
    out = _posterior_estimate(
      graphdef, params, x, num_burn, num_samples, k, leapfrog_steps, chunk, jax.random.fold_in(key, start)
    )
    for name, value in zip(totals, out):
      totals[name] += float(np.asarray(value, np.float64).sum())
  return {name: total / len(images) for name, total in totals.items()}
