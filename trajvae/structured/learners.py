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
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from trajvae.structured.configs import LearnerConfig
from trajvae.structured.losses import full_latent_loss, randomized_latent_loss
from trajvae.structured.problem import Array, LatentProblem
from trajvae.structured.solver import steps_per_epoch, stochastic_subgradient

DEFAULT_LEARNER = LearnerConfig()


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
      loss,
      w,
      (xs, ys, h_star),
      outer_key,
      lam=config.lam,
      epochs=inner,
      batch_size=config.batch_size,
      step_offset=config.step_offset + i * offset,
      monitor=monitor,
    )

  key_init, key = jax.random.split(key)
  w0 = initial_weights(problem, config, key_init)
  w, trace = jax.lax.scan(
    outer, w0, (jnp.arange(config.outer_iterations), jax.random.split(key, config.outer_iterations))
  )
  return w, trace.ravel()


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _randomized(
  problem: LatentProblem, config: LearnerConfig, num_samples: int, traced: bool, xs: Array, ys: Array, key: Array
):
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
    loss,
    initial_weights(problem, config, key_init),
    data,
    key_fit,
    lam=config.lam,
    epochs=config.epochs,
    batch_size=config.batch_size,
    step_offset=config.step_offset,
    monitor=monitor,
    refresh=with_samples if config.resample else None,
  )


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _direct(problem: LatentProblem, config: LearnerConfig, traced: bool, xs: Array, ys: Array, key: Array):
  key_init, key_fit = jax.random.split(key)
  monitor = (lambda w: full_objective(problem, w, xs, ys, config.lam)) if traced else None

  def loss(w, example):
    return full_latent_loss(problem, w, *example)

  return stochastic_subgradient(
    loss,
    initial_weights(problem, config, key_init),
    (xs, ys),
    key_fit,
    lam=config.lam,
    epochs=config.epochs,
    batch_size=config.batch_size,
    step_offset=config.step_offset,
    monitor=monitor,
  )


class CompiledLearners:
  """Compiled learners, one executable per (learner, static settings, input shapes), owned by whoever fits.

  Pass one to several fits (e.g. every seed of a study's setting) to compile each shape once; a fit
  without one compiles for itself.
  """

  def __init__(self):
    self.executables: dict = {}

  def executable(self, jitted, static: tuple, xs: Array, ys: Array, key: Array) -> tuple[Any, bool]:
    """The compiled learner for these inputs, and whether it was compiled by this call."""
    cache_key = (jitted, static, xs.shape, ys.shape)
    fresh = cache_key not in self.executables
    if fresh:
      self.executables[cache_key] = jitted.lower(*static, xs, ys, key).compile()
    return self.executables[cache_key], fresh


def _run_timed(
  compiled: CompiledLearners, jitted, static: tuple, xs: Array, ys: Array, key: Array
) -> tuple[np.ndarray, np.ndarray, float, float]:
  """Compile once per (learner, static settings, shapes) in `compiled`, then time the run alone."""
  start = time.perf_counter()
  executable, fresh = compiled.executable(jitted, static, xs, ys, key)
  compile_seconds = time.perf_counter() - start
  start = time.perf_counter()
  w, trace = jax.block_until_ready(executable(xs, ys, key))
  seconds = time.perf_counter() - start
  if fresh and seconds < 1.0:
    # A new executable's first run carries one-off costs that dwarf a short run; time a second one.
    start = time.perf_counter()
    w, trace = jax.block_until_ready(executable(xs, ys, key))
    seconds = time.perf_counter() - start
  return np.asarray(w), np.asarray(trace), compile_seconds, seconds


def _fit(
  label: str,
  jitted,
  problem: LatentProblem,
  xs,
  ys,
  config: LearnerConfig,
  trace: bool,
  compiled: CompiledLearners | None,
  num_samples: int | None = None,
) -> FitResult:
  """Check the data, run a jitted learner (static args: problem, config without seed, [num_samples], trace)."""
  xs, ys = _checked(problem, xs, ys)
  extra = () if num_samples is None else (num_samples,)
  static = (problem, dataclasses.replace(config, seed=0), *extra, trace)
  compiled = compiled if compiled is not None else CompiledLearners()
  w, values, compile_s, train_s = _run_timed(compiled, jitted, static, xs, ys, jax.random.key(config.seed))
  return FitResult(label, w, values if trace else values[:0], compile_s, train_s, num_samples)


def fit_latent_ssvm(
  problem: LatentProblem,
  xs,
  ys,
  config: LearnerConfig = DEFAULT_LEARNER,
  trace: bool = False,
  compiled: CompiledLearners | None = None,
) -> FitResult:
  """The classic latent structural SVM by CCCP; train_seconds excludes compilation."""
  return _fit(f"classic ({config.rescaling})", _latent_ssvm, problem, xs, ys, config, trace, compiled)


def fit_randomized(
  problem: LatentProblem,
  xs,
  ys,
  config: LearnerConfig = DEFAULT_LEARNER,
  trace: bool = False,
  compiled: CompiledLearners | None = None,
) -> FitResult:
  """Bello & Honorio's randomized learner; train_seconds excludes compilation."""
  num_samples = num_proposal_samples(np.shape(xs)[0], config)
  return _fit("randomized", _randomized, problem, xs, ys, config, trace, compiled, num_samples)


def fit_direct(
  problem: LatentProblem,
  xs,
  ys,
  config: LearnerConfig = DEFAULT_LEARNER,
  trace: bool = False,
  compiled: CompiledLearners | None = None,
) -> FitResult:
  """A control: the randomized learner's solver on the exact full latent loss (max over all of Y x H, no CCCP)."""
  return _fit("direct (full)", _direct, problem, xs, ys, config, trace, compiled)
