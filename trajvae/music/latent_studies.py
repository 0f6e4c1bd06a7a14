"""MusicVAE's latent-space studies (Roberts et al. 2018, §5): interpolation and attribute vectors.

Interpolation: between two held-out windows, compare
- latent-space interpolation: slerp between the two posterior means, then decode;
- data-space interpolation: switch the positions where the two windows differ
  from the start's token to the end's, a growing share along the path, in one
  random order per pair (so the path is nested and its Hamming distance to the
  start grows linearly).
Along each path: the normalised Hamming distance of every interpolant to the
start and the end, and its ELBO under the model (teacher-forced log p(x|z),
z ~ q(z|x), minus KL(q || N(0, I)), in nats per window).

Attribute vectors: per attribute, the mean posterior mean of the training
windows in the attribute's top quartile minus that of its bottom quartile.
Adding a vector to held-out encodings and decoding shows how much every
attribute moves (a 5 x 5 matrix of relative changes) and how the moved
attribute follows the vector's magnitude.

Only the public TrainedMusicVAE API (encode / decode) and the objective's
functions are used; every random draw takes an explicit key.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from trajvae.core.distributions import kl_to_standard_normal
from trajvae.music import objective
from trajvae.music.api import TrainedMusicVAE, slerp
from trajvae.music.attributes import ATTRIBUTES, attribute_table


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """Share of (step, track) positions where token windows differ -> [...] (broadcast over leading axes)."""
  a, b = np.asarray(a), np.asarray(b)
  return (a != b).mean(axis=(-2, -1))


def pick_pairs(windows: np.ndarray, num: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
  """num (start, end) pairs of different windows [num, ...] each: disjoint pairs from one permutation, then
  another permutation while more pairs are asked for than the windows allow (a pair of equal windows has no
  path to interpolate, so it is skipped)."""
  if len(windows) < 2 or all(np.array_equal(windows[0], w) for w in windows[1:]):
    raise ValueError(
      f"interpolation needs at least 2 different windows, got {len(windows)} windows "
      f"with {len(np.unique(np.asarray(windows).reshape(len(windows), -1), axis=0))} distinct"
    )
  starts: list[int] = []
  ends: list[int] = []
  while len(starts) < num:
    order = rng.permutation(len(windows))
    for a, b in zip(order[0::2], order[1::2]):
      if len(starts) < num and not np.array_equal(windows[a], windows[b]):
        starts.append(int(a))
        ends.append(int(b))
  return windows[starts], windows[ends]


def data_space_path(start: np.ndarray, end: np.ndarray, amounts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  """Interpolants [A, steps, tracks]: at amount t, round(t * d) of the d differing positions take the end's token.

  The positions switch in one random order, so each interpolant contains the
  switches of the previous one: amount 0 is the start, amount 1 the end.
  """
  start, end = np.asarray(start), np.asarray(end)
  if start.shape != end.shape or start.ndim != 2:
    raise ValueError(f"expected two windows [steps, tracks] of one shape, got {start.shape} and {end.shape}")
  amounts = np.asarray(amounts, float)
  if amounts.min(initial=0.0) < 0 or amounts.max(initial=0.0) > 1:
    raise ValueError("interpolation amounts lie in [0, 1]")
  differ = np.flatnonzero(start.ravel() != end.ravel())
  order = rng.permutation(differ)
  path = np.repeat(start.ravel()[None], len(amounts), axis=0)
  for i, t in enumerate(amounts):
    switched = order[: round(t * len(order))]
    path[i, switched] = end.ravel()[switched]
  return path.reshape((len(amounts),) + start.shape)


def latent_space_path(mu_start: np.ndarray, mu_end: np.ndarray, amounts: np.ndarray) -> np.ndarray:
  """Latents [A, Z] on the slerp between two posterior means (the reference's TrainedModel.interpolate)."""
  return np.stack([slerp(np.asarray(mu_start), np.asarray(mu_end), float(t)) for t in amounts])


def _batches(num: int, batch: int):
  for start in range(0, num, batch):
    yield start, min(start + batch, num)


def _pad(x: np.ndarray, size: int) -> np.ndarray:
  """Pad the leading axis to size with copies of the first row (keeps one compiled shape per batch size)."""
  if len(x) == size:
    return x
  return np.concatenate([x, np.repeat(x[:1], size - len(x), axis=0)])


def encode_means(
  trained: TrainedMusicVAE, tokens: np.ndarray, key: jax.Array, batch: int = 256
) -> tuple[np.ndarray, np.ndarray]:
  """Posterior means and standard deviations [N, Z] of token windows, in fixed-size batches."""
  tokens = np.asarray(tokens)
  size = min(batch, len(tokens))
  mus, sigmas = [], []
  for i, (lo, hi) in enumerate(_batches(len(tokens), size)):
    _, mu, sigma = trained.encode(_pad(tokens[lo:hi], size), key=jax.random.fold_in(key, i))
    mus.append(mu[: hi - lo])
    sigmas.append(sigma[: hi - lo])
  return np.concatenate(mus), np.concatenate(sigmas)


def decode_latents(
  trained: TrainedMusicVAE, z: np.ndarray, key: jax.Array, temperature: float, batch: int = 256
) -> np.ndarray:
  """Token windows decoded from latents [N, Z] in fixed-size batches (batch i samples with fold_in(key, i))."""
  z = np.asarray(z, np.float32)
  size = min(batch, len(z))
  out = []
  for i, (lo, hi) in enumerate(_batches(len(z), size)):
    tokens = trained.decode(_pad(z[lo:hi], size), temperature=temperature, key=jax.random.fold_in(key, i))
    out.append(tokens[: hi - lo])
  return np.concatenate(out)


@functools.partial(jax.jit, static_argnums=0)
def _log_likelihood(graphdef, params, tokens, key):
  """Teacher-forced log p(x|z) with z ~ q(z|x) -> [B]."""
  model = nnx.merge(graphdef, params)
  logits = objective.reconstruction_logits(model, tokens, key, None)  # teacher-forced
  return objective.reconstruction_log_likelihood(logits, tokens, model.config.track_depths)


def sequence_elbo(
  trained: TrainedMusicVAE, tokens: np.ndarray, key: jax.Array, samples: int = 1, batch: int = 256
) -> np.ndarray:
  """ELBO of each window in nats -> [N]: mean over `samples` z ~ q(z|x) of teacher-forced log p(x|z), minus KL."""
  tokens = np.asarray(tokens)
  if samples < 1:
    raise ValueError("samples must be at least 1")
  size = min(batch, len(tokens))
  out = []
  for i, (lo, hi) in enumerate(_batches(len(tokens), size)):
    x = _pad(tokens[lo:hi], size)
    batch_key = jax.random.fold_in(key, i)
    _, mu, sigma = trained.encode(x, key=batch_key)
    kl = np.asarray(kl_to_standard_normal(jnp.asarray(mu), jnp.asarray(sigma)))
    log_lik = np.mean(
      [
        np.asarray(
          _log_likelihood(
            trained.graphdef, trained.params, jnp.asarray(x, jnp.int32), jax.random.fold_in(batch_key, s + 1)
          )
        )
        for s in range(samples)
      ],
      axis=0,
    )
    out.append((log_lik - kl)[: hi - lo])
  return np.concatenate(out)


def interpolation_study(
  trained: TrainedMusicVAE,
  starts: np.ndarray,
  ends: np.ndarray,
  amounts: np.ndarray,
  key: jax.Array,
  temperature: float = 0.5,
  elbo_samples: int = 1,
  seed: int = 0,
  batch: int = 256,
) -> dict[str, Any]:
  """Latent- vs data-space interpolation between pairs (starts[i], ends[i]) of windows [P, steps, tracks].

  Returns {"amounts": [A], "latent" / "data": {"tokens": [P, A, steps, tracks],
  "distance_to_start", "distance_to_end", "elbo": [P, A]}}.
  """
  starts, ends, amounts = np.asarray(starts), np.asarray(ends), np.asarray(amounts, float)
  if starts.shape != ends.shape or starts.ndim != 3 or len(starts) == 0:
    raise ValueError(
      f"expected start and end windows [P, steps, tracks] of one shape, got {starts.shape}, {ends.shape}"
    )
  num_pairs, num_amounts = len(starts), len(amounts)
  encode_key, decode_key, elbo_key = jax.random.split(key, 3)
  mu, _ = encode_means(trained, np.concatenate([starts, ends]), encode_key, batch)
  z = np.stack([latent_space_path(mu[i], mu[num_pairs + i], amounts) for i in range(num_pairs)])
  latent = decode_latents(trained, z.reshape(num_pairs * num_amounts, -1), decode_key, temperature, batch)
  rng = np.random.default_rng(seed)
  paths = {
    "latent": latent.reshape((num_pairs, num_amounts) + starts.shape[1:]),
    "data": np.stack([data_space_path(s, e, amounts, rng) for s, e in zip(starts, ends)]),
  }
  out: dict[str, Any] = {"amounts": amounts}
  for method, tokens in paths.items():
    flat = tokens.reshape((-1,) + starts.shape[1:])
    out[method] = {
      "tokens": tokens,
      "distance_to_start": hamming(tokens, starts[:, None]),
      "distance_to_end": hamming(tokens, ends[:, None]),
      "elbo": sequence_elbo(trained, flat, elbo_key, elbo_samples, batch).reshape(num_pairs, num_amounts),
    }
  return out


def quartile_split(values: np.ndarray, quantile: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
  """Indices of the bottom and top `quantile` share of the defined (non-NaN) values, ties broken at random."""
  if not 0 < quantile <= 0.5:
    raise ValueError("quantile must lie in (0, 0.5]")
  values = np.asarray(values, float)
  defined = np.flatnonzero(~np.isnan(values))
  count = round(quantile * len(defined))
  if count < 1:
    raise ValueError(f"too few windows with a defined value ({len(defined)}) for a {quantile:g} quantile")
  order = defined[np.lexsort((rng.random(len(defined)), values[defined]))]
  return order[:count], order[-count:]


def attribute_vectors(
  mu: np.ndarray, values: np.ndarray, quantile: float = 0.25, seed: int = 0, constant: str = "raise"
) -> np.ndarray:
  """One vector per attribute column: mean mu of the top quantile minus that of the bottom -> [K, Z].

  mu [N, Z] are posterior means, values [N, K] the windows' attributes (NaN:
  undefined, left out). An attribute whose top and bottom quantiles have the
  same mean (e.g. no window is syncopated) is an error, or with
  constant="nan" a vector of NaN.
  """
  if constant not in ("raise", "nan"):
    raise ValueError("constant is 'raise' or 'nan'")
  mu, values = np.asarray(mu, float), np.asarray(values, float)
  if values.ndim != 2 or len(values) != len(mu):
    raise ValueError(f"expected values [N, K] for {len(mu)} latents, got {values.shape}")
  rng = np.random.default_rng(seed)
  vectors = []
  for k in range(values.shape[1]):
    low, high = quartile_split(values[:, k], quantile, rng)
    if values[high, k].mean() <= values[low, k].mean():
      if constant == "raise":
        raise ValueError(f"attribute column {k} does not vary across these windows")
      vectors.append(np.full(mu.shape[1], np.nan))
    else:
      vectors.append(mu[high].mean(0) - mu[low].mean(0))
  return np.stack(vectors)


def relative_change(before: np.ndarray, after: np.ndarray) -> np.ndarray:
  """(mean after - mean before) / |mean before| per attribute column, NaN values left out -> [K]."""
  with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN, as documented
    base = np.nanmean(np.asarray(before, float), axis=0)
    return (np.nanmean(np.asarray(after, float), axis=0) - base) / np.abs(base)


def shifted_attributes(
  trained: TrainedMusicVAE,
  mu: np.ndarray,
  vector: np.ndarray,
  scales: np.ndarray,
  key: jax.Array,
  temperature: float = 0.5,
  batch: int = 256,
  names: tuple[str, ...] = tuple(ATTRIBUTES),
) -> np.ndarray:
  """Attributes [S, N, K] of the windows decoded from mu + scale * vector, for each scale.

  Every scale decodes with the same key, so the decoder's sampling noise is
  shared and the differences come from the latent shift.
  """
  mu = np.asarray(mu, np.float32)
  if np.isnan(vector).any():
    return np.full((len(scales), len(mu), len(names)), np.nan)
  return np.stack(
    [
      attribute_table(decode_latents(trained, mu + s * np.asarray(vector, np.float32), key, temperature, batch), names)
      for s in np.asarray(scales, float)
    ]
  )


def attribute_study(
  trained: TrainedMusicVAE,
  train_tokens: np.ndarray,
  heldout_tokens: np.ndarray,
  key: jax.Array,
  temperature: float = 0.5,
  scale: float = 1.0,
  quantile: float = 0.25,
  seed: int = 0,
  batch: int = 256,
  names: tuple[str, ...] = tuple(ATTRIBUTES),
) -> dict[str, np.ndarray]:
  """Attribute vectors from the training windows, applied (times scale) to held-out encodings.

  Returns vectors [K, Z]; the attributes of the training data [N_train, K];
  heldout_mu [N, Z]; the attributes of the held-out inputs and of their plain
  decodings [N, K]; shifted [K, N, K]
  (row k: decoded with vector k added); and change [K, K], the relative
  change of each attribute's mean (column) when vector k (row) is added,
  against the plain decodings. An attribute constant over the training
  windows gets a NaN vector and a NaN row.
  """
  train_key, heldout_key, decode_key = jax.random.split(key, 3)
  train_mu, _ = encode_means(trained, train_tokens, train_key, batch)
  train_values = attribute_table(train_tokens, names)
  vectors = attribute_vectors(train_mu, train_values, quantile, seed, constant="nan")
  mu, _ = encode_means(trained, heldout_tokens, heldout_key, batch)
  decoded = attribute_table(decode_latents(trained, mu, decode_key, temperature, batch), names)
  shifted = np.stack(
    [shifted_attributes(trained, mu, v, [scale], decode_key, temperature, batch, names)[0] for v in vectors]
  )
  change = np.stack([relative_change(decoded, row) for row in shifted])
  return {
    "vectors": vectors,
    "train_values": train_values,
    "heldout_mu": mu,
    "inputs": attribute_table(heldout_tokens, names),
    "decoded": decoded,
    "shifted": shifted,
    "change": change,
  }
