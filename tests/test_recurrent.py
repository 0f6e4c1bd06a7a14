"""The shared recurrent core against a plain per-step LSTMBlockCell, values and gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from trajvae.core import recurrent
from trajvae.core.recurrent import LSTMLayer, ScanOptions

T, B, D, H = 7, 3, 5, 4


def plain_lstm(w_in, w_rec, bias, xs, carry):
  """The oracle: one concatenated kernel over [x ; h], one Python step per time step, forget bias +1."""
  h, c = carry
  outs = []
  for x in xs:
    gates = jnp.concatenate([x, h], -1) @ jnp.concatenate([w_in, w_rec], 0) + bias
    i, g, f, o = jnp.split(gates, 4, axis=-1)
    c = jax.nn.sigmoid(f + 1.0) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    outs.append(h)
  return jnp.stack(outs), (h, c)


def layer(directions=1, seed=0):
  lay = LSTMLayer(D, H, directions=directions, rngs=nnx.Rngs(seed))
  lay.bias[...] = jax.random.normal(jax.random.key(seed + 7), lay.bias[...].shape) * 0.3
  return lay


def inputs(seed=1):
  k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
  return (jax.random.normal(k1, (T, B, D)), jax.random.normal(k2, (B, H)) * 0.5, jax.random.normal(k3, (B, H)) * 0.5)


@pytest.mark.parametrize(
  "options",
  [
    pytest.param(ScanOptions(), id="default"),
    pytest.param(ScanOptions(unroll=3), id="unroll3", marks=pytest.mark.slow),
    pytest.param(ScanOptions(remat=True), id="remat", marks=pytest.mark.slow),
  ],
)
def test_layer_matches_the_plain_cell_in_values_and_gradients(options):
  lay = layer()
  xs, h0, c0 = inputs()

  graphdef, state = nnx.split(lay)
  names = ("w_in", "w_rec", "bias")

  def ours(params, xs, h0, c0):
    model = nnx.merge(graphdef, params)
    xproj = recurrent.project_dense(model.w_in[...], xs)
    hs, (h, c) = recurrent.run_layer(model, xproj, (h0[None], c0[None]), options)
    return jnp.sum(jnp.sin(hs[0])) + jnp.sum(h**2) + jnp.sum(jnp.cos(c))

  def plain(params, xs, h0, c0):
    w_in, w_rec, bias = (params[n][0] for n in names)
    hs, (h, c) = plain_lstm(w_in, w_rec, bias, xs, (h0, c0))
    return jnp.sum(jnp.sin(hs)) + jnp.sum(h**2) + jnp.sum(jnp.cos(c))

  arrays = {n: getattr(lay, n)[...] for n in names}
  # Compiled: an eager per-step reference dispatches op by op (seconds); the values are the same.
  np.testing.assert_allclose(jax.jit(ours)(state, xs, h0, c0), jax.jit(plain)(arrays, xs, h0, c0), rtol=1e-5)
  ours_grads = jax.jit(jax.grad(ours, argnums=(0, 1, 2, 3)))(state, xs, h0, c0)
  plain_grads = jax.jit(jax.grad(plain, argnums=(0, 1, 2, 3)))(arrays, xs, h0, c0)
  for n in names:
    np.testing.assert_allclose(ours_grads[0][n][...], plain_grads[0][n], rtol=1e-5, atol=1e-6)
  for a, b in zip(ours_grads[1:], plain_grads[1:]):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_jitted_gradient_matches_too():
  lay = layer()
  xs, h0, c0 = inputs()
  f = jax.jit(jax.grad(lambda w, x: jnp.sum(recurrent.run_layer(lay, recurrent.project_dense(w, x))[0] ** 2)))
  g = jax.grad(lambda w, x: jnp.sum(plain_lstm(w[0], lay.w_rec[0], lay.bias[0], x, (0 * h0, 0 * c0))[0] ** 2))
  np.testing.assert_allclose(f(lay.w_in[...], xs), g(lay.w_in[...], xs), rtol=1e-5, atol=1e-6)


def test_bidirectional_layer_runs_direction_one_backwards_in_time():
  lay = layer(directions=2)
  xs, _, _ = inputs()
  hs, (h, _) = recurrent.run_layer(lay, recurrent.project_dense(lay.w_in[...], xs))
  zero = (jnp.zeros((B, H)), jnp.zeros((B, H)))
  fwd, (h_fwd, _) = plain_lstm(lay.w_in[0], lay.w_rec[0], lay.bias[0], xs, zero)
  bwd, (h_bwd, _) = plain_lstm(lay.w_in[1], lay.w_rec[1], lay.bias[1], xs[::-1], zero)
  np.testing.assert_allclose(hs[0], fwd, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(hs[1], bwd[::-1], rtol=1e-5, atol=1e-6)  # returned in forward time order
  np.testing.assert_allclose(h[1], h_bwd, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(h[0], h_fwd, rtol=1e-5, atol=1e-6)


def test_step_stack_equals_the_layerwise_unroll():
  rngs = nnx.Rngs(3)
  layers = [LSTMLayer(D, H, rngs=rngs), LSTMLayer(H, 6, rngs=rngs)]
  xs, _, _ = inputs()
  xproj = recurrent.project_dense(layers[0].w_in[...], xs)
  hs, _ = recurrent.run_stack(layers, xproj)
  carries = [(jnp.zeros((B, H)), jnp.zeros((B, H))), (jnp.zeros((B, 6)), jnp.zeros((B, 6)))]
  outs = []
  for t in range(T):
    carries, h = recurrent.step_stack(layers, carries, xproj[0, t])
    outs.append(h)
  np.testing.assert_allclose(hs[0], jnp.stack(outs), rtol=1e-5, atol=1e-6)


def test_token_projection_is_the_one_hot_matmul():
  lay = LSTMLayer(10 + 6, H, rngs=nnx.Rngs(0))
  tokens = jnp.array([[3, 2], [9, 0]])  # two one-hot tracks of depths 10 and 6
  index = tokens + jnp.array([0, 10])
  one_hot = jnp.concatenate([jax.nn.one_hot(tokens[:, 0], 10), jax.nn.one_hot(tokens[:, 1], 6)], -1)
  np.testing.assert_allclose(recurrent.project_tokens(lay.w_in[...], index)[0], one_hot @ lay.w_in[0], rtol=1e-6)
  masked = recurrent.project_tokens(lay.w_in[...], index, jnp.array([True, False]))[0]
  np.testing.assert_allclose(masked[1], 0.0)


def test_initialisation_is_glorot_over_the_whole_kernel_with_zero_bias():
  lay = LSTMLayer(300, 200, rngs=nnx.Rngs(0))
  limit = (6.0 / (300 + 200 + 800)) ** 0.5
  kernel = np.concatenate([lay.w_in[0], lay.w_rec[0]], 0)
  assert kernel.shape == (500, 800)
  assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.95 * limit
  np.testing.assert_allclose(kernel.std(), limit / 3**0.5, rtol=0.02)
  assert not np.any(lay.bias[...])


def test_bfloat16_compute_stays_close_and_keeps_float32_state():
  lay = layer()
  xs, h0, c0 = inputs()
  xproj = recurrent.project_dense(lay.w_in[...], xs)
  ref, _ = recurrent.run_layer(lay, xproj)
  low, (h, c) = recurrent.run_layer(lay, xproj, options=ScanOptions(compute_dtype="bfloat16"))
  assert low.dtype == jnp.float32 and c.dtype == jnp.float32
  np.testing.assert_allclose(low, ref, atol=3e-2)
