"""SeCTAR's objectives as pure functions of (model, batch).

vae_bc_loss (the authors' vae_bc.py): decoder NLL / T + beta * KL(q(z|tau) || N(0, I))
+ bc_weight * mean_t[-log pi(a_t | s_t, z)], one loss over encoder, state decoder
and policy decoder (the policy is behaviour-cloned on buffer actions through the
encoder's z). Defaults beta = 2, bc_weight = 100 as in the authors' configs.
consistency_reward (train_pd_match_sd): per-step log N(s_t; mu_t^SD(z, s_0), sigma^2)
of the policy's simulated states under the state decoder's prediction.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from trajvae.core.distributions import categorical_log_prob, gaussian_log_prob, gaussian_sample, kl_to_standard_normal
from trajvae.sectar.model import PolicyDecoder, Sectar

Array = jax.Array


class Batch(NamedTuple):
  """Trajectory segments: states [B, T+1, D] (s_0..s_T) and the actions taken from s_0..s_{T-1}.

  actions: int [B, T] (discrete) or float [B, T, A] (continuous).
  """

  states: Array
  actions: Array


class LossTerms(NamedTuple):
  loss: Array
  nll: Array  # per trajectory, summed over time and dimensions
  kl: Array
  bc: Array  # mean over time of -log pi(a_t | s_t, z)
  elbo: Array  # -nll - kl: the bound (beta = 1), per trajectory


def state_decoder_nll(means: Array, std: Array, targets: Array) -> Array:
  """-sum_t log N(s_t; mean_t, diag(std^2)) over s_1..s_T: [..., T, D] -> [...]."""
  return -jnp.sum(gaussian_log_prob(targets, means, std), axis=-1)


def consistency_reward(states: Array, sd_means: Array, sd_std: Array) -> Array:
  """Per-step reward log N(s_t; mu_t^SD, diag(sigma^2)) for the policy's states s_1..s_T: [..., T, D] -> [..., T]."""
  return gaussian_log_prob(states, sd_means, sd_std)


def policy_log_prob(policy: PolicyDecoder, states: Array, latents: Array | None, actions: Array) -> Array:
  """log pi(a | s, z) for each step: [..., D], [..., Z], actions -> [...]."""
  out = policy(states, latents)
  if policy.discrete:
    return categorical_log_prob(actions, out)
  mean, std = out
  return gaussian_log_prob(actions, mean, std)


def vae_bc_terms(model: Sectar, batch: Batch, key: Array, beta: float = 2.0, bc_weight: float = 100.0) -> LossTerms:
  """Per-trajectory terms of the VAE + behaviour-cloning loss (z sampled once per trajectory)."""
  states = batch.states
  length = states.shape[-2] - 1
  mean, std = model.encoder(states)
  z = gaussian_sample(key, mean, std)
  sd_means, sd_std = model.state_decoder(z, states[..., 0, :], length)
  nll = state_decoder_nll(sd_means, sd_std, states[..., 1:, :])
  kl = kl_to_standard_normal(mean, std)
  zt = jnp.broadcast_to(z[..., None, :], states.shape[:-2] + (length, z.shape[-1]))
  bc = -jnp.mean(policy_log_prob(model.policy, states[..., :-1, :], zt, batch.actions), axis=-1)
  loss = nll / length + beta * kl + bc_weight * bc
  return LossTerms(loss=loss, nll=nll, kl=kl, bc=bc, elbo=-nll - kl)


def vae_bc_loss(
  model: Sectar, batch: Batch, key: Array, beta: float = 2.0, bc_weight: float = 100.0
) -> tuple[Array, LossTerms]:
  """Batch-mean loss for jax.grad, with the per-trajectory terms as aux."""
  terms = vae_bc_terms(model, batch, key, beta, bc_weight)
  return jnp.mean(terms.loss), terms
