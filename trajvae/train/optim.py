"""Optimisers and learning-rate schedules built from a typed config."""

from __future__ import annotations

import dataclasses
from typing import Literal

import jax
import jax.numpy as jnp
import optax


@dataclasses.dataclass(frozen=True)
class OptimConfig:
  """Optimiser settings shared by every model."""

  # adagrad is what Kingma & Welling used; adam is what MusicVAE and SeCTAR use.
  name: Literal["adam", "adagrad", "sgd"] = "adam"
  learning_rate: float = 1e-3
  # constant, or MusicVAE's (lr - min_lr) * decay_rate**step + min_lr.
  schedule: Literal["constant", "exponential"] = "constant"
  decay_rate: float = 0.9999
  min_learning_rate: float = 1e-5
  # Global-norm gradient clipping; None disables it.
  clip_global_norm: float | None = None
  # Zero the whole update when the gradient's global norm reaches this (MusicVAE: 10000); None disables it.
  zero_grads_above_norm: float | None = None
  # L2 penalty added to the gradient (Kingma & Welling's N(0, I) prior on the weights).
  l2_regularization: float = 0.0


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
    core = optax.adam(lr)
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
