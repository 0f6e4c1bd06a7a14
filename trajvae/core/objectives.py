"""Variational objectives: the ELBO with beta and free bits, and the importance-weighted bound."""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array


class ElboTerms(NamedTuple):
  """Per-example pieces of a beta-VAE objective.

  loss is what gets minimised: -log_likelihood + beta * max(kl - free_nats, 0).
  elbo is the true bound log_likelihood - kl (beta = 1, no free bits), the number
  to report.
  """

  loss: Array
  elbo: Array
  log_likelihood: Array
  kl: Array


def elbo_terms(log_likelihood: Array, kl: Array, beta: float | Array = 1.0, free_nats: float = 0.0) -> ElboTerms:
  """Combine a reconstruction log-likelihood and a KL into the training loss and the ELBO.

  free_nats is the MusicVAE "free bits" budget (converted to nats by the caller):
  the KL is only penalised above it, so the optimiser leaves that much
  information in the latent code for free. It applies to the total KL of an
  example, as in the MusicVAE reference.
  """
  kl_cost = jnp.maximum(kl - free_nats, 0.0)
  return ElboTerms(
    loss=-log_likelihood + beta * kl_cost,
    elbo=log_likelihood - kl,
    log_likelihood=log_likelihood,
    kl=kl,
  )


def importance_weighted_bound(
  log_weight_fn: Callable[[Array, int], Array],
  key: Array,
  num_samples: int,
  chunk_size: int = 500,
) -> Array:
  """IWAE bound log (1/k) sum_i w_i (Burda et al. 2016), k = num_samples.

  log_weight_fn(key, n) must return log p(x, z_i) - log q(z_i | x) for n fresh
  samples z_i ~ q(z | x) as an array [..., n]. The k samples are drawn in
  chunks of chunk_size under lax.scan with a running log-sum-exp, so memory is
  that of one chunk whatever k is (k = 5000 on a full test set fits).

  Returns the bound with the shape of the leading axes of the log weights.
  """
  if num_samples < 1:
    raise ValueError(f"num_samples must be >= 1, got {num_samples}")
  chunk_size = min(chunk_size, num_samples)
  num_full, remainder = divmod(num_samples, chunk_size)
  full_key, rest_key = jax.random.split(key)

  def accumulate(running: Array, chunk_key: Array) -> tuple[Array, None]:
    chunk = jax.nn.logsumexp(log_weight_fn(chunk_key, chunk_size), axis=-1)
    return jnp.logaddexp(running, chunk), None

  first = log_weight_fn(full_key, chunk_size)
  running = jax.nn.logsumexp(first, axis=-1)
  if num_full > 1:
    keys = jax.random.split(jax.random.fold_in(full_key, 1), num_full - 1)
    running, _ = jax.lax.scan(accumulate, running, keys)
  if remainder:
    running = jnp.logaddexp(running, jax.nn.logsumexp(log_weight_fn(rest_key, remainder), axis=-1))
  return running - math.log(num_samples)
