"""The VAE's ELBO and importance-weighted log-likelihood estimate, as pure functions of (model, x, key)."""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from trajvae.core.distributions import (
  bernoulli_log_prob,
  gaussian_log_prob,
  gaussian_sample,
  kl_to_standard_normal,
  standard_normal_log_prob,
)
from trajvae.core.objectives import ElboTerms, elbo_terms, importance_weighted_bound
from trajvae.vae.model import VAE


def dequantize(key: jax.Array, x: jax.Array, num_levels: int) -> jax.Array:
  """Map intensities k/(L-1) to (k + u)/L, u ~ U[0, 1): continuous data with a proper density."""
  noise = jax.random.uniform(key, x.shape, x.dtype)
  return (jnp.round(x * (num_levels - 1)) + noise) / num_levels


def observe(model: VAE, key: jax.Array, x: jax.Array, num_levels: int) -> jax.Array:
  """The data as the decoder models it: unchanged for Bernoulli, dequantized for Gaussian."""
  return x if model.likelihood == "bernoulli" else dequantize(key, x, num_levels)


def decoder_log_prob(model: VAE, x: jax.Array, z: jax.Array) -> jax.Array:
  """log p(x | z), summed over pixels."""
  if model.likelihood == "bernoulli":
    return bernoulli_log_prob(x, model.decode(z))
  mean, std = model.decode(z)
  return gaussian_log_prob(x, mean, std)


def elbo(model: VAE, x: jax.Array, key: jax.Array, beta: float = 1.0, free_nats: float = 0.0) -> ElboTerms:
  """Per-example ELBO with one reparameterised sample and the analytic KL (the paper's SGVB estimator B)."""
  mean, std = model.encode(x)
  z = gaussian_sample(key, mean, std)
  return elbo_terms(decoder_log_prob(model, x, z), kl_to_standard_normal(mean, std), beta, free_nats)


def log_importance_weights(model: VAE, x: jax.Array, key: jax.Array, num_samples: int) -> jax.Array:
  """log p(x, z_i) - log q(z_i | x) for num_samples z_i ~ q(z|x); x [B, D] -> [B, num_samples]."""
  mean, std = model.encode(x)
  eps = jax.random.normal(key, (num_samples, *mean.shape), mean.dtype)
  z = mean + std * eps  # [S, B, latent]
  log_q = gaussian_log_prob(z, mean, std)
  log_prior = standard_normal_log_prob(z)
  log_lik = decoder_log_prob(model, jnp.broadcast_to(x, (num_samples, *x.shape)), z)
  return jnp.moveaxis(log_lik + log_prior - log_q, 0, -1)


def iwae_log_likelihood(model: VAE, x: jax.Array, key: jax.Array, num_samples: int, chunk_size: int = 500) -> jax.Array:
  """Importance-weighted estimate of log p(x) per example (Burda et al.), num_samples = k."""
  return importance_weighted_bound(lambda k, n: log_importance_weights(model, x, k, n), key, num_samples, chunk_size)


def discrete_log_likelihood_offset(num_features: int, num_levels: int) -> float:
  """Add to a dequantized continuous log-density to bound the discrete data's log-probability."""
  return -num_features * math.log(num_levels)


class WakeSleepTerms(NamedTuple):
  """Per-example losses of the two phases; each one's gradient reaches only one network."""

  wake: jax.Array  # -log p(x, z), z ~ q(z|x) held fixed: trains the decoder
  sleep: jax.Array  # -log q(z | x'), (z, x') ~ p(z) p(x|z) held fixed: trains the encoder
  elbo: jax.Array  # log p(x, z) - log q(z|x) at the wake sample (a one-sample bound, for logging)


def dream(model: VAE, key: jax.Array, num: int) -> tuple[jax.Array, jax.Array]:
  """(z, x) drawn from the generative model p(z) p(x|z), without gradients: the sleep phase's data."""
  z_key, x_key = jax.random.split(key)
  z = jax.random.normal(z_key, (num, model.decoder.hidden.in_features))
  if model.likelihood == "bernoulli":
    x = jax.random.bernoulli(x_key, jax.nn.sigmoid(model.decode(z))).astype(z.dtype)
  else:
    mean, std = model.decode(z)
    x = gaussian_sample(x_key, mean, std)
  return z, jax.lax.stop_gradient(x)


def wake_sleep(model: VAE, x: jax.Array, key: jax.Array) -> WakeSleepTerms:
  """Hinton et al. (1995)'s two phases on the VAE's encoder (recognition model) and decoder (generative model).

  Wake: sample z from the encoder, treat it as observed, and fit the generative model to (x, z).
  Sleep: dream (z, x') from the generative model and fit the encoder to recover z from x'.
  The stop-gradients make the wake loss a function of the decoder only and the sleep loss of the encoder only,
  so one optimiser step on their sum is one step of each phase.
  """
  wake_key, sleep_key = jax.random.split(key)
  mean, std = jax.lax.stop_gradient(model.encode(x))
  z = gaussian_sample(wake_key, mean, std)
  log_joint = decoder_log_prob(model, x, z) + standard_normal_log_prob(z)
  z_dream, x_dream = dream(model, sleep_key, x.shape[0])
  z_dream = jax.lax.stop_gradient(z_dream)
  q_mean, q_std = model.encode(x_dream)
  sleep = -gaussian_log_prob(z_dream, q_mean, q_std)
  return WakeSleepTerms(-log_joint, sleep, log_joint - gaussian_log_prob(z, mean, std))
