"""SeCTAR ring buffer: FIFO overwrite, fixed 90/10 split by slot, sampling only filled slots, all under jit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trajvae.sectar import buffer as rb


def segments(ids, t=3, d=2):
  """Segments whose every state entry equals the segment id, actions = id too."""
  ids = jnp.asarray(ids, jnp.float32)
  return jnp.broadcast_to(ids[:, None, None], (len(ids), t + 1, d)), jnp.broadcast_to(
    ids[:, None], (len(ids), t)
  ).astype(jnp.int32)


def test_fifo_insert_and_overwrite_oldest():
  buf = rb.empty(20, 3, 2)
  add = jax.jit(rb.add)
  buf = add(buf, *segments(np.arange(12)))
  assert int(buf.size) == 12 and int(buf.ptr) == 12
  buf = add(buf, *segments(np.arange(12, 24)))  # wraps: 20, 21, 22, 23 overwrite slots 0..3
  assert int(buf.size) == 20 and int(buf.ptr) == 4
  ids = np.asarray(buf.states[:, 0, 0])
  np.testing.assert_array_equal(ids, [20, 21, 22, 23] + list(range(4, 20)))
  np.testing.assert_array_equal(np.asarray(buf.actions[:, 0]), ids.astype(np.int32))
  # More than the capacity at once keeps the newest.
  buf = add(rb.empty(10, 3, 2), *segments(np.arange(25)))
  assert sorted(np.asarray(buf.states[:, 0, 0]).tolist()) == list(range(15, 25))


def test_split_is_disjoint_ninety_ten_and_only_filled_slots():
  buf = rb.add(rb.empty(100, 3, 2), *segments(np.arange(50)))
  n_train, n_val = rb.split_sizes(buf)
  assert (int(n_train), int(n_val)) == (45, 5)
  sample = jax.jit(rb.sample_batch, static_argnums=(2, 3))
  train = np.asarray(sample(buf, jax.random.key(0), 4000, "train").states[:, 0, 0]).astype(int)
  val = np.asarray(sample(buf, jax.random.key(1), 1000, "val").states[:, 0, 0]).astype(int)
  assert set(val) == {9, 19, 29, 39, 49}
  assert set(train) == set(range(50)) - set(val)  # all 45 train slots reached, none unfilled
  starts = np.asarray(rb.sample_start_states(buf, jax.random.key(2), 500))
  assert starts.shape == (500, 2) and not set(starts[:, 0].astype(int)) & set(val)


def test_continuous_actions_and_bad_split():
  buf = rb.empty(10, 4, 3, action_shape=(2,), discrete=False)
  assert buf.actions.shape == (10, 4, 2) and buf.actions.dtype == jnp.float32
  with pytest.raises(ValueError, match="split"):
    rb.sample_batch(buf, jax.random.key(0), 2, "test")
  with pytest.raises(ValueError, match="capacity"):
    rb.empty(5, 3, 2)


@pytest.mark.slow
def test_epoch_slots_are_one_capped_pass_over_the_training_split():
  buf = rb.add(rb.empty(200, 3, 2), *segments(np.arange(100)))  # 90 training segments
  slots, count = jax.jit(rb.epoch_slots, static_argnums=(2, 3))(buf, jax.random.key(0), 30, 5)
  assert slots.shape == (5, 30) and int(count) == 3  # drop_last: 90 // 30 full minibatches
  used = np.asarray(slots[:3]).ravel()
  assert len(np.unique(used)) == 90 and not np.any(rb.is_val_slot(used))  # each training segment once
  assert int(rb.epoch_slots(buf, jax.random.key(0), 10, 4)[1]) == 4  # capped at max_batches
  small = rb.add(rb.empty(200, 3, 2), *segments(np.arange(12)))  # 11 training segments < one batch
  slots, count = rb.epoch_slots(small, jax.random.key(0), 30, 5)
  assert int(count) == 1 and np.all(np.asarray(slots[0]) < 12) and not np.any(rb.is_val_slot(np.asarray(slots[0])))
