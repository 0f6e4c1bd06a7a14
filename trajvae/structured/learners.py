"""The learners: the classic latent structural SVM, Bello & Honorio's randomized learner, and a control.

All minimise lam/2 ||w||^2 + (1/n) sum_i loss_i(w) with the same Pegasos solver, jit-compiled
end to end with every example's work vmapped; they differ only in the loss (and CCCP's alternation).

- `fit_latent_ssvm` (Yu & Joachims 2009): the concave-convex procedure. Each outer iteration
  imputes h*_i = argmax_h <phi(x_i, y_i, h), w> for the true outputs, then runs stochastic
  subgradient on the convex structural SVM with those latents fixed, whose loss needs the exact
  loss-augmented argmax over all of Y x H (slack rescaling by default, margin rescaling as Yu &
  Joachims wrote it).
- `fit_direct`, a control: the same direct subgradient on the full loss (max over all of Y x H),
  which separates the effect of sampling from that of dropping the CCCP alternation.
- `fit_randomized` (Bello & Honorio 2018): stochastic subgradient directly on the slack-rescaled
  latent-margin loss maximised over T pairs per example drawn from the proposal R(x_i), with
  T = ceil(c log n) by default; the latent margin keeps the exact max over h for the true output.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from trajvae.structured.losses import full_latent_loss, randomized_latent_loss
from trajvae.structured.problem import Array, LatentProblem
from trajvae.structured.solver import steps_per_epoch, stochastic_subgradient


@dataclasses.dataclass(frozen=True)
class LearnerConfig:
  # l2 weight: the objective is lam/2 ||w||^2 + mean loss.
  lam: float = 1e-3
  # Passes over the training set in all (the classic learner splits them over its outer iterations).
  epochs: int = 40
  batch_size: int = 10
  # Pegasos steps 1/(lam (t + step_offset)): an offset damps the first, largest steps.
  step_offset: int = 100
  # Classic: CCCP outer iterations (impute latents, then epochs // outer_iterations passes).
  outer_iterations: int = 4
  # Both learners start from w0 ~ N(0, init_scale^2 I), the same draw: at w = 0 every (y, h) ties,
  # and a deterministic tie-break would bias every example towards the same first pair.
  init_scale: float = 1e-3
  # Classic: "slack" (same loss as the randomized learner) or "margin" (Yu & Joachims' form).
  rescaling: Literal["slack", "margin"] = "slack"
  # Randomized: pairs per example; None means ceil(samples_per_log_n * log n).
  num_samples: int | None = None
  samples_per_log_n: float = 2.0
  # Randomized: draw fresh pairs at every epoch, i.e. every visit of an example (True), or one fixed set per example.
  resample: bool = True
  seed: int = 0

  def __post_init__(self):
    if self.lam <= 0:
      raise ValueError(f"lam must be > 0, got {self.lam}")
    if self.epochs < 1 or self.batch_size < 1 or self.outer_iterations < 1:
      raise ValueError(f"epochs, batch_size and outer_iterations must be >= 1, got {self.epochs}, {self.batch_size}, {self.outer_iterations}")
    if self.outer_iterations > self.epochs:
      raise ValueError(f"outer_iterations ({self.outer_iterations}) cannot exceed epochs ({self.epochs})")
    if self.num_samples is not None and self.num_samples < 1:
      raise ValueError(f"empty proposal: num_samples={self.num_samples}; the randomized loss needs at least one sampled (y, h) pair")
    if self.samples_per_log_n <= 0:
      raise ValueError(f"empty proposal: samples_per_log_n must be > 0, got {self.samples_per_log_n}")


@dataclasses.dataclass(frozen=True)
class FitResult:
  method: str
  w: np.ndarray
  # Training objective lam/2 ||w||^2 + mean full latent loss after each epoch (empty unless traced).
  trace: np.ndarray
  compile_seconds: float
  train_seconds: float
  num_samples: int | None = None


def num_proposal_samples(n: int, config: LearnerConfig) -> int:
  """T, the sampled pairs per example: config.num_samples, else ceil(c log n) (logarithmic in n, as the bound asks)."""
  if config.num_samples is not None:
    return config.num_samples
  return max(1, math.ceil(config.samples_per_log_n * math.log(max(n, 2))))


def full_objective(problem: LatentProblem, w: Array, xs: Array, ys: Array, lam: float) -> Array:
  """lam/2 ||w||^2 + mean_i full slack-rescaled latent loss: the objective both learners are judged on."""
  losses = jax.vmap(lambda x, y: full_latent_loss(problem, w, x, y), in_axes=(0, 0))(xs, ys)
  return 0.5 * lam * w @ w + jnp.mean(losses)


def initial_weights(problem: LatentProblem, config: LearnerConfig, key: Array) -> Array:
  """w0 ~ N(0, init_scale^2 I): small enough to carry no signal, large enough to break the ties of w = 0."""
  return config.init_scale * jax.random.normal(key, (problem.feature_dim,))


def _checked(problem: LatentProblem, xs, ys) -> tuple[Array, Array]:
  problem.check_inputs(xs)
  problem.check_labels(ys, n=np.shape(xs)[0])
  return jnp.asarray(xs, jnp.float32), jnp.asarray(ys, jnp.int32)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _latent_ssvm(problem: LatentProblem, config: LearnerConfig, traced: bool, xs: Array, ys: Array, key: Array):
  n = xs.shape[0]
  inner = config.epochs // config.outer_iterations
  offset = inner * steps_per_epoch(n, config.batch_size)
  impute = jax.vmap(problem.impute, in_axes=(None, 0, 0))
  monitor = (lambda w: full_objective(problem, w, xs, ys, config.lam)) if traced else None

  def loss(w, example):
    x, y, h = example
    return full_latent_loss(problem, w, x, y, h, config.rescaling)

  def outer(w, inputs):
    i, outer_key = inputs
    h_star = impute(w, xs, ys)
    return stochastic_subgradient(
        loss, w, (xs, ys, h_star), outer_key, lam=config.lam, epochs=inner, batch_size=config.batch_size,
        step_offset=config.step_offset + i * offset, monitor=monitor,
    )

  key_init, key = jax.random.split(key)
  w0 = initial_weights(problem, config, key_init)
  w, trace = jax.lax.scan(outer, w0, (jnp.arange(config.outer_iterations), jax.random.split(key, config.outer_iterations)))
  return w, trace.ravel()


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _randomized(problem: LatentProblem, config: LearnerConfig, num_samples: int, traced: bool, xs: Array, ys: Array, key: Array):
  key_init, key = jax.random.split(key)
  key_samples, key_fit = jax.random.split(key)
  monitor = (lambda w: full_objective(problem, w, xs, ys, config.lam)) if traced else None
  sample_all = jax.vmap(problem.sample_proposal, in_axes=(0, 0, None))

  def with_samples(data, sample_key):
    xs, ys = data[:2]
    return (xs, ys, *sample_all(jax.random.split(sample_key, xs.shape[0]), xs, num_samples))

  def loss(w, example):
    return randomized_latent_loss(problem, w, *example)

  # One fixed sample set per example (the papers' analysis), or fresh pairs at every epoch, i.e.
  # at every visit of an example, drawn for all examples at once.
  data = with_samples((xs, ys), key_samples)
  return stochastic_subgradient(
      loss, initial_weights(problem, config, key_init), data, key_fit, lam=config.lam, epochs=config.epochs,
      batch_size=config.batch_size, step_offset=config.step_offset, monitor=monitor,
      refresh=with_samples if config.resample else None,
  )


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _direct(problem: LatentProblem, config: LearnerConfig, traced: bool, xs: Array, ys: Array, key: Array):
  key_init, key_fit = jax.random.split(key)
  monitor = (lambda w: full_objective(problem, w, xs, ys, config.lam)) if traced else None

  def loss(w, example):
    return full_latent_loss(problem, w, *example)

  return stochastic_subgradient(
      loss, initial_weights(problem, config, key_init), (xs, ys), key_fit, lam=config.lam, epochs=config.epochs,
      batch_size=config.batch_size, step_offset=config.step_offset, monitor=monitor,
  )


_COMPILED: dict = {}


def _run_timed(jitted, static: tuple, xs: Array, ys: Array, key: Array) -> tuple[np.ndarray, np.ndarray, float, float]:
  """Compile once per (learner, static settings, shapes), then time the run alone."""
  cache_key = (jitted, static, xs.shape, ys.shape)
  fresh = cache_key not in _COMPILED
  start = time.perf_counter()
  if fresh:
    _COMPILED[cache_key] = jitted.lower(*static, xs, ys, key).compile()
  compiled = _COMPILED[cache_key]
  compile_seconds = time.perf_counter() - start
  start = time.perf_counter()
  w, trace = jax.block_until_ready(compiled(xs, ys, key))
  seconds = time.perf_counter() - start
  if fresh and seconds < 1.0:
    # A new executable's first run carries one-off costs that dwarf a short run; time a second one.
    start = time.perf_counter()
    w, trace = jax.block_until_ready(compiled(xs, ys, key))
    seconds = time.perf_counter() - start
  return np.asarray(w), np.asarray(trace), compile_seconds, seconds


def fit_latent_ssvm(problem: LatentProblem, xs, ys, config: LearnerConfig = LearnerConfig(), trace: bool = False) -> FitResult:
  """The classic latent structural SVM by CCCP; train_seconds excludes compilation."""
  xs, ys = _checked(problem, xs, ys)
  key = jax.random.key(config.seed)
  static = (problem, dataclasses.replace(config, seed=0), trace)
  w, values, compile_s, train_s = _run_timed(_latent_ssvm, static, xs, ys, key)
  return FitResult(f"classic ({config.rescaling})", w, values if trace else values[:0], compile_s, train_s)


def fit_randomized(problem: LatentProblem, xs, ys, config: LearnerConfig = LearnerConfig(), trace: bool = False) -> FitResult:
  """Bello & Honorio's randomized learner; train_seconds excludes compilation."""
  xs, ys = _checked(problem, xs, ys)
  num_samples = num_proposal_samples(xs.shape[0], config)
  key = jax.random.key(config.seed)
  static = (problem, dataclasses.replace(config, seed=0), num_samples, trace)
  w, values, compile_s, train_s = _run_timed(_randomized, static, xs, ys, key)
  return FitResult("randomized", w, values if trace else values[:0], compile_s, train_s, num_samples)


def fit_direct(problem: LatentProblem, xs, ys, config: LearnerConfig = LearnerConfig(), trace: bool = False) -> FitResult:
  """A control: the randomized learner's solver on the exact full latent loss (max over all of Y x H, no CCCP)."""
  xs, ys = _checked(problem, xs, ys)
  key = jax.random.key(config.seed)
  static = (problem, dataclasses.replace(config, seed=0), trace)
  w, values, compile_s, train_s = _run_timed(_direct, static, xs, ys, key)
  return FitResult("direct (full)", w, values if trace else values[:0], compile_s, train_s)
