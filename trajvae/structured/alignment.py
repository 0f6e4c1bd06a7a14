"""Image alignment on the bundled digits: y is the digit class, h the unknown position of the digit.

An 8x8 scikit-learn digit (load_digits, shipped with the package, no download) is placed at a
random shift inside a C x C canvas with pixel noise, and optionally turned by a small random angle
that the model does not represent. The latent h indexes the (C - 7)^2 shifts of an 8x8 window. The
score is a per-class linear template on the window the latent points at,

  <phi(x, y, h), w> = c(x) * (<T_y, window_h(x)> + b_y),      w = [T_0, b_0, ..., T_9, b_9],

with c(x) = 1 / (2 sqrt(||x||^2 + 1)) bounding ||phi|| by 1/2 (an argmax-neutral per-example
constant). Scores of every shift are a cross-correlation of the canvas with the templates, done
as a gather of all windows and one matrix product: exact inference over (y, h) costs
O(|Y| |H| 64) and latent imputation O(|H| 64). The distortion is the 0/1 loss on the class.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from trajvae.structured.problem import Array, LatentProblem

PATCH = 8


@dataclasses.dataclass(frozen=True)
class DigitAlignment(LatentProblem):
  canvas: int = 12
  num_classes: int = 10

  def __post_init__(self):
    if self.canvas < PATCH:
      raise ValueError(f"canvas must be at least the digit size {PATCH}, got {self.canvas}")
    if self.num_classes < 2:
      raise ValueError(f"num_classes must be >= 2, got {self.num_classes}")

  @property
  def shifts_per_axis(self) -> int:
    return self.canvas - PATCH + 1

  @property
  def feature_dim(self) -> int:
    return self.num_classes * (PATCH * PATCH + 1)

  @property
  def num_outputs(self) -> int:
    return self.num_classes

  @property
  def num_latents(self) -> int:
    return self.shifts_per_axis**2

  @property
  def input_shape(self) -> tuple[int, ...]:
    return (self.canvas, self.canvas)

  @property
  def label_shape(self) -> tuple[int, ...]:
    return ()

  def shift(self, h: Array) -> tuple[Array, Array]:
    """The (row, column) of the window's top-left corner for latent h."""
    return jnp.divmod(h, self.shifts_per_axis)

  def _scale(self, x: Array) -> Array:
    return 0.5 / jnp.sqrt(jnp.sum(x**2) + 1.0)

  def _window(self, x: Array, h: Array) -> Array:
    row, col = self.shift(h)
    return jax.lax.dynamic_slice(x, (row, col), (PATCH, PATCH)).ravel()

  def _templates(self, w: Array) -> tuple[Array, Array]:
    w = w.reshape(self.num_classes, PATCH * PATCH + 1)
    return w[:, :-1].reshape(self.num_classes, PATCH, PATCH), w[:, -1]

  def features(self, x: Array, y: Array, h: Array) -> Array:
    block = jnp.append(self._window(x, h), 1.0)
    return self._scale(x) * (jax.nn.one_hot(y, self.num_classes)[:, None] * block[None, :]).ravel()

  def score(self, w: Array, x: Array, y: Array, h: Array) -> Array:
    block = w.reshape(self.num_classes, PATCH * PATCH + 1)[y]
    return self._scale(x) * (block[:-1] @ self._window(x, h) + block[-1])

  def _window_index(self) -> np.ndarray:
    """Flat canvas indices of every window, [|H|, 64] (a constant of the problem)."""
    s, c = self.shifts_per_axis, self.canvas
    rows = np.arange(s)[:, None, None, None] + np.arange(PATCH)[None, None, :, None]
    cols = np.arange(s)[None, :, None, None] + np.arange(PATCH)[None, None, None, :]
    return (rows * c + cols).reshape(self.num_latents, PATCH * PATCH)

  def windows(self, x: Array) -> Array:
    """Every 8x8 window of the canvas, flattened, [|H|, 64]; a gather, faster on CPU than a few-channel convolution."""
    return x.ravel()[self._window_index()]

  def latent_scores(self, w: Array, x: Array, y: Array) -> Array:
    templates, bias = self._templates(w)
    return self._scale(x) * (self.windows(x) @ templates[y].ravel() + bias[y])

  def all_scores(self, w: Array, x: Array) -> Array:
    templates, bias = self._templates(w)
    return self._scale(x) * (templates.reshape(self.num_classes, -1) @ self.windows(x).T + bias[:, None])

  def distortion(self, y: Array, y_hat: Array) -> Array:
    return (y != y_hat).astype(jnp.float32)

  def enumerate_outputs(self) -> Array:
    return jnp.arange(self.num_classes)

  def sample_proposal(self, key: Array, x: Array, num: int) -> tuple[Array, Array]:
    pair = jax.random.randint(key, (num,), 0, self.num_classes * self.num_latents)  # uniform on Y x H
    return jnp.divmod(pair, self.num_latents)

  def proposal_probs(self, x: Array) -> Array:
    return jnp.full((self.num_classes, self.num_latents), 1.0 / (self.num_classes * self.num_latents))

  def labels_in_output_space(self, ys: np.ndarray) -> np.ndarray:
    return (ys >= 0) & (ys < self.num_classes) & (np.asarray(ys) == np.round(ys))


@dataclasses.dataclass(frozen=True)
class AlignmentData:
  train_x: np.ndarray
  train_y: np.ndarray
  train_h: np.ndarray
  test_x: np.ndarray
  test_y: np.ndarray
  test_h: np.ndarray


def load_digit_images() -> tuple[np.ndarray, np.ndarray]:
  """The 1797 scikit-learn digits as [N, 8, 8] intensities in [0, 1] and their classes."""
  from sklearn.datasets import load_digits

  digits = load_digits()
  return (digits.images / 16.0).astype(np.float32), digits.target.astype(np.int32)


def _rotate(image: Array, angle: Array) -> Array:
  """The 8x8 image turned by angle (radians) about its centre, bilinear, zero outside."""
  centre = (PATCH - 1) / 2.0
  rows, cols = jnp.meshgrid(jnp.arange(PATCH) - centre, jnp.arange(PATCH) - centre, indexing="ij")
  cos, sin = jnp.cos(angle), jnp.sin(angle)
  source = jnp.stack([cos * rows - sin * cols + centre, sin * rows + cos * cols + centre])
  return jax.scipy.ndimage.map_coordinates(image, list(source), order=1, mode="constant", cval=0.0)


@functools.partial(jax.jit, static_argnums=0)
@functools.partial(jax.vmap, in_axes=(None, 0, 0, 0, 0))
def _place(problem: DigitAlignment, image: Array, h: Array, angle: Array, noise: Array) -> Array:
  """Canvases with each image turned by its angle, placed at shift h, plus noise (vmapped, compiled per problem)."""
  row, col = problem.shift(h)
  canvas = jnp.zeros(problem.input_shape).at[:PATCH, :PATCH].set(_rotate(image, angle))
  canvas = jnp.roll(canvas, (row, col), axis=(0, 1))  # the digit never wraps: row, col <= canvas - 8
  return jnp.clip(canvas + noise, 0.0, 1.0)


def make_alignment_data(
  problem: DigitAlignment, seed: int, num_train: int, num_test: int, noise: float = 0.1, max_rotation_deg: float = 0.0
) -> AlignmentData:
  """Distinct digits for train and test, each at a uniform random shift, with N(0, noise^2) pixel noise."""
  images, labels = load_digit_images()
  keep = labels < problem.num_classes
  images, labels = images[keep], labels[keep]
  if num_train + num_test > len(images):
    raise ValueError(
      f"asked for {num_train} + {num_test} digits but only {len(images)} of classes < {problem.num_classes} exist"
    )
  key_perm, key_h, key_angle, key_noise = jax.random.split(jax.random.key(seed), 4)
  n = num_train + num_test
  order = np.asarray(jax.random.permutation(key_perm, len(images)))[:n]
  hs = jax.random.randint(key_h, (n,), 0, problem.num_latents)
  angles = jax.random.uniform(key_angle, (n,), minval=-1.0, maxval=1.0) * math.radians(max_rotation_deg)
  noises = noise * jax.random.normal(key_noise, (n, *problem.input_shape))
  xs = _place(problem, jnp.asarray(images[order]), hs, angles, noises)
  xs, ys, hs = np.asarray(xs), labels[order], np.asarray(hs, np.int32)
  return AlignmentData(xs[:num_train], ys[:num_train], hs[:num_train], xs[num_train:], ys[num_train:], hs[num_train:])
