"""Kingma & Welling's MLP encoder and decoders as Flax NNX modules.

Encoder: h = tanh(W x + b); mean = W_m h + b_m; log sigma^2 = W_s h + b_s.
Bernoulli decoder: logits = W_o tanh(W_h z + b_h) + b_o.
Gaussian decoder: the same hidden layer, mean = sigmoid(W_m h + b_m) (the
paper constrains the Frey-face means to (0, 1) this way) and log sigma^2 = W_s h + b_s.
Weights start from N(0, init_std^2) as in the paper (init_std = 0.01).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from trajvae.vae.configs import VAEModelConfig


def _dense(din: int, dout: int, init_std: float, rngs: nnx.Rngs) -> nnx.Linear:
  normal = nnx.initializers.normal(init_std)
  return nnx.Linear(din, dout, kernel_init=normal, bias_init=normal, rngs=rngs)


class GaussianMLP(nnx.Module):
  """x -> (mean, std) of a diagonal Gaussian through one tanh hidden layer."""

  def __init__(self, din: int, hidden: int, dout: int, init_std: float, squash_mean: bool, *, rngs: nnx.Rngs):
    self.hidden = _dense(din, hidden, init_std, rngs)
    self.mean = _dense(hidden, dout, init_std, rngs)
    self.log_var = _dense(hidden, dout, init_std, rngs)
    self.squash_mean = squash_mean

  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    h = jnp.tanh(self.hidden(x))
    mean = self.mean(h)
    if self.squash_mean:
      mean = jax.nn.sigmoid(mean)
    return mean, jnp.exp(0.5 * self.log_var(h))


class BernoulliMLP(nnx.Module):
  """z -> Bernoulli logits through one tanh hidden layer."""

  def __init__(self, din: int, hidden: int, dout: int, init_std: float, *, rngs: nnx.Rngs):
    self.hidden = _dense(din, hidden, init_std, rngs)
    self.logits = _dense(hidden, dout, init_std, rngs)

  def __call__(self, z: jax.Array) -> jax.Array:
    return self.logits(jnp.tanh(self.hidden(z)))


class VAE(nnx.Module):
  """Encoder q(z|x) and decoder p(x|z); the objective lives in trajvae.vae.objective."""

  def __init__(self, config: VAEModelConfig, *, rngs: nnx.Rngs):
    self.likelihood = config.likelihood
    self.encoder = GaussianMLP(
      config.input_dim, config.hidden_dim, config.latent_dim, config.init_std, False, rngs=rngs
    )
    if config.likelihood == "bernoulli":
      self.decoder = BernoulliMLP(config.latent_dim, config.hidden_dim, config.input_dim, config.init_std, rngs=rngs)
    else:
      self.decoder = GaussianMLP(
        config.latent_dim, config.hidden_dim, config.input_dim, config.init_std, True, rngs=rngs
      )

  def encode(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Posterior mean and standard deviation, each [..., latent_dim]."""
    return self.encoder(x)

  def decode(self, z: jax.Array):
    """Decoder distribution parameters: logits (Bernoulli) or (mean, std) (Gaussian)."""
    return self.decoder(z)

  def decode_mean(self, z: jax.Array) -> jax.Array:
    """The decoder's expected image, in [0, 1]."""
    out = self.decoder(z)
    return jax.nn.sigmoid(out) if self.likelihood == "bernoulli" else out[0]


def init_model(config: VAEModelConfig, seed: int) -> tuple[nnx.GraphDef, nnx.State]:
  """Build the VAE and split it into (graphdef, params) for the functional API."""
  model = VAE(config, rngs=nnx.Rngs(seed))
  graphdef, params = nnx.split(model, nnx.Param)
  return graphdef, params
