"""What keeps the training step's memory down: runtime-owned replicated state and a fused norm guard."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from trajvae.train import sharding
from trajvae.train.optim import guard_global_norm, zero_if_norm_at_least


def test_replicate_never_aliases_the_input_so_donation_needs_no_copy():
  """On a CPU a host round trip is zero-copy: without the copy the placed state would be the caller's buffer."""
  tree = {"w": jnp.arange(12.0).reshape(3, 4), "step": jnp.int32(3)}
  placed = sharding.replicate(tree, sharding.data_mesh())
  assert placed["w"].unsafe_buffer_pointer() != tree["w"].unsafe_buffer_pointer()
  assert placed["w"].sharding == sharding.replicated(sharding.data_mesh())
  step = jax.jit(lambda t: jax.tree.map(lambda x: x + 1, t), donate_argnums=0)
  out = step(placed)
  assert placed["w"].is_deleted() and not tree["w"].is_deleted()
  np.testing.assert_array_equal(out["w"], tree["w"] + 1)


@pytest.mark.parametrize("scale", [1e-3, 1.0, 3e4, float("nan")])
def test_guard_is_zero_then_clip_from_one_norm(scale):
  grads = {"a": jnp.arange(6.0).reshape(2, 3) * scale, "b": jnp.full((4,), 3.0) * scale}
  chain = optax.chain(zero_if_norm_at_least(1e4), optax.clip_by_global_norm(1.0))
  want, _ = chain.update(grads, chain.init(grads))
  got, _ = guard_global_norm(1.0, 1e4).update(grads, optax.EmptyState())
  for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
    np.testing.assert_allclose(g, w, rtol=1e-6)
  norm = float(optax.global_norm(got))
  assert norm == 0.0 if not scale < 1e3 else norm <= 1.0 + 1e-6


def test_guarded_optimizer_keeps_the_state_tree_of_the_two_transforms():
  """Checkpoints written before the fusion restore: one (empty) state slot per guard, then Adam's."""
  from trajvae.train.configs import OptimConfig
  from trajvae.train.optim import make_optimizer

  params = {"w": jnp.ones((2, 2))}
  config = OptimConfig(name="adam", clip_global_norm=1.0, zero_grads_above_norm=1e4)
  old = optax.chain(
    zero_if_norm_at_least(1e4), optax.clip_by_global_norm(1.0), optax.adam(optax.constant_schedule(1e-3))
  )
  assert jax.tree.structure(make_optimizer(config).init(params)) == jax.tree.structure(old.init(params))
