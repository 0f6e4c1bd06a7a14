"""The latent structured prediction interface: score <phi(x, y, h), w>, inference, proposal, distortion.

A problem is a frozen dataclass (hashable, so learners jit with it as a static argument) whose
methods act on one example; callers vmap them over examples. An output y is an integer array of
shape `label_shape`; a latent h is an integer in [0, num_latents). The base class derives
brute-force inference over the enumerated space Y x H from `features` alone; problems override
`score`, `latent_scores`, `all_scores`, `argmax` or `loss_augmented_argmax` with exact structured
versions, which the tests check against the brute force here.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
Rescaling = Literal["slack", "margin"]


def rescaled_violation(distortion: Array, score: Array, true_score: Array, rescaling: Rescaling) -> Array:
  """The loss-augmented objective of a competing (y', h') with score `score` against `true_score`.

  slack:  d(y, y') * max(0, 1 - (true_score - score))   (Tsochantaridis et al.'s slack rescaling)
  margin: d(y, y') + score - true_score                 (margin rescaling)
  """
  if rescaling == "slack":
    return distortion * jax.nn.relu(1.0 - true_score + score)
  if rescaling == "margin":
    return distortion + score - true_score
  raise ValueError(f"unknown rescaling {rescaling!r}; expected 'slack' or 'margin'")


def first_argmax(values: Array) -> Array:
  """Flat index of the first maximum, like jnp.argmax but as two plain reductions: XLA's CPU
  argmax (a two-operand reduction) is several times slower, and inference is the hot loop here."""
  flat = values.ravel()
  index = jnp.min(jnp.where(flat == jnp.max(flat), jnp.arange(flat.size), flat.size - 1))
  return index


@dataclasses.dataclass(frozen=True)
class LatentProblem:
  """Base class: subclasses define the sizes, `features`, `distortion`, the output enumeration and the proposal."""

  # --- what every problem defines -------------------------------------------------------------
  @property
  def feature_dim(self) -> int:
    raise NotImplementedError

  @property
  def num_outputs(self) -> int:
    """|Y|."""
    raise NotImplementedError

  @property
  def num_latents(self) -> int:
    """|H|."""
    raise NotImplementedError

  @property
  def input_shape(self) -> tuple[int, ...]:
    raise NotImplementedError

  @property
  def label_shape(self) -> tuple[int, ...]:
    raise NotImplementedError

  def features(self, x: Array, y: Array, h: Array) -> Array:
    """phi(x, y, h), a [feature_dim] vector."""
    raise NotImplementedError

  def distortion(self, y: Array, y_hat: Array) -> Array:
    """d(y, y_hat) in [0, 1], zero when y_hat == y."""
    raise NotImplementedError

  def enumerate_outputs(self) -> Array:
    """Every y in Y, [num_outputs, *label_shape]; the order indexes `all_scores` and `proposal_probs`."""
    raise NotImplementedError

  def sample_proposal(self, key: Array, x: Array, num: int) -> tuple[Array, Array]:
    """num i.i.d. pairs (y, h) ~ R(x): outputs [num, *label_shape] and latents [num]."""
    raise NotImplementedError

  def proposal_probs(self, x: Array) -> Array:
    """The stated proposal R(x) as a [num_outputs, num_latents] table (for tests and docs)."""
    raise NotImplementedError

  # --- derived by brute force; problems override with structured versions ---------------------
  def score(self, w: Array, x: Array, y: Array, h: Array) -> Array:
    """<phi(x, y, h), w>."""
    return self.features(x, y, h) @ w

  def latent_scores(self, w: Array, x: Array, y: Array) -> Array:
    """<phi(x, y, h), w> for every h, [num_latents]: what latent imputation maximises."""
    return jax.vmap(lambda h: self.score(w, x, y, h))(jnp.arange(self.num_latents))

  def all_scores(self, w: Array, x: Array) -> Array:
    """<phi(x, y, h), w> for every (y, h), [num_outputs, num_latents]."""
    return jax.vmap(lambda y: self.latent_scores(w, x, y))(self.enumerate_outputs())

  def argmax(self, w: Array, x: Array) -> tuple[Array, Array]:
    """The best-scoring (y, h): the decoder's prediction."""
    scores = self.all_scores(w, x)
    y_index, h = jnp.divmod(first_argmax(scores), self.num_latents)
    return self.enumerate_outputs()[y_index], h

  def impute(self, w: Array, x: Array, y: Array) -> Array:
    """argmax_h <phi(x, y, h), w>: the latent that best explains the true output."""
    return first_argmax(self.latent_scores(w, x, y))

  def loss_augmented_argmax(
    self, w: Array, x: Array, y: Array, true_score: Array, rescaling: Rescaling = "slack"
  ) -> tuple[Array, Array]:
    """argmax over (y', h') of `rescaled_violation(d(y, y'), score(y', h'), true_score)`."""
    outputs = self.enumerate_outputs()
    d = jax.vmap(lambda y_hat: self.distortion(y, y_hat))(outputs)
    objective = rescaled_violation(d[:, None], self.all_scores(w, x), true_score, rescaling)
    y_index, h = jnp.divmod(first_argmax(objective), self.num_latents)
    return outputs[y_index], h

  # --- checks at the API boundary (plain numpy, outside jit) ----------------------------------
  def check_weights(self, w) -> None:
    shape = np.shape(w)
    if shape != (self.feature_dim,):
      raise ValueError(
        f"feature-dimension mismatch: w has shape {shape} but {type(self).__name__}'s feature map "
        f"phi(x, y, h) has dimension {self.feature_dim}"
      )

  def check_inputs(self, xs) -> None:
    shape = np.shape(xs)
    if len(shape) != 1 + len(self.input_shape) or tuple(shape[1:]) != self.input_shape:
      raise ValueError(
        f"inputs have shape {shape}; {type(self).__name__} expects [n, {', '.join(map(str, self.input_shape))}]"
      )
    if shape[0] == 0:
      raise ValueError("no examples: the inputs are empty")

  def check_labels(self, ys, n: int | None = None) -> None:
    ys = np.asarray(ys)
    if ys.ndim != 1 + len(self.label_shape) or tuple(ys.shape[1:]) != self.label_shape:
      raise ValueError(
        f"labels have shape {ys.shape}; {type(self).__name__} expects [n{''.join(', ' + str(s) for s in self.label_shape)}]"
      )
    if n is not None and ys.shape[0] != n:
      raise ValueError(f"{ys.shape[0]} labels for {n} inputs")
    bad = ~self.labels_in_output_space(ys)
    if bad.any():
      first = int(np.flatnonzero(bad)[0])
      raise ValueError(
        f"labels outside the output space of {type(self).__name__}: {int(bad.sum())} of {len(ys)}, "
        f"the first at index {first} is {ys[first].tolist()!r}"
      )

  def labels_in_output_space(self, ys: np.ndarray) -> np.ndarray:
    """A [n] boolean mask of the labels that lie in Y (plain numpy)."""
    raise NotImplementedError


# --- brute-force references: enumerate Y x H through `features` only ---------------------------


def brute_force_scores(problem: LatentProblem, w: Array, x: Array) -> Array:
  """<phi(x, y, h), w> for every (y, h) from the feature map alone, [num_outputs, num_latents]."""
  hs = jnp.arange(problem.num_latents)
  return jax.vmap(lambda y: jax.vmap(lambda h: problem.features(x, y, h) @ w)(hs))(problem.enumerate_outputs())


def brute_force_augmented(
  problem: LatentProblem, w: Array, x: Array, y: Array, true_score: Array, rescaling: Rescaling
) -> Array:
  """The loss-augmented objective of every (y', h'), [num_outputs, num_latents]."""
  outputs = problem.enumerate_outputs()
  d = jax.vmap(lambda y_hat: problem.distortion(y, y_hat))(outputs)
  return rescaled_violation(d[:, None], brute_force_scores(problem, w, x), true_score, rescaling)
