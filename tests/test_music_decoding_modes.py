"""MusicVAE's decoding modes agree: teacher-forced (bars in parallel) vs step-by-step, scheduled vs its fast twin."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from trajvae.music.configs import MusicModelConfig
from trajvae.music.model import init_model

TINY = dict(z_size=8, enc_rnn_sizes=(16,), dec_rnn_sizes=(16, 12))
# The hierarchical kinds compile the most: they run in `make test`, the flat ones in `make test-fast` too.
KINDS = [
  pytest.param(dict(), id="flat-melody"),
  pytest.param(dict(num_steps=64, decoder="hierarchical"), id="hier-melody", marks=pytest.mark.slow),
  pytest.param(
    dict(track_depths=(90, 90, 512), num_steps=32, decoder="hierarchical"), id="hier-trio", marks=pytest.mark.slow
  ),
  pytest.param(dict(track_depths=(90, 90, 512), num_steps=32, decoder="flat"), id="flat-trio"),
]


def build(**kwargs):
  config = MusicModelConfig(**{**TINY, **kwargs})
  graphdef, params = init_model(config, 0)
  return config, graphdef, params


def tokens_and_z(config, batch=3, seed=0):
  key = jax.random.key(seed)
  cols = [
    jax.random.randint(jax.random.fold_in(key, i), (batch, config.num_steps), 0, d)
    for i, d in enumerate(config.track_depths)
  ]
  z = jax.random.normal(jax.random.fold_in(key, 99), (batch, config.z_size))
  return jnp.stack(cols, -1), z


@pytest.mark.parametrize("kwargs", KINDS)
def test_teacher_forced_path_equals_step_by_step_decoding_at_p0(kwargs):
  config, graphdef, params = build(**kwargs)
  model = nnx.merge(graphdef, params)
  tokens, z = tokens_and_z(config)
  fast = model.decode_teacher_forced(z, tokens)
  slow, _ = model.decode(z, jax.random.key(1), tokens, 0.0)
  np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kwargs", KINDS[1:3])
def test_bars_in_parallel_equal_bars_in_sequence(kwargs):
  config, graphdef, params = build(**kwargs)
  model = nnx.merge(graphdef, params)
  tokens, z = tokens_and_z(config)
  parallel = model.decode_teacher_forced(z, tokens)
  sequential, _, _ = model.decoder.sample_sequential(z, jnp.swapaxes(tokens, 0, 1), jax.random.key(2), 0.0, 1.0)
  np.testing.assert_allclose(parallel, jnp.swapaxes(sequential, 0, 1), rtol=1e-5, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("kwargs", KINDS)
def test_scheduled_logits_and_gradients_equal_the_sampling_pass(kwargs):
  config, graphdef, params = build(**kwargs)
  tokens, z = tokens_and_z(config)
  key = jax.random.key(5)

  def loss(fast, params, z):
    model = nnx.merge(graphdef, params)
    logits = model.decode_scheduled(z, key, tokens, 0.5) if fast else model.decode(z, key, tokens, 0.5)[0]
    return jnp.sum(jnp.sin(logits)), logits

  (value_fast, logits_fast), grads_fast = jax.value_and_grad(loss, argnums=(1, 2), has_aux=True)(True, params, z)
  (value_slow, logits_slow), grads_slow = jax.value_and_grad(loss, argnums=(1, 2), has_aux=True)(False, params, z)
  np.testing.assert_allclose(logits_fast, logits_slow, rtol=1e-5, atol=1e-5)
  for a, b in zip(jax.tree.leaves(grads_fast), jax.tree.leaves(grads_slow)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  # Half the inputs really were the model's own samples: p = 0 gives other logits.
  teacher = nnx.merge(graphdef, params).decode_teacher_forced(z, tokens)
  assert not np.allclose(logits_fast, teacher, atol=1e-4)


@pytest.mark.slow
def test_each_bar_starts_from_the_ground_truth_token_even_when_sampling():
  """The reference's per-bar inputs: with targets, bar b's first input is target[b * 16 - 1], whatever was sampled."""
  config, graphdef, params = build(num_steps=48, decoder="hierarchical")
  model = nnx.merge(graphdef, params)
  tokens, z = tokens_and_z(config)
  key = jax.random.key(4)
  base, _ = model.decode(z, key, tokens, 1.0)
  inside = tokens.at[:, 20, 0].set((tokens[:, 20, 0] + 1) % 90)  # inside bar 1: free-running ignores it
  np.testing.assert_allclose(model.decode(z, key, inside, 1.0)[0], base, atol=1e-6)
  last = tokens.at[:, 15, 0].set((tokens[:, 15, 0] + 1) % 90)  # bar 0's last target: bar 1 starts from it
  changed, _ = model.decode(z, key, last, 1.0)
  assert not np.allclose(changed[:, 16], base[:, 16])
  np.testing.assert_allclose(changed[:, :16], base[:, :16], atol=1e-6)
  np.testing.assert_allclose(changed[:, 32:], base[:, 32:], atol=1e-6)


@pytest.mark.slow
def test_free_running_carries_the_sampled_token_over_the_bar_line():
  config, graphdef, params = build(num_steps=32, decoder="hierarchical")
  model = nnx.merge(graphdef, params)
  _, z = tokens_and_z(config)
  logits, samples = model.decode(z, jax.random.key(0))
  assert samples.shape == (3, 32, 1) and logits.shape == (3, 32, 90)
  again, same = model.decode(z, jax.random.key(0))
  np.testing.assert_array_equal(samples, same)  # deterministic given the key
  # the second bar's first logits are those of a decoder fed the first bar's last sample
  fed = model.decode(z, jax.random.key(9), samples, 0.0)[0]
  np.testing.assert_allclose(fed[:, 16], logits[:, 16], rtol=1e-5, atol=1e-5)
