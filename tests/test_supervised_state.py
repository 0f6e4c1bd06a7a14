"""The supervised driver's state and step plumbing: the replicated initial state, the first-call compile."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from trajvae.train import host_memory, sharding
from trajvae.train.supervised import (
  compiled_at_first_call,
  init_train_state,
  jit_data_parallel,
  make_train_step,
  replicated_train_state,
)


class _Linear(nnx.Module):
  def __init__(self, rngs: nnx.Rngs):
    self.dense = nnx.Linear(3, 2, rngs=rngs)

  def __call__(self, x):
    return self.dense(x)


def _loss(model, batch, key, step):
  err = model(batch["x"]) - batch["y"]
  return jnp.mean(err**2), {}


def _setup():
  graphdef, params = nnx.split(_Linear(nnx.Rngs(0)))
  tx = optax.adam(0.1)
  mesh = sharding.data_mesh()
  rng = np.random.default_rng(0)
  batch = {"x": rng.normal(size=(4, 3)).astype(np.float32), "y": rng.normal(size=(4, 2)).astype(np.float32)}
  return graphdef, params, tx, mesh, batch


def test_replicated_train_state_holds_what_init_train_state_holds_on_the_mesh():
  graphdef, params, tx, mesh, _ = _setup()
  eager = init_train_state(params, tx)
  placed = replicated_train_state(params, tx, mesh)
  assert jax.tree.structure(placed) == jax.tree.structure(eager)
  for a, b in zip(jax.tree.leaves(placed), jax.tree.leaves(eager)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert a.sharding.is_equivalent_to(sharding.replicated(mesh), a.ndim)
  # adam's moments start at zero and its count at 0, whatever the parameters
  assert int(placed.step) == 0 and float(jnp.abs(placed.opt_state[0].mu["dense"]["kernel"][...]).max()) == 0.0


def test_compiled_at_first_call_steps_as_jit_does_and_donates_its_state():
  graphdef, params, tx, mesh, batch = _setup()
  jitted = jit_data_parallel(make_train_step(graphdef, _loss, tx), mesh)
  step = compiled_at_first_call(jitted)
  key = jax.random.key(0)
  data = sharding.shard_batch(batch, mesh)
  a, b = replicated_train_state(params, tx, mesh), replicated_train_state(params, tx, mesh)
  for _ in range(3):
    a, metrics_a = step(a, data, key)
    b, metrics_b = jitted(b, data, key)
    assert float(metrics_a["loss"]) == float(metrics_b["loss"])
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
  old = a
  a, _ = step(a, data, key)
  assert jax.tree.leaves(old.params)[0].is_deleted()  # the compiled step keeps jit's donation


def test_compiled_at_first_call_falls_back_to_jit_for_another_batch_shape():
  graphdef, params, tx, mesh, batch = _setup()
  step = compiled_at_first_call(jit_data_parallel(make_train_step(graphdef, _loss, tx), mesh))
  key = jax.random.key(0)
  state, _ = step(replicated_train_state(params, tx, mesh), sharding.shard_batch(batch, mesh), key)
  bigger = {k: np.concatenate([v, v]) for k, v in batch.items()}
  state, metrics = step(state, sharding.shard_batch(bigger, mesh), key)
  assert int(state.step) == 2 and np.isfinite(float(metrics["loss"]))
  with pytest.raises(TypeError, match="dot_general"):  # a real mistake still reaches the caller, from jit
    step(state, sharding.shard_batch({"x": np.zeros((4, 5), np.float32), "y": batch["y"]}, mesh), key)


def test_release_freed_heap_answers_whether_it_could():
  assert isinstance(host_memory.release_freed_heap(), bool)
