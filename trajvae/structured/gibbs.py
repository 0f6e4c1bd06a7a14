"""The plain decoder and the Gibbs decoder w' ~ N(w, sigma^2 I), whose expected distortion the PAC-Bayes bound controls.

The Gibbs decoder predicts argmax_{(y, h)} <phi(x, y, h), w'> with a fresh w' per prediction; its
expected distortion E_{w'} E_{(x, y)} d(y, f_{w'}(x)) is estimated by Monte Carlo over M draws of
w', each scored on the whole evaluation set (vmapped over examples, mapped over draws). Since the
decoder is invariant to the scale of w, only sigma relative to ||w|| matters.

`pac_bayes_sigma` is the noise level at which a unit latent margin makes the perturbed decoder
agree with the plain one up to the bound's accuracy: with ||phi(x, y, h) - phi(x, y', h')|| <= 1, a
union bound over the |Y| |H| competitors of the Gaussian tail gives

  sigma^2 = 1 / (2 log(n |Y| |H| / ||w||^2)),

and the KL term ||w||^2 / (2 sigma^2) = ||w||^2 log(n |Y| |H| / ||w||^2) is where the bound grows
only logarithmically in |H|. This is our derivation of the papers' choice; constants may differ.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from trajvae.structured.problem import Array, LatentProblem


@dataclasses.dataclass(frozen=True)
class Evaluation:
  distortion: float  # plain decoder, mean over examples
  gibbs_distortion: float  # Gibbs decoder, Monte Carlo mean
  gibbs_stderr: float  # standard error of that mean over the M draws of w'
  sigma: float
  latent_accuracy: float  # fraction of predicted h equal to the true h (nan when unknown)


def pac_bayes_sigma(n: int, num_outputs: int, num_latents: int, w_sq_norm: float) -> float:
  """sigma = 1 / sqrt(2 log(n |Y| |H| / ||w||^2)), with the log floored at 1."""
  ratio = n * num_outputs * num_latents / max(w_sq_norm, 1e-12)
  return 1.0 / math.sqrt(2.0 * max(1.0, math.log(ratio)))


@functools.partial(jax.jit, static_argnums=0)
def predict(problem: LatentProblem, w: Array, xs: Array) -> tuple[Array, Array]:
  """The plain decoder's (y, h) for every example."""
  return jax.vmap(problem.argmax, in_axes=(None, 0))(w, xs)


def _distortions(problem: LatentProblem, w: Array, xs: Array, ys: Array) -> tuple[Array, Array]:
  """Per-example distortion of the decoder w and its predicted latents."""
  y_hat, h_hat = jax.vmap(problem.argmax, in_axes=(None, 0))(w, xs)
  return jax.vmap(problem.distortion)(ys, y_hat), h_hat


_plain = jax.jit(_distortions, static_argnums=0)


@functools.partial(jax.jit, static_argnums=(0, 5))
def _gibbs_per_draw(
  problem: LatentProblem, w: Array, xs: Array, ys: Array, key: Array, num_draws: int, sigma: Array
) -> Array:
  """Mean distortion on (xs, ys) of each of num_draws perturbed decoders, [num_draws]."""
  draws = w + sigma * jax.random.normal(key, (num_draws, w.shape[0]))
  return jax.lax.map(lambda w_draw: jnp.mean(_distortions(problem, w_draw, xs, ys)[0]), draws)


def evaluate(
  problem: LatentProblem,
  w,
  xs,
  ys,
  *,
  sigma: float,
  num_draws: int = 20,
  seed: int = 0,
  hs=None,
) -> Evaluation:
  """Plain and Gibbs distortion of w on (xs, ys) (num_draws=0 skips the Gibbs decoder); hs, if given,
  the true latents for `latent_accuracy`."""
  problem.check_weights(w)
  problem.check_inputs(xs)
  problem.check_labels(ys, n=np.shape(xs)[0])
  if sigma < 0 or num_draws < 0:
    raise ValueError(f"need sigma >= 0 and num_draws >= 0, got sigma={sigma}, num_draws={num_draws}")
  w, xs, ys = jnp.asarray(w, jnp.float32), jnp.asarray(xs, jnp.float32), jnp.asarray(ys, jnp.int32)
  distortions, h_hat = _plain(problem, w, xs, ys)
  latent_accuracy = float("nan") if hs is None else float(np.mean(np.asarray(h_hat) == np.asarray(hs)))
  gibbs, stderr = float("nan"), float("nan")
  if num_draws > 0:
    per_draw = np.asarray(_gibbs_per_draw(problem, w, xs, ys, jax.random.key(seed), num_draws, jnp.float32(sigma)))
    gibbs = float(per_draw.mean())
    stderr = float(per_draw.std(ddof=1) / math.sqrt(num_draws)) if num_draws > 1 else float("nan")
  return Evaluation(float(jnp.mean(distortions)), gibbs, stderr, float(sigma), latent_accuracy)
