"""Log-densities, sampling and KL divergences as pure functions.

Every function treats the last axis as the event axis and sums over it, so a
[batch, dim] input gives a [batch] output. Diagonal Gaussians are given by
their mean and standard deviation (not log-variance): models differ in how they
parameterise the scale (log-variance in Kingma & Welling, softplus in MusicVAE)
and convert at their output layer.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

Array = jax.Array

_LOG_2PI = math.log(2.0 * math.pi)


def gaussian_sample(key: Array, mean: Array, std: Array) -> Array:
  """Reparameterised sample mean + std * eps, eps ~ N(0, I); differentiable in mean and std."""
  eps = jax.random.normal(key, mean.shape, mean.dtype)
  return mean + std * eps


def gaussian_log_prob(x: Array, mean: Array, std: Array) -> Array:
  """log N(x; mean, diag(std^2)), summed over the last axis."""
  z = (x - mean) / std
  return jnp.sum(-0.5 * z**2 - jnp.log(std) - 0.5 * _LOG_2PI, axis=-1)


def standard_normal_log_prob(x: Array) -> Array:
  """log N(x; 0, I), summed over the last axis."""
  return jnp.sum(-0.5 * x**2 - 0.5 * _LOG_2PI, axis=-1)


def kl_to_standard_normal(mean: Array, std: Array) -> Array:
  """KL(N(mean, std^2) || N(0, I)) in closed form, summed over the last axis."""
  return 0.5 * jnp.sum(mean**2 + std**2 - 1.0 - 2.0 * jnp.log(std), axis=-1)


def kl_gaussians(mean_q: Array, std_q: Array, mean_p: Array, std_p: Array) -> Array:
  """KL(N(mean_q, std_q^2) || N(mean_p, std_p^2)) in closed form, summed over the last axis."""
  var_ratio = (std_q / std_p) ** 2
  mean_term = ((mean_q - mean_p) / std_p) ** 2
  return 0.5 * jnp.sum(var_ratio + mean_term - 1.0 - jnp.log(var_ratio), axis=-1)


def bernoulli_log_prob(x: Array, logits: Array) -> Array:
  """log Bernoulli(x; sigmoid(logits)) for x in [0, 1], summed over the last axis.

  Written as x*log(p) + (1-x)*log(1-p) through log-sigmoids, which is exact and
  stable for large |logits|.
  """
  return jnp.sum(x * jax.nn.log_sigmoid(logits) + (1.0 - x) * jax.nn.log_sigmoid(-logits), axis=-1)


def categorical_log_prob(labels: Array, logits: Array) -> Array:
  """log Categorical(labels; softmax(logits)) for integer labels.

  labels has the shape of logits without its last (class) axis; the result has
  the shape of labels (no event sum: sequence models sum or mask over time).
  """
  log_probs = jax.nn.log_softmax(logits, axis=-1)
  return jnp.take_along_axis(log_probs, labels[..., None].astype(jnp.int32), axis=-1)[..., 0]
