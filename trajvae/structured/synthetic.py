"""A planted multi-label problem with a latent "view": y in {0,1}^k, h picks one of |H| views of x.

The input x is a [|H|, p] stack of views. The score of (y, h) is

  <phi(x, y, h), w> = c(x) * sum_j (2 y_j - 1) <W_j, x_h>,      W = w.reshape(k, p),

with c(x) = 1 / (2 sqrt(k) max_h ||x_h||), a per-example constant that bounds ||phi|| by 1/2 (so
feature differences have norm <= 1, the scale the PAC-Bayes margin of 1 assumes) without changing
any argmax. The distortion is the normalised Hamming distance. Data come from a planted w*: the
label of x is the best-scoring (y, h) under w*, optionally with bit flips. |Y| = 2^k and |H| grow
independently, as in the paper's synthetic experiments.

Inference is exact and polynomial: for a fixed view the score is a sum over bits, so the best y
sets each bit to the sign of <W_j, x_h>; and the slack-rescaled loss-augmented maximum with
Hamming distortion, whose objective (m / k) * max(0, 1 - t + score) depends on how many bits m
are flipped, is found by flipping the m bits that gain most, for every m and every view:
O(|H| k^2) after the O(|H| k p) bit scores, against O(2^k |H| p) for enumeration
(`exhaustive_inference=True`).
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from trajvae.structured.problem import Array, LatentProblem, Rescaling, first_argmax, rescaled_violation


@dataclasses.dataclass(frozen=True)
class PlantedMultilabel(LatentProblem):
  num_bits: int = 4
  num_views: int = 8
  view_dim: int = 10
  # R(x): each bit of y ~ Bernoulli(proposal_bit_prob), h ~ uniform on the views, independently.
  proposal_bit_prob: float = 0.5
  # Enumerate all 2^k x |H| pairs instead of the structured inference: what a generic latent
  # structural SVM without problem-specific inference pays (same answers, |Y| times the work).
  exhaustive_inference: bool = False

  def __post_init__(self):
    if self.num_bits < 1 or self.num_views < 1 or self.view_dim < 1:
      raise ValueError(
        f"num_bits, num_views and view_dim must be >= 1, got {self.num_bits}, {self.num_views}, {self.view_dim}"
      )
    if not 0.0 < self.proposal_bit_prob < 1.0:
      raise ValueError(f"proposal_bit_prob must lie in (0, 1) so the proposal covers Y, got {self.proposal_bit_prob}")

  @property
  def feature_dim(self) -> int:
    return self.num_bits * self.view_dim

  @property
  def num_outputs(self) -> int:
    return 2**self.num_bits

  @property
  def num_latents(self) -> int:
    return self.num_views

  @property
  def input_shape(self) -> tuple[int, ...]:
    return (self.num_views, self.view_dim)

  @property
  def label_shape(self) -> tuple[int, ...]:
    return (self.num_bits,)

  def _scale(self, x: Array) -> Array:
    max_norm = jnp.max(jnp.linalg.norm(x, axis=-1))
    return 0.5 / (math.sqrt(self.num_bits) * max_norm + 1e-12)

  def _bit_scores(self, w: Array, x: Array) -> Array:
    """c(x) <W_j, x_h> for every view and bit, [|H|, k]: the score of bit j set to 1 (minus that of 0, halved)."""
    return self._scale(x) * x @ w.reshape(self.num_bits, self.view_dim).T

  def features(self, x: Array, y: Array, h: Array) -> Array:
    signs = 2.0 * y - 1.0
    return self._scale(x) * (signs[:, None] * x[h][None, :]).ravel()

  def score(self, w: Array, x: Array, y: Array, h: Array) -> Array:
    signs = 2.0 * y - 1.0
    return self._scale(x) * signs @ (w.reshape(self.num_bits, self.view_dim) @ x[h])

  def latent_scores(self, w: Array, x: Array, y: Array) -> Array:
    signs = 2.0 * y - 1.0
    return self._scale(x) * x @ (w.reshape(self.num_bits, self.view_dim).T @ signs)

  def distortion(self, y: Array, y_hat: Array) -> Array:
    return jnp.mean(y != y_hat, axis=-1).astype(jnp.float32)

  def enumerate_outputs(self) -> Array:
    index = jnp.arange(self.num_outputs)[:, None]
    return (index >> jnp.arange(self.num_bits)) & 1

  def argmax(self, w: Array, x: Array) -> tuple[Array, Array]:
    if self.exhaustive_inference:
      return super().argmax(w, x)
    bits = self._bit_scores(w, x)
    h = first_argmax(jnp.sum(jnp.abs(bits), axis=-1))
    return (bits[h] > 0).astype(jnp.int32), h

  def loss_augmented_argmax(
    self, w: Array, x: Array, y: Array, true_score: Array, rescaling: Rescaling = "slack"
  ) -> tuple[Array, Array]:
    if self.exhaustive_inference:
      return super().loss_augmented_argmax(w, x, y, true_score, rescaling)
    signs = 2.0 * y - 1.0
    bits = self._bit_scores(w, x)  # [H, k]
    base = bits @ signs  # score of (y, h) for every h
    gain = -2.0 * bits * signs  # score change from flipping bit j under view h
    # rank[h, j]: place of bit j among the gains of view h, best first (ties by index). With k
    # small, k^2 comparisons beat a sort on CPU.
    index = jnp.arange(self.num_bits)
    ahead = (gain[:, None, :] > gain[:, :, None]) | (
      (gain[:, None, :] == gain[:, :, None]) & (index[None, :] < index[:, None])
    )
    rank = jnp.sum(ahead, axis=-1)  # [H, k]
    flips = jnp.arange(self.num_bits + 1)
    best_gain = jnp.einsum("hj,hjm->hm", gain, (rank[:, :, None] < flips[None, None, :]).astype(gain.dtype))
    objective = rescaled_violation(flips / self.num_bits, base[:, None] + best_gain, true_score, rescaling)
    h, m = jnp.divmod(first_argmax(objective), self.num_bits + 1)
    return jnp.where(rank[h] < m, 1 - y, y).astype(jnp.int32), h

  def sample_proposal(self, key: Array, x: Array, num: int) -> tuple[Array, Array]:
    u = jax.random.uniform(key, (num, self.num_bits + 1))  # one draw for bits and view: RNG is costly on CPU
    ys = (u[:, :-1] < self.proposal_bit_prob).astype(jnp.int32)
    hs = jnp.minimum((u[:, -1] * self.num_views).astype(jnp.int32), self.num_views - 1)
    return ys, hs

  def proposal_probs(self, x: Array) -> Array:
    outputs = self.enumerate_outputs()
    q = self.proposal_bit_prob
    p_y = jnp.prod(jnp.where(outputs == 1, q, 1.0 - q), axis=-1)
    return jnp.broadcast_to(p_y[:, None] / self.num_views, (self.num_outputs, self.num_views))

  def labels_in_output_space(self, ys: np.ndarray) -> np.ndarray:
    return np.all((ys == 0) | (ys == 1), axis=-1)


@functools.partial(jax.jit, static_argnums=0)
def _decode(problem: PlantedMultilabel, w: Array, xs: Array) -> tuple[Array, Array]:
  return jax.vmap(problem.argmax, in_axes=(None, 0))(w, xs)


@dataclasses.dataclass(frozen=True)
class PlantedData:
  train_x: np.ndarray
  train_y: np.ndarray
  train_h: np.ndarray
  test_x: np.ndarray
  test_y: np.ndarray
  test_h: np.ndarray
  w_true: np.ndarray


def make_planted_data(
  problem: PlantedMultilabel, seed: int, num_train: int, num_test: int, label_noise: float = 0.0, salience: float = 2.0
) -> PlantedData:
  """Views z ~ N(0, I), one uniformly chosen view per example scaled by `salience`; a planted w* ~ N(0, I);
  labels (y, h) = argmax under w*, then each bit flipped w.p. label_noise.

  With salience 1 all views look alike and, once |H| approaches |Y|, some view explains almost
  any label, so nothing is learnable from few examples; a salient view (which the planted
  argmax usually, not always, picks) keeps the latent identifiable as |H| grows.
  """
  if not 0.0 <= label_noise < 0.5:
    raise ValueError(f"label_noise must lie in [0, 0.5), got {label_noise}")
  if salience < 1.0:
    raise ValueError(f"salience must be >= 1, got {salience}")
  key_x, key_w, key_noise, key_view = jax.random.split(jax.random.key(seed), 4)
  n = num_train + num_test
  views = jax.random.randint(key_view, (n,), 0, problem.num_views)
  scale = jnp.where(jnp.arange(problem.num_views)[None, :] == views[:, None], salience, 1.0)
  xs = scale[..., None] * jax.random.normal(key_x, (n, *problem.input_shape))
  w_true = jax.random.normal(key_w, (problem.feature_dim,))
  ys, hs = _decode(problem, w_true, xs)
  flips = jax.random.bernoulli(key_noise, label_noise, ys.shape)
  ys = jnp.where(flips, 1 - ys, ys)
  xs, ys, hs = np.asarray(xs), np.asarray(ys, np.int32), np.asarray(hs, np.int32)
  return PlantedData(
    xs[:num_train], ys[:num_train], hs[:num_train], xs[num_train:], ys[num_train:], hs[num_train:], np.asarray(w_true)
  )
