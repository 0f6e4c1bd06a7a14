"""The configs every model shares: the optimiser and the supervised loop's settings.

Plain dataclasses without JAX, so that the CLI can check a preset and its
overrides (and answer a mistake in one line) before it imports any model.
"""

from __future__ import annotations

import dataclasses
from typing import Literal


@dataclasses.dataclass(frozen=True)
class OptimConfig:
  """Optimiser settings shared by every model."""

  # adagrad is what Kingma & Welling used; adam is what MusicVAE and SeCTAR use.
  name: Literal["adam", "adagrad", "sgd"] = "adam"
  learning_rate: float = 1e-3
  # Adam's epsilon (the SeCTAR authors' Adam uses 1e-5; optax's and TensorFlow's default is 1e-8).
  adam_eps: float = 1e-8
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


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Loop settings shared by every model."""

  steps: int = 10_000
  batch_size: int = 100
  seed: int = 0
  log_every: int = 100
  # 0 disables periodic evaluation.
  eval_every: int = 0
  checkpoint_every: int = 1_000
  keep_checkpoints: int = 3
