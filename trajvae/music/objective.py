"""MusicVAE's training loss, schedules and reconstruction metrics, as in the Magenta reference.

loss = mean_b[ sum_t,tracks CE ] + beta(step) * mean_b[ max(KL_b - free_bits * ln 2, 0) ]
beta(step) = (1 - beta_rate**step) * max_beta   (beta_rate 0: 0 at step 0, then max_beta, as 0**0 = 1)
Scheduled sampling, inverse sigmoid: p(step) = 1 - k / (k + exp(step / k)).
Fitting these schedules' parameters to a run length (beta_rate, k): trajvae.music.schedules.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from trajvae.core.distributions import gaussian_sample, kl_to_standard_normal
from trajvae.core.objectives import elbo_terms
from trajvae.music.configs import MusicLossConfig
from trajvae.music.model import MusicVAE, split_logits


def kl_beta(config: MusicLossConfig, step: jax.Array) -> jax.Array:
  """(1 - beta_rate**step) * max_beta, as -expm1(step * log(beta_rate)) so float32 keeps 0.99999's precision.

  beta_rate 0 follows the reference's tf.pow(0, 0) = 1: beta is 0 at step 0 and max_beta from step 1 on.
  """
  if config.beta_rate == 0:
    return jnp.where(jnp.asarray(step) > 0, config.max_beta, 0.0).astype(jnp.float32)
  return -jnp.expm1(jnp.asarray(step, jnp.float32) * math.log(config.beta_rate)) * config.max_beta


def sampling_probability(config: MusicLossConfig, step: jax.Array | int, training: bool = True) -> jax.Array | float:
  """Probability of feeding the decoder its own sample; any non-zero schedule is 1 at evaluation."""
  if config.sampling_schedule == "teacher_forcing" or (
    config.sampling_schedule == "constant" and config.sampling_rate == 0
  ):
    return 0.0
  if not training:
    return 1.0
  if config.sampling_schedule == "constant":
    return config.sampling_rate
  k = config.sampling_rate
  # 1 - k / (k + exp(step / k)), written as a sigmoid so float32 keeps its precision at small p.
  return jax.nn.sigmoid(jnp.asarray(step, jnp.float32) / k - math.log(k))


def teacher_forced(config: MusicLossConfig, training: bool = True) -> bool:
  """Whether every decoder input is the ground truth: the config's schedule, not a value of p."""
  if config.sampling_schedule == "teacher_forcing":
    return True
  return training and config.sampling_schedule == "constant" and config.sampling_rate == 0


def decoder_logits(
  model: MusicVAE, z: jax.Array, key: jax.Array, tokens: jax.Array, sample_prob: jax.Array | float | None
) -> jax.Array:
  """Logits [B, T, sum(depths)] reconstructing tokens from z, differentiable.

  sample_prob None: teacher forcing (no sampling at all). Otherwise each input
  is the model's own sample with probability sample_prob (scheduled sampling;
  1: free running on the model's samples, as Table 1's sampled accuracy).
  """
  if sample_prob is None:
    return model.decode_teacher_forced(z, tokens)
  return model.decode_scheduled(z, key, tokens, sample_prob)


def reconstruction_log_likelihood(logits: jax.Array, tokens: jax.Array, depths) -> jax.Array:
  """sum over steps and tracks of log p(token) -> [B]."""
  total = 0.0
  for i, part in enumerate(split_logits(logits, depths)):
    log_probs = jax.nn.log_softmax(part, axis=-1)
    total = total + jnp.take_along_axis(log_probs, tokens[..., i : i + 1], axis=-1)[..., 0].sum(-1)
  return total


def token_accuracy(logits: jax.Array, tokens: jax.Array, depths) -> jax.Array:
  """Share of (step, track) positions whose argmax matches the target, per track -> [tracks]."""
  return jnp.stack(
    [jnp.mean(jnp.argmax(part, -1) == tokens[..., i]) for i, part in enumerate(split_logits(logits, depths))]
  )


def event_accuracy(logits: jax.Array, tokens: jax.Array, depths) -> jax.Array:
  """Accuracy over the positions whose target is not token 0 (hold / no new event), per track -> [tracks].

  Token 0 dominates music (about 70% of melody steps are holds), so plain
  accuracy rewards a model that only predicts holds; this counts the events.
  """
  parts = split_logits(logits, depths)
  out = []
  for i, part in enumerate(parts):
    mask = tokens[..., i] != 0
    hits = jnp.sum((jnp.argmax(part, -1) == tokens[..., i]) & mask)
    out.append(hits / jnp.maximum(jnp.sum(mask), 1))
  return jnp.stack(out)


def loss_and_metrics(
  model: MusicVAE, tokens: jax.Array, key: jax.Array, step: jax.Array, config: MusicLossConfig, training: bool = True
) -> tuple[jax.Array, dict[str, jax.Array]]:
  """The reference's loss for a batch of tokens [B, T, tracks], and its logged metrics."""
  z_key, decode_key = jax.random.split(key)
  mean, std = model.encode(tokens)
  z = gaussian_sample(z_key, mean, std)
  p = sampling_probability(config, step, training)
  depths = model.config.track_depths
  logits = decoder_logits(model, z, decode_key, tokens, None if teacher_forced(config, training) else p)
  log_lik = reconstruction_log_likelihood(logits, tokens, depths)
  kl = kl_to_standard_normal(mean, std)
  beta = kl_beta(config, step)
  terms = elbo_terms(log_lik, kl, beta, config.free_bits * math.log(2.0))
  metrics = {
    "r_loss": -log_lik.mean(),
    "kl": kl.mean(),
    "kl_bits": kl.mean() / math.log(2.0),
    "kl_beta": beta,
    "elbo": terms.elbo.mean(),
    "sampling_probability": jnp.asarray(p, jnp.float32),
    "accuracy": token_accuracy(logits, tokens, depths).mean(),
  }
  return terms.loss.mean(), metrics


def reconstruction_accuracy(
  model: MusicVAE, tokens: jax.Array, key: jax.Array, sample_prob: float | None, events_only: bool = False
) -> jax.Array:
  """Per-track accuracy of argmax(logits) vs tokens with z ~ q(z|x), inputs fed with probability
  sample_prob from the model's own samples (None: teacher-forced; 1: sampled, as Table 1) -> [tracks].
  events_only restricts it to positions whose target is not token 0."""
  accuracy = event_accuracy if events_only else token_accuracy
  return accuracy(reconstruction_logits(model, tokens, key, sample_prob), tokens, model.config.track_depths)


def reconstruction_logits(model: MusicVAE, tokens: jax.Array, key: jax.Array, sample_prob: float | None) -> jax.Array:
  """Decoder logits [B, T, sum(depths)] reconstructing tokens from z ~ q(z|x), inputs fed with probability
  sample_prob from the model's own samples, None for teacher forcing (what Table 1's accuracies score)."""
  z_key, decode_key = jax.random.split(key)
  mean, std = model.encode(tokens)
  z = gaussian_sample(z_key, mean, std)
  if sample_prob is None:
    return model.decode_teacher_forced(z, tokens)
  return model.decode(z, decode_key, tokens, sample_prob)[0]
