"""A FIFO ring buffer of (state segment, action segment) pairs, as a jit-friendly pytree.

Fixed-capacity arrays plus an insert pointer and a size, so inserting and
sampling are pure functions that run inside jit (the authors' buffer: FIFO,
capacity 1e6, waypoint 9k-36k). The 90/10 train/validation split is by slot:
every 10th slot (index % 10 == 9) is validation, so the split stays fixed as
the ring overwrites old segments and needs no bookkeeping.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from trajvae.sectar.losses import Batch

Array = jax.Array
VAL_EVERY = 10  # slot i is validation iff i % VAL_EVERY == VAL_EVERY - 1


class Buffer(NamedTuple):
  states: Array  # [C, T+1, D]
  actions: Array  # [C, T] int32 (discrete) or [C, T, A] float32
  ptr: Array  # int32 scalar: next slot to write
  size: Array  # int32 scalar: filled slots (<= C)

  @property
  def capacity(self) -> int:
    return self.states.shape[0]


def empty(
  capacity: int, segment_len: int, obs_dim: int, action_shape: tuple[int, ...] = (), discrete: bool = True
) -> Buffer:
  """An empty buffer for segments of segment_len + 1 states (segment_len actions)."""
  if capacity < VAL_EVERY:
    raise ValueError(f"buffer capacity must be at least {VAL_EVERY}, got {capacity}")
  adtype = jnp.int32 if discrete else jnp.float32
  return Buffer(
    states=jnp.zeros((capacity, segment_len + 1, obs_dim), jnp.float32),
    actions=jnp.zeros((capacity, segment_len) + tuple(action_shape), adtype),
    ptr=jnp.zeros((), jnp.int32),
    size=jnp.zeros((), jnp.int32),
  )


def add(buffer: Buffer, states: Array, actions: Array) -> Buffer:
  """Append N segments (states [N, T+1, D], actions [N, T(, A)]), overwriting the oldest when full."""
  n = states.shape[0]
  cap = buffer.capacity
  if n > cap:  # only the newest cap segments would survive
    states, actions, n = states[-cap:], actions[-cap:], cap
  slots = (buffer.ptr + jnp.arange(n)) % cap
  return Buffer(
    states=buffer.states.at[slots].set(states.astype(buffer.states.dtype)),
    actions=buffer.actions.at[slots].set(actions.astype(buffer.actions.dtype)),
    ptr=(buffer.ptr + n) % cap,
    size=jnp.minimum(buffer.size + n, cap),
  )


def split_sizes(buffer: Buffer) -> tuple[Array, Array]:
  """(train, validation) segment counts among the filled slots."""
  n_val = buffer.size // VAL_EVERY
  return buffer.size - n_val, n_val


def _slots(buffer: Buffer, key: Array, n: int, split: str) -> Array:
  """n slot indices drawn uniformly (with replacement) from the filled slots of a split."""
  n_train, n_val = split_sizes(buffer)
  if split == "train":
    j = jax.random.randint(key, (n,), 0, jnp.maximum(n_train, 1))
    return j + j // (VAL_EVERY - 1)  # skip every validation slot
  if split == "val":
    j = jax.random.randint(key, (n,), 0, jnp.maximum(n_val, 1))
    return VAL_EVERY * j + VAL_EVERY - 1
  raise ValueError(f"split must be 'train' or 'val', got {split!r}")


def sample_batch(buffer: Buffer, key: Array, batch_size: int, split: str = "train") -> Batch:
  """A minibatch of segments from one split (uniform, with replacement)."""
  slots = _slots(buffer, key, batch_size, split)
  return Batch(states=buffer.states[slots], actions=buffer.actions[slots])


def epoch_slots(buffer: Buffer, key: Array, batch_size: int, max_batches: int) -> tuple[Array, Array]:
  """Minibatches of one shuffled pass over the training split, capped: (slots [max_batches, batch_size], count).

  As the authors' fit (a DataLoader with shuffle and drop_last, stopped after
  max_batches): count = min(n_train // batch_size, max_batches) full minibatches
  without replacement, at least 1 (drawn with repeats while the split holds
  fewer than batch_size segments). Rows from count on are padding: skip them.
  """
  n_train, _ = split_sizes(buffer)
  cap = buffer.capacity
  noise = jax.random.uniform(key, (cap,))
  order = jnp.argsort(jnp.where(jnp.arange(cap) < n_train, noise, 2.0))  # a permutation of 0..n_train-1 first
  j = order[jnp.arange(max_batches * batch_size) % cap] % jnp.maximum(n_train, 1)
  count = jnp.clip(n_train // batch_size, 1, max_batches)
  return (j + j // (VAL_EVERY - 1)).reshape(max_batches, batch_size), count


def sample_start_states(buffer: Buffer, key: Array, n: int) -> Array:
  """n first states s_0 of training segments [n, D] (start states of the consistency PPO)."""
  return buffer.states[_slots(buffer, key, n, "train"), 0]


def is_val_slot(index: Array) -> Array:
  return index % VAL_EVERY == VAL_EVERY - 1
