"""Step-indexed minibatches over in-memory arrays.

The batch for a step is a pure function of (seed, step): each epoch is a fresh
seeded permutation, so a resumed run sees exactly the batches it would have
seen, without saving iterator state. Under multi-process training each process
takes its own contiguous slice of the global batch.
"""

from __future__ import annotations

from typing import Callable, Mapping

import jax
import numpy as np

from trajvae.errors import ConfigError


def epoch_permutation(num_examples: int, seed: int, epoch: int) -> np.ndarray:
  return np.random.default_rng([seed, epoch]).permutation(num_examples)


def batch_indices(num_examples: int, global_batch_size: int, seed: int, step: int) -> np.ndarray:
  """Indices of the global batch at step: epochs of seeded permutations, the last partial batch dropped."""
  if global_batch_size > num_examples:
    raise ConfigError(f"batch size {global_batch_size} exceeds the {num_examples} training examples")
  per_epoch = num_examples // global_batch_size
  epoch, position = divmod(step, per_epoch)
  permutation = epoch_permutation(num_examples, seed, epoch)
  return permutation[position * global_batch_size : (position + 1) * global_batch_size]


def array_batches(
  arrays: Mapping[str, np.ndarray], global_batch_size: int, seed: int
) -> Callable[[int], dict[str, np.ndarray]]:
  """step -> this process's share of the step's batch, for equally long arrays."""
  sizes = {name: len(a) for name, a in arrays.items()}
  if len(set(sizes.values())) != 1:
    raise ValueError(f"arrays differ in length: {sizes}")
  num_examples = next(iter(sizes.values()))
  if num_examples == 0:
    raise ValueError("the dataset is empty")
  processes, index = jax.process_count(), jax.process_index()
  if global_batch_size % processes:
    raise ConfigError(f"batch size {global_batch_size} is not divisible by the {processes} processes")
  local = global_batch_size // processes

  def batch(step: int) -> dict[str, np.ndarray]:
    idx = batch_indices(num_examples, global_batch_size, seed, step)[index * local : (index + 1) * local]
    return {name: a[idx] for name, a in arrays.items()}

  return batch
