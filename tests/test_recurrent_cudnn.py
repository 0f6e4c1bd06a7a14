"""The cuDNN path's weight packing, on CPU: this core's layers repacked into jax.experimental.rnn's layout
and run through its reference LSTM (`lstm_ref`, the maths cuDNN computes) give the scan's outputs, final
states and gradients; and the backend knob's choices and errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from trajvae.core import recurrent
from trajvae.core.recurrent import LSTMLayer, ScanOptions
from trajvae.errors import ConfigError

T, B = 6, 3


def stack(dims, hidden, directions, init, seed=0):
  """Layers with random (non-zero) biases so that the bias packing is exercised."""
  rngs = nnx.Rngs(seed)
  layers = [LSTMLayer(d, hidden, directions=directions, init=init, rngs=rngs) for d in dims]
  for k, lay in enumerate(layers):
    lay.bias[...] = jax.random.normal(jax.random.key(seed + 10 + k), lay.bias[...].shape) * 0.3
  return layers


def loss_of(hs, finals):
  """A scalar that weighs every output and every final h and c differently."""
  total = jnp.sum(jnp.sin(hs * jnp.arange(1, hs.shape[-1] + 1)))
  for h, c in finals:
    total = total + jnp.sum(h**2) + jnp.sum(jnp.cos(c))
  return total


CASES = {
  # name: (input dim, hidden, layers, directions, init, initial carries, conditioning dim)
  "unidirectional": (5, 4, 1, 1, "lstm_block", False, 0),
  "bidirectional": (5, 4, 1, 2, "lstm_block", False, 0),
  "bidirectional-2-layers-torch-init": (5, 4, 2, 2, "torch", False, 0),
  "2-layers-with-carries-and-conditioning": (5, 4, 2, 1, "lstm_block", True, 3),
}


@pytest.mark.parametrize("name", list(CASES))
def test_packed_weights_through_lstm_ref_match_the_scan(name):
  d_tok, hidden, num_layers, dirs, init, with_carries, d_cond = CASES[name]
  d_in = d_tok + d_cond
  layers = stack([d_in] + [dirs * hidden] * (num_layers - 1), hidden, dirs, init)
  graphdef, params = nnx.split(nnx.List(layers))
  keys = jax.random.split(jax.random.key(1), 4)
  x_tok = jax.random.normal(keys[0], (T, B, d_tok))
  cond = jax.random.normal(keys[1], (B, d_cond))
  carries = None
  if with_carries:
    hc = jax.random.normal(keys[2], (num_layers, 2, dirs, B, hidden)) * 0.5
    carries = [(hc[k, 0], hc[k, 1]) for k in range(num_layers)]

  def scan(params, x_tok, cond, carries):
    """The scan path as the models use it: constant conditioning projected once, added to every step."""
    lays = list(nnx.merge(graphdef, params))
    w_in = lays[0].w_in[...]
    xproj = recurrent.project_dense(w_in[:, :d_tok], x_tok)
    if d_cond:
      xproj = xproj + recurrent.project_dense(w_in[:, d_tok:], cond)[:, None]
    return loss_of(*recurrent.run_stack(lays, xproj, carries))

  def packed(params, x_tok, cond, carries):
    """The cuDNN path: conditioning broadcast over time and fed as input, weights repacked, lstm_ref."""
    lays = list(nnx.merge(graphdef, params))
    x = jnp.concatenate([x_tok, jnp.broadcast_to(cond, (T, B, d_cond))], -1)
    return loss_of(*recurrent.cudnn_stack(lays, x, carries, kernel=recurrent.reference_kernel))

  args = (params, x_tok, cond, carries)
  np.testing.assert_allclose(packed(*args), scan(*args), rtol=1e-5, atol=1e-5)
  argnums = (0, 1, 2, 3) if with_carries else (0, 1, 2)
  got = jax.grad(packed, argnums)(*args)
  want = jax.grad(scan, argnums)(*args)
  flat_got, flat_want = jax.tree.leaves(got), jax.tree.leaves(want)
  assert len(flat_got) == len(flat_want) >= 3 * num_layers + 1
  for g, w in zip(flat_got, flat_want):
    assert w.size == 0 or float(jnp.max(jnp.abs(w))) > 0
    np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def test_outputs_and_states_match_one_by_one():
  """Not only a scalar of them: each output time step and each final state, both directions."""
  layers = stack([5, 8], 4, 2, "lstm_block", seed=3)
  x = jax.random.normal(jax.random.key(4), (T, B, 5))
  want_hs, want_finals = recurrent.run_stack(layers, recurrent.project_dense(layers[0].w_in[...], x))
  got_hs, got_finals = recurrent.cudnn_stack(layers, x, kernel=recurrent.reference_kernel)
  assert got_hs.shape == want_hs.shape == (2, T, B, 4)
  np.testing.assert_allclose(got_hs, want_hs, rtol=1e-5, atol=1e-6)
  for (gh, gc), (wh, wc) in zip(got_finals, want_finals, strict=True):
    np.testing.assert_allclose(gh, wh, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gc, wc, rtol=1e-5, atol=1e-6)


def test_the_flat_vector_has_jax_experimental_rnn_s_length_and_gate_order():
  from jax.experimental import rnn

  layers = stack([5, 8], 4, 2, "lstm_block")
  flat = recurrent.cudnn_weights(layers)
  assert flat.shape == (rnn.get_num_params_in_lstm(5, 4, 2, True),)
  w_ih, _, b_ih, b_hh = rnn.unpack_lstm_weights(flat, 5, 4, 2, True)
  w_in, bias = layers[1].w_in[...], layers[1].bias[...]
  # pseudo-layer 3 = layer 1 backward; its W_ih's second gate block is cuDNN's f = this core's block 2
  np.testing.assert_array_equal(w_ih[3][4:8], w_in[1][:, 8:12].T)
  np.testing.assert_allclose(b_ih[3][4:8], bias[1][8:12] + 1.0)  # the forget bias folded in
  np.testing.assert_array_equal(b_hh[3], 0.0)


def test_cudnn_backend_off_cuda_fails_with_one_clear_line():
  assert recurrent.backend_platform() != "cuda"
  with pytest.raises(ConfigError, match="rnn_backend=cudnn needs a CUDA GPU") as info:
    recurrent.use_cudnn(ScanOptions(rnn_backend="cudnn"))
  assert "\n" not in str(info.value)


def test_backend_choices():
  assert not recurrent.use_cudnn(ScanOptions(rnn_backend="auto"))  # CPU: the scan
  assert not recurrent.use_cudnn(ScanOptions(rnn_backend="scan"))
  with pytest.raises(ConfigError, match="rnn_backend='cuda' is not one of"):
    ScanOptions(rnn_backend="cuda")


@pytest.fixture
def cudnn_maths_on_cpu(monkeypatch):
  """The models' cuDNN branch on this CPU: the platform probe answers "cuda" and jax.experimental.rnn's
  reference LSTM stands in for the cuDNN kernel (which has no CPU lowering); everything else is the real path."""
  monkeypatch.setattr(recurrent, "backend_platform", lambda: "cuda")
  monkeypatch.setattr(recurrent, "cudnn_kernel", lambda: recurrent.reference_kernel)


MUSIC_CASES = {
  "flat-melody-2-layers": dict(dec_rnn_sizes=(12, 12)),
  "hierarchical-trio-drum-roll": dict(
    track_depths=(90, 90, 512), drum_roll_input=True, num_steps=32, decoder="hierarchical", dec_rnn_sizes=(12, 12)
  ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MUSIC_CASES))
def test_musicvae_loss_and_gradients_on_the_cudnn_path_match_the_scan(name, cudnn_maths_on_cpu):
  """Encoder, conductor and teacher-forced (bars-in-parallel) decoders through the cuDNN branch."""
  import dataclasses

  from trajvae.music import objective
  from trajvae.music.configs import MusicLossConfig, MusicModelConfig
  from trajvae.music.model import init_model

  base = MusicModelConfig(z_size=8, enc_rnn_sizes=(10, 10), **MUSIC_CASES[name])
  loss_config = MusicLossConfig(free_bits=0.0, max_beta=0.5)
  tokens = jnp.stack(
    [jax.random.randint(jax.random.key(i), (2, base.num_steps), 0, d) for i, d in enumerate(base.track_depths)], -1
  )

  def loss(backend):
    graphdef, params = init_model(dataclasses.replace(base, rnn_backend=backend), 0)

    def f(p):
      return objective.loss_and_metrics(nnx.merge(graphdef, p), tokens, jax.random.key(3), jnp.asarray(0), loss_config)[
        0
      ]

    return jax.jit(jax.value_and_grad(f))(params)

  (want, want_g), (got, got_g) = loss("scan"), loss("cudnn")
  np.testing.assert_allclose(got, want, rtol=1e-5)
  paths = [p for p, _ in jax.tree_util.tree_leaves_with_path(want_g)]
  assert any("encoder" in str(p) for p in paths) and any("decoder" in str(p) for p in paths)
  for g, w in zip(jax.tree.leaves(got_g), jax.tree.leaves(want_g), strict=True):
    np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)


def test_sectar_encoder_on_the_cudnn_path_matches_the_scan(cudnn_maths_on_cpu):
  from trajvae.sectar.configs import SectarModelConfig
  from trajvae.sectar.model import TrajectoryEncoder

  states = jax.random.normal(jax.random.key(0), (3, 5, 2))
  out = {}
  for backend in ("scan", "cudnn"):
    enc = TrajectoryEncoder(SectarModelConfig(encoder_hidden=8, rnn_backend=backend), rngs=nnx.Rngs(0))
    graphdef, params = nnx.split(enc)
    f = lambda p, s, g=graphdef: jnp.sum(jnp.sin(sum(nnx.merge(g, p)(s))))  # noqa: E731
    out[backend] = jax.jit(jax.value_and_grad(f, (0, 1)))(params, states)
  np.testing.assert_allclose(out["cudnn"][0], out["scan"][0], rtol=1e-5)
  for g, w in zip(jax.tree.leaves(out["cudnn"][1]), jax.tree.leaves(out["scan"][1]), strict=True):
    np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)


def test_models_refuse_cudnn_off_cuda_when_built():
  from trajvae.music.configs import MusicModelConfig
  from trajvae.music.model import init_model

  with pytest.raises(ConfigError, match="needs a CUDA GPU"):
    init_model(MusicModelConfig(z_size=4, enc_rnn_sizes=(4,), dec_rnn_sizes=(4,), rnn_backend="cudnn"), 0)
