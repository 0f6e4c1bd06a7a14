"""Latent-margin losses of one example, as functions of w whose JAX gradient is a subgradient.

Latent margin of a competitor (y', h') against the true output y (Bello & Honorio):

  m(x, y, y', h'; w) = max_h <phi(x, y, h), w> - <phi(x, y', h'), w>

Slack-rescaled latent-margin loss, over all of Y x H (the "full" loss) or over a set S of pairs
drawn i.i.d. from the proposal R(x) (the randomized loss):

  full:        max_{(y', h') in Y x H} d(y, y') * max(0, 1 - m(x, y, y', h'; w))
  randomized:  max_{(y', h') in S}     d(y, y') * max(0, 1 - m(x, y, y', h'; w))

The randomized loss is a maximum over a subset, so it never exceeds the full loss, and equals it
when S covers Y x H. Both are differences of convex functions of w (the max over h inside the
margin is the concave part). Fixing the true latent at an imputed h* instead of the max turns the
margin into <phi(x, y, h*), w> - <phi(x, y', h'), w>, a convex upper bound: the step the
concave-convex procedure of the classic latent structural SVM solves. The argmax is found without
gradients; the loss is then re-scored at it, so jax.grad gives the subgradient
d * 1[violated] * (phi(x, y', h') - phi(x, y, h_true)).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

from trajvae.structured.problem import Array, Rescaling, rescaled_violation

if TYPE_CHECKING:
  from trajvae.structured.problem import LatentProblem


def true_score(problem: LatentProblem, w: Array, x: Array, y: Array, h_true: Array | None = None) -> Array:
  """max_h <phi(x, y, h), w>, or <phi(x, y, h_true), w> when the latent is imputed (fixed).

  The max is re-scored at its argmax, so the gradient touches one feature vector instead of
  flowing back through the scores of every h.
  """
  if h_true is None:
    h_true = problem.impute(jax.lax.stop_gradient(w), x, y)
  return problem.score(w, x, y, h_true)


def full_latent_loss(
  problem: LatentProblem, w: Array, x: Array, y: Array, h_true: Array | None = None, rescaling: Rescaling = "slack"
) -> Array:
  """The maximum over all of Y x H, by the problem's exact loss-augmented inference.

  With rescaling="margin" and an imputed h_true this is Yu & Joachims' convex step,
  max_{y', h'} [d(y, y') + <phi(x, y', h'), w>] - <phi(x, y, h*), w>.
  """
  t = true_score(problem, w, x, y, h_true)
  y_hat, h_hat = problem.loss_augmented_argmax(jax.lax.stop_gradient(w), x, y, jax.lax.stop_gradient(t), rescaling)
  return rescaled_violation(problem.distortion(y, y_hat), problem.score(w, x, y_hat, h_hat), t, rescaling)


def randomized_latent_loss(
  problem: LatentProblem, w: Array, x: Array, y: Array, sample_ys: Array, sample_hs: Array, h_true: Array | None = None
) -> Array:
  """The slack-rescaled maximum over the sampled pairs (sample_ys[j], sample_hs[j])."""
  if sample_hs.shape[0] == 0 or sample_ys.shape[0] != sample_hs.shape[0]:
    raise ValueError(
      f"empty or ragged proposal sample: {sample_ys.shape[0]} outputs and {sample_hs.shape[0]} latents; "
      "the randomized loss needs at least one (y, h) pair"
    )
  t = true_score(problem, w, x, y, h_true)
  scores = jax.vmap(lambda y_hat, h_hat: problem.score(w, x, y_hat, h_hat))(sample_ys, sample_hs)
  d = jax.vmap(lambda y_hat: problem.distortion(y, y_hat))(sample_ys)
  return jnp.max(rescaled_violation(d, scores, t, "slack"))


def whole_space_sample(problem: LatentProblem) -> tuple[Array, Array]:
  """Every (y, h) pair once, as a 'sample' of size |Y| |H|: the randomized loss then equals the full one."""
  outputs = problem.enumerate_outputs()
  ys = jnp.repeat(outputs, problem.num_latents, axis=0)
  hs = jnp.tile(jnp.arange(problem.num_latents), problem.num_outputs)
  return ys, hs
