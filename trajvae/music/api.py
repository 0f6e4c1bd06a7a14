"""Using a trained MusicVAE: encode, decode, sample, interpolate, reconstruct, attribute vectors.

All work on token arrays [batch, steps, tracks]; each network call is one
jit-compiled function (the decoder's time loop is a lax.scan inside it).
Randomness is explicit: every method that samples takes key= (a jax key or an
int seed) and raises without one; encode without a key returns z = mu.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from trajvae.core.distributions import gaussian_sample
from trajvae.music.configs import MusicModelConfig


@functools.partial(jax.jit, static_argnums=0)
def _encode(graphdef, params, tokens, key):
  model = nnx.merge(graphdef, params)
  mean, std = model.encode(tokens)
  return gaussian_sample(key, mean, std), mean, std


@functools.partial(jax.jit, static_argnums=0)
def _moments(graphdef, params, tokens):
  return nnx.merge(graphdef, params).encode(tokens)


@functools.partial(jax.jit, static_argnums=(0, 4))
def _decode(graphdef, params, z, key, temperature):
  model = nnx.merge(graphdef, params)
  return model.decode(z, key, temperature=temperature)[1]


def as_key(key: jax.Array | int | None, method: str = "") -> jax.Array:
  """A jax PRNG key from a key or an int seed; None is an error naming the method (sampling needs a key)."""
  if key is None:
    raise ValueError(f"{method} samples tokens: pass key=jax.random.key(seed) or an int seed (key=0)")
  if isinstance(key, (int, np.integer)):
    return jax.random.key(int(key))
  return key


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
  """Spherical interpolation between two vectors (linear when they are parallel)."""
  a_n, b_n = a / np.linalg.norm(a), b / np.linalg.norm(b)
  omega = np.arccos(np.clip(np.dot(a_n, b_n), -1.0, 1.0))
  if omega < 1e-6:
    return (1 - t) * a + t * b
  return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def note_density(tokens: np.ndarray) -> np.ndarray:
  """Share of steps with a note onset (token >= 2 for melody; non-zero for other tracks) -> [batch]."""
  onsets = tokens >= 2 if tokens.shape[-1] == 1 and tokens.max(initial=0) < 90 else tokens > 0
  return onsets.mean(axis=tuple(range(1, tokens.ndim)))


class TrainedMusicVAE:
  """A MusicVAE with its parameters: the methods users of the reference's TrainedModel expect."""

  def __init__(self, config: MusicModelConfig, graphdef: nnx.GraphDef, params: nnx.State):
    self.config = config
    self.graphdef = graphdef
    self.params = params

  def _check(self, tokens: np.ndarray) -> jax.Array:
    tokens = np.asarray(tokens)
    expected = (self.config.num_steps, len(self.config.track_depths))
    if tokens.ndim != 3 or tokens.shape[1:] != expected:
      raise ValueError(f"expected tokens of shape [batch, {expected[0]}, {expected[1]}], got {tokens.shape}")
    for i, depth in enumerate(self.config.track_depths):
      if tokens[..., i].min(initial=0) < 0 or tokens[..., i].max(initial=0) >= depth:
        raise ValueError(f"track {i} has tokens outside [0, {depth})")
    return jnp.asarray(tokens, jnp.int32)

  def encode(self, tokens: np.ndarray, key: jax.Array | int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z, mu, sigma) for each sequence: z is a posterior sample drawn with key (a jax key or an int
    seed), or mu itself when no key is given (as the reference's users are told to do, magenta#1164)."""
    tokens = self._check(tokens)
    if key is None:
      mu, sigma = _moments(self.graphdef, self.params, tokens)
      return np.asarray(mu), np.asarray(mu), np.asarray(sigma)
    z, mu, sigma = _encode(self.graphdef, self.params, tokens, as_key(key))
    return np.asarray(z), np.asarray(mu), np.asarray(sigma)

  def decode(self, z: np.ndarray, temperature: float = 1.0, key: jax.Array | int | None = None) -> np.ndarray:
    """Tokens [batch, steps, tracks] decoded from latents, sampling each step at the temperature with key."""
    z = jnp.asarray(z, jnp.float32)
    if z.ndim != 2 or z.shape[1] != self.config.z_size:
      raise ValueError(f"expected z of shape [batch, {self.config.z_size}], got {tuple(z.shape)}")
    key = as_key(key, "decode")
    return np.asarray(_decode(self.graphdef, self.params, z, key, float(temperature)))

  def sample(self, num: int, temperature: float = 1.0, key: jax.Array | int | None = None) -> np.ndarray:
    """num prior samples: z ~ N(0, I), decoded at the temperature; key (or an int seed) is required."""
    z_key, decode_key = jax.random.split(as_key(key, "sample"))
    return self.decode(jax.random.normal(z_key, (num, self.config.z_size)), temperature, decode_key)

  def reconstruct(
    self, tokens: np.ndarray, temperature: float = 1e-3, key: jax.Array | int | None = None
  ) -> np.ndarray:
    """Decode each sequence's posterior mean (near-greedy at the default temperature); key drives the decoder."""
    key = as_key(key, "reconstruct")
    _, mu, _ = self.encode(tokens)
    return self.decode(mu, temperature, key)

  def interpolate(
    self,
    start: np.ndarray,
    end: np.ndarray,
    num_steps: int,
    temperature: float = 1.0,
    key: jax.Array | int | None = None,
  ) -> np.ndarray:
    """Decode num_steps latents on the slerp path between two sequences' posterior means, ends included.

    Temperature 1.0 as the reference's TrainedModel.interpolate; key (or an int seed) drives the decoder.
    """
    key = as_key(key, "interpolate")
    _, mu, _ = self.encode(np.stack([start, end]))
    path = np.stack([slerp(mu[0], mu[1], t) for t in np.linspace(0.0, 1.0, num_steps)])
    return self.decode(path, temperature, key)

  def attribute_vector(
    self, tokens: np.ndarray, attribute: Callable[[np.ndarray], np.ndarray] = note_density, quantile: float = 0.25
  ) -> np.ndarray:
    """Mean posterior mean of sequences high in the attribute minus that of sequences low in it.

    High/low are the top and bottom `quantile` of the attribute's values over tokens.
    Adding a multiple of the vector to a latent moves its decoding along the attribute.
    """
    values = attribute(np.asarray(tokens))
    low, high = np.quantile(values, [quantile, 1 - quantile])
    _, mu, _ = self.encode(tokens)
    if not (values >= high).any() or not (values <= low).any() or high == low:
      raise ValueError("the attribute does not vary across these sequences")
    return mu[values >= high].mean(0) - mu[values <= low].mean(0)
