"""Optimisers and learning-rate schedules built from a typed config (OptimConfig, in trajvae.train.configs)."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from trajvae.train.configs import OptimConfig


def learning_rate_schedule(config: OptimConfig) -> optax.Schedule:
  """The step -> learning-rate function the config describes."""
  if config.schedule == "constant":
    return optax.constant_schedule(config.learning_rate)
  span = config.learning_rate - config.min_learning_rate
  return lambda step: span * config.decay_rate**step + config.min_learning_rate


def zero_if_norm_at_least(threshold: float) -> optax.GradientTransformation:
  """Replace the gradient by zeros when its global norm is >= threshold (a blown-up step is skipped)."""

  def update(updates, state, params=None):
    del params
    norm = optax.global_norm(updates)
    keep = norm < threshold
    return jax.tree.map(lambda g: jnp.where(keep, g, jnp.zeros_like(g)), updates), state

  return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def make_optimizer(config: OptimConfig) -> optax.GradientTransformation:
  """Clip (optional) -> L2 (optional) -> the optimiser, as one optax chain."""
  lr = learning_rate_schedule(config)
  if config.name == "adam":
    core = optax.adam(lr, eps=config.adam_eps)
  elif config.name == "adagrad":
    core = optax.adagrad(lr, initial_accumulator_value=0.0, eps=1e-8)
  else:
    core = optax.sgd(lr)
  parts = []
  if config.zero_grads_above_norm is not None:
    parts.append(zero_if_norm_at_least(config.zero_grads_above_norm))
  if config.clip_global_norm is not None:
    parts.append(optax.clip_by_global_norm(config.clip_global_norm))
  if config.l2_regularization:
    parts.append(optax.add_decayed_weights(config.l2_regularization))
  return optax.chain(*parts, core)


def gradient_step(
    loss_of: Callable[[Any], tuple[jax.Array, Any]], tx: optax.GradientTransformation, params: Any, opt_state: Any
) -> tuple[Any, Any, jax.Array, Any, Any]:
  """One optimiser step on loss_of(params) -> (loss, aux): (params, opt_state, loss, aux, grads).

  The one place a gradient meets an optimiser, shared by the supervised step,
  SeCTAR's VAE fit and PPO's minibatch update.
  """
  (loss, aux), grads = jax.value_and_grad(loss_of, has_aux=True)(params)
  updates, opt_state = tx.update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state, loss, aux, grads
