"""Pegasos-style stochastic subgradient descent on lam/2 ||w||^2 + mean_i loss_i(w), as one lax.scan.

Each step takes a minibatch (the per-example subgradients vmapped), steps by 1/(lam * t), with t
counted from step_offset + 1, and
projects onto the ball of radius sqrt(2 / lam), which holds the minimiser whenever the loss at
w = 0 is at most 1 (true for the slack-rescaled losses here, whose distortions lie in [0, 1]).
Shalev-Shwartz et al. (2007); it is what both learners use so that their timings compare solvers
that differ only in the loss.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from trajvae.structured.problem import Array

# loss(w, example) -> scalar, for one example (a pytree of leading-axis slices of `data`).
ExampleLoss = Callable[[Array, Any], Array]


def stochastic_subgradient(
  loss: ExampleLoss,
  w0: Array,
  data: Any,
  key: Array,
  *,
  lam: float,
  epochs: int,
  batch_size: int,
  step_offset: int | Array = 0,
  project: bool = True,
  monitor: Callable[[Array], Array] | None = None,
  refresh: Callable[[Any, Array], Any] | None = None,
) -> tuple[Array, Array]:
  """Run `epochs` shuffled passes; returns the last iterate and monitor(w) after each epoch ([epochs], zeros without one).

  refresh(data, key), if given, rebuilds the data at the start of every epoch (the randomized
  learner draws each epoch's proposal samples there, in one vectorised call rather than a small
  one per step: random numbers are costly on CPU).
  """
  n = jax.tree_util.tree_leaves(data)[0].shape[0]
  batch = min(batch_size, n)
  num_batches = n // batch
  radius = (2.0 / lam) ** 0.5
  subgradients = jax.vmap(jax.grad(loss), in_axes=(None, 0))

  def step(carry, index):
    w, t, epoch_data = carry
    examples = jax.tree_util.tree_map(lambda a: a[index], epoch_data)
    g = lam * w + jnp.mean(subgradients(w, examples), axis=0)
    w = w - g / (lam * t)
    if project:
      w = w * jnp.minimum(1.0, radius / (jnp.linalg.norm(w) + 1e-12))
    return (w, t + 1.0, epoch_data), None

  def epoch(carry, epoch_key):
    w, t = carry
    key_perm, key_refresh = jax.random.split(epoch_key)
    epoch_data = refresh(data, key_refresh) if refresh is not None else data
    order = jax.random.permutation(key_perm, n)[: num_batches * batch].reshape(num_batches, batch)
    (w, t, _), _ = jax.lax.scan(step, (w, t, epoch_data), order)
    value = monitor(w) if monitor is not None else jnp.zeros(())
    return (w, t), value

  start = jnp.asarray(step_offset, jnp.float32) + 1.0
  (w, _), trace = jax.lax.scan(epoch, (w0, start), jax.random.split(key, epochs))
  return w, trace


def steps_per_epoch(n: int, batch_size: int) -> int:
  return n // min(batch_size, n)
