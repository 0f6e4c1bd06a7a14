"""Step-indexed token batches through a grain MapDataset.

make_batches(windows, batch_size, seed)(step) is a pure function of (seed, step):
a grain MapDataset over steps (random access, repeated without end) maps each
step to its slice of the epoch's seeded permutation of the windows, so a resumed
run sees exactly the batches it would have seen, without iterator state. The
windows are gathered with one numpy take per batch; grain's per-element
shuffle (MapDataset.range(N).shuffle().repeat().batch()) costs ~13 us per
example, 7 ms per batch of 512, which would hold back small models. Each JAX
process takes its own contiguous slice of the global batch. With
transpose_range r (melody only), each example of the global batch is transposed
by a shift drawn uniformly from [-r, r] by a generator seeded with (seed, step);
a shift that would move a note outside MIDI 21-108 is replaced by 0 for that
example.
"""

from __future__ import annotations

import functools
from typing import Callable

import grain
import jax
import numpy as np

from trajvae.music import melody


def transpose_batch(tokens: np.ndarray, shifts: np.ndarray) -> np.ndarray:
  """Melody tokens [B, T, 1] shifted per example; a shift leaving the pitch range becomes 0."""
  pitched = tokens >= melody.NUM_SPECIAL
  shifted = tokens + np.where(pitched, shifts[:, None, None], 0)
  in_range = (shifted >= melody.NUM_SPECIAL) & (shifted < melody.NUM_CLASSES)
  ok = np.all(~pitched | in_range, axis=(1, 2))
  return np.where(ok[:, None, None], shifted, tokens).astype(np.int32)


def epoch_permutation(num_examples: int, seed: int, epoch: int) -> np.ndarray:
  return np.random.default_rng([seed, epoch]).permutation(num_examples)


def index_batches(num_examples: int, global_batch_size: int, seed: int) -> grain.MapDataset:
  """ds[step] = int64 [global_batch_size] example indices: seeded permutations per epoch, last partial batch dropped."""
  per_epoch = num_examples // global_batch_size
  permutation = functools.lru_cache(maxsize=2)(functools.partial(epoch_permutation, num_examples, seed))

  def indices(step: int, position: int) -> np.ndarray:
    start = position * global_batch_size
    return permutation(step // per_epoch)[start : start + global_batch_size]

  return grain.MapDataset.range(per_epoch).repeat().map_with_index(indices)


def make_dataset(
    windows: np.ndarray, batch_size: int, seed: int, transpose_range: int = 0
) -> grain.MapDataset:
  """ds[step] = {"tokens": int32 [batch_size / processes, steps, tracks]}: this process's share of the step's batch."""
  windows = np.asarray(windows, np.int32)
  if windows.ndim != 3 or len(windows) == 0:
    raise ValueError(f"need a non-empty [N, steps, tracks] array of windows, got shape {windows.shape}")
  if batch_size > len(windows):
    raise ValueError(f"batch size {batch_size} exceeds the {len(windows)} training windows")
  if transpose_range and (windows.shape[2] != 1 or windows.max() >= melody.NUM_CLASSES):
    raise ValueError("transposition applies to melody tokens only ([N, steps, 1], tokens < 90)")
  processes, index = jax.process_count(), jax.process_index()
  if batch_size % processes:
    raise ValueError(f"batch size {batch_size} is not divisible by the {processes} processes")
  local = slice(index * (batch_size // processes), (index + 1) * (batch_size // processes))

  def gather(step: int, indices: np.ndarray) -> dict[str, np.ndarray]:
    tokens = windows[np.asarray(indices)[local]]
    if transpose_range:
      shifts = np.random.default_rng([seed, step]).integers(-transpose_range, transpose_range + 1, batch_size)
      tokens = transpose_batch(tokens, shifts[local])
    return {"tokens": tokens}

  return index_batches(len(windows), batch_size, seed).map_with_index(gather)


def make_batches(
    windows: np.ndarray, batch_size: int, seed: int, transpose_range: int = 0
) -> Callable[[int], dict[str, np.ndarray]]:
  """step -> {"tokens": int32 [local batch, steps, tracks]}, a pure function of (seed, step)."""
  dataset = make_dataset(windows, batch_size, seed, transpose_range)
  return lambda step: dataset[int(step)]
