"""MusicVAE's schedules fitted to a run length: the maths behind the CPU presets and `--set train.steps=N`.

The schedules themselves are evaluated in trajvae.music.objective (kl_beta,
sampling_probability); this module moves their parameters: the KL weight's rate
re-timed to another run length, and the inverse-sigmoid sampling rate k solved
(Newton on k ln k = midpoint) to put p = 1/2 at a given step. Plain Python, no
JAX: the presets in configs.py are built from these functions, and the CLI
reads presets before it imports JAX.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
  from trajvae.music.configs import MusicVAEConfig

# music_vae_train.py's default --num_steps: the horizon the reference's schedules were set for.
REFERENCE_STEPS = 200_000


def inverse_sigmoid_rate_for_midpoint(midpoint: float) -> float:
  """k with k * ln k = midpoint: the inverse-sigmoid schedule 1 - k / (k + exp(step / k)) is 1/2 there."""
  k = max(midpoint / max(math.log(max(midpoint, math.e)), 1.0), 1.0 + 1e-6)
  for _ in range(50):  # Newton on k ln k - midpoint
    k = max(k - (k * math.log(k) - midpoint) / (math.log(k) + 1.0), 1.0 + 1e-6)
  return k


def compress_schedules(config: MusicVAEConfig, steps: int, from_steps: int = REFERENCE_STEPS) -> MusicVAEConfig:
  """Schedules set for a run of `from_steps` (the reference's: REFERENCE_STEPS, 200k) fitted to `steps` steps.

  - KL weight: beta_rate ** (200k / steps), so beta ends at the share of max_beta the reference reaches at
    200k steps (1 - e^-2 = 86% for 0.99999). beta_rate 0 (constant beta) is unchanged.
  - Scheduled sampling is not re-timed: see scale_sampling_to_examples (cpu_config). Moving its midpoint
    (6,908 steps for k = 1000, 3.5% of 200k) to the same share of a 2,000-step run fed the model its own
    samples from step ~150, before it had learnt anything, and it ended predicting "hold" everywhere
    (cat-mel_2bar_cpu on the full corpus: test accuracy 0.692 = the always-hold baseline, event accuracy 0).
  - Learning rate: not re-timed; a short run follows the reference's own per-step decay (0.9999^step:
    8.2e-4 at step 2,000, 3.7e-4 at 10,000). Fitting the decay so that the rate met its floor (1e-5) at
    the last step put half of a 2,000-step run below 1e-4, and the model did not get past predicting "hold"
    (test accuracy 0.696 against the always-hold 0.692, event accuracy 0.015; docs/music_data.md).
  """
  factor = from_steps / steps
  loss = config.loss
  if 0 < loss.beta_rate < 1:
    loss = dataclasses.replace(loss, beta_rate=loss.beta_rate**factor)
  return dataclasses.replace(config, loss=loss, schedule_steps=steps)


def scale_sampling_to_examples(config: MusicVAEConfig, reference_batch: int) -> MusicVAEConfig:
  """The inverse-sigmoid sampling schedule moved to the same number of training examples at config's batch.

  Scheduled sampling should start once the decoder predicts its next token well, which depends on the data
  it has seen, not on the share of the run: the reference's midpoint (6,908 steps of 512, 3.5M examples)
  is at 55,264 steps of 64. Shorter CPU runs therefore train almost teacher-forced (p = 0.0002 at step
  2,000 of 64) and are evaluated on their own samples as the reference evaluates (p = 1).
  """
  loss = config.loss
  if loss.sampling_schedule != "inverse_sigmoid":
    return config
  midpoint = loss.sampling_rate * math.log(loss.sampling_rate) * reference_batch / config.train.batch_size
  return dataclasses.replace(
    config, loss=dataclasses.replace(loss, sampling_rate=inverse_sigmoid_rate_for_midpoint(midpoint))
  )


def fit_schedules(config: MusicVAEConfig) -> MusicVAEConfig:
  """config with its schedules re-timed to train.steps, when a preset fitted them to another length.

  A CPU preset compresses the reference's KL-weight schedule to its own step count; `--set train.steps=N`
  on it would otherwise reach the top beta at the preset's length, not at N. The
  reference presets (schedule_steps 0) keep the reference's schedules whatever the run length.
  """
  if not config.schedule_steps or config.schedule_steps == config.train.steps:
    return config
  return compress_schedules(config, config.train.steps, from_steps=config.schedule_steps)
