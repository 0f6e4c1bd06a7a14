"""One LSTM core for every recurrent model in trajvae (MusicVAE, SeCTAR).

The cell is Magenta's `LSTMBlockCell`: one kernel over [input ; h] -> 4H
(glorot-uniform over the whole [D + H, 4H] matrix), a zero bias, and a forget
bias of +1 added at run time; gates are (i, g, f, o):

  c' = sigmoid(f + 1) * c + sigmoid(i) * tanh(g),   h' = sigmoid(o) * tanh(c')

(`init="torch"` gives PyTorch nn.LSTM's initialisation and no forget bias, for
SeCTAR, whose reference code is PyTorch.)

The kernel is stored split into its input rows `w_in` [dirs, D, 4H] and its
recurrent rows `w_rec` [dirs, H, 4H], so that the input's contribution can be
computed outside the time loop:

- one-hot inputs become a row gather (`project_tokens`), no matmul (its
  gradient, a scatter-add, measured 5x faster than the one-hot matmul's on XLA:CPU);
- conditioning that is constant over time (z, a conductor embedding, a
  segment latent) is projected once per sequence (`project_dense`), not
  concatenated into every step's input;
- a layer over a known input sequence is one scan whose step does only
  h @ w_rec (`run_layer`), and its backward pass (a custom VJP) forms the
  weight gradient as one matmul over all steps instead of accumulating it
  step by step.

Autoregressive decoding (each input depends on the previous output) uses
`step_stack`, one time step through all layers. Knobs (`ScanOptions`): scan
unroll, bfloat16 matmuls with float32 parameters and cell state, recomputing
the gates in the backward pass instead of storing them (remat), and the
backend of recurrences over known inputs (`rnn_backend`).

On CUDA, XLA's code for a scan of small matmuls is slow (jax-ml/jax#13111), so
a stack over a known input can instead run as cuDNN's fused LSTM
(`jax.experimental.rnn.lstm`, via `cudnn_stack`). cuDNN has no gathered or
projected-once input: it reads the dense layer-0 input (one-hots, and any
constant conditioning broadcast over time), and its weights are this core's,
repacked (`cudnn_weights`): gates (i, f, g, o), an input and a recurrent bias
(the forget bias folded into the first), kernels stored [4H, in].
`rnn_backend="auto"` picks cuDNN on a CUDA backend with float32 compute (the
only dtype jax's cuDNN LSTM takes) and the scan elsewhere, at trace time.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from typing import Callable, Literal, Sequence

import jax
import jax.numpy as jnp
from flax import nnx
from jax.extend import backend as jax_backend

from trajvae.errors import ConfigError

Array = jax.Array
Carry = tuple[Array, Array]  # (h, c)
RnnBackend = Literal["auto", "scan", "cudnn"]
ComputeDtype = Literal["float32", "bfloat16"]


@dataclasses.dataclass(frozen=True)
class ScanOptions:
  """How the recurrent core runs; none of these change the model's function (bfloat16 changes rounding).

  rnn_backend: how stacks over known inputs run: "scan" (this module's scan), "cudnn" (cuDNN's
  LSTM; CUDA and float32 only), or "auto" (cuDNN where it can run, the scan elsewhere).
  """

  unroll: int = 1
  compute_dtype: ComputeDtype = "float32"
  remat: bool = False
  rnn_backend: RnnBackend = "auto"

  def __post_init__(self):
    for name, kind in (("rnn_backend", RnnBackend), ("compute_dtype", ComputeDtype)):
      if getattr(self, name) not in typing.get_args(kind):
        raise ConfigError(f"{name}={getattr(self, name)!r} is not one of {list(typing.get_args(kind))}")


def _glorot_split(key: Array, in_dim: int, hidden: int, directions: int) -> tuple[Array, Array]:
  """Glorot-uniform over each direction's whole [in_dim + hidden, 4 * hidden] kernel, split into (w_in, w_rec)."""
  limit = (6.0 / (in_dim + hidden + 4 * hidden)) ** 0.5
  kernel = jax.random.uniform(key, (directions, in_dim + hidden, 4 * hidden), jnp.float32, -limit, limit)
  return kernel[:, :in_dim], kernel[:, in_dim:]


def _torch_default(key: Array, in_dim: int, hidden: int, directions: int) -> tuple[Array, Array, Array]:
  """PyTorch nn.LSTM's initialisation: every weight and both biases U(-1/sqrt(H), 1/sqrt(H)) (biases summed)."""
  bound = hidden**-0.5
  k_in, k_rec, k_b1, k_b2 = jax.random.split(key, 4)
  uniform = lambda k, shape: jax.random.uniform(k, shape, jnp.float32, -bound, bound)  # noqa: E731
  bias = uniform(k_b1, (directions, 4 * hidden)) + uniform(k_b2, (directions, 4 * hidden))
  return uniform(k_in, (directions, in_dim, 4 * hidden)), uniform(k_rec, (directions, hidden, 4 * hidden)), bias


class LSTMLayer(nnx.Module):
  """One LSTM layer with `directions` (1, or 2 for bidirectional) independent weight sets.

  init "lstm_block": Magenta's LSTMBlockCell (glorot-uniform kernel, zero bias,
  forget bias +1 at run time); "torch": PyTorch nn.LSTM's defaults (uniform
  weights and biases, no forget bias), for models ported from PyTorch code.
  """

  def __init__(
    self,
    in_dim: int,
    hidden: int,
    *,
    directions: int = 1,
    init: Literal["lstm_block", "torch"] = "lstm_block",
    rngs: nnx.Rngs,
  ):
    if init == "lstm_block":
      w_in, w_rec = _glorot_split(rngs.params(), in_dim, hidden, directions)
      bias = jnp.zeros((directions, 4 * hidden), jnp.float32)
    else:
      w_in, w_rec, bias = _torch_default(rngs.params(), in_dim, hidden, directions)
    self.w_in = nnx.Param(w_in)
    self.w_rec = nnx.Param(w_rec)
    self.bias = nnx.Param(bias)
    self.hidden = hidden
    self.directions = directions
    self.forget_bias = 1.0 if init == "lstm_block" else 0.0


def _matmul(x: Array, w: Array, dtype: str) -> Array:
  """x @ w in `dtype` with a float32 result."""
  if dtype == "float32":
    return x @ w
  return jnp.matmul(x.astype(dtype), w.astype(dtype), preferred_element_type=jnp.float32)


def project_tokens(w_in: Array, index: Array, valid: Array | None = None) -> Array:
  """Input contribution of one-hot inputs: rows of w_in [dirs, D, 4H] at index [..., k] (k one-hots, summed).

  Equal to concat(one_hots) @ w_in; `valid` [...] zeroes positions whose input is the all-zero vector.
  Returns [dirs, ..., 4H].
  """
  rows = jnp.take(w_in, index, axis=1).sum(axis=-2)  # [dirs, ..., 4H]
  if valid is not None:
    rows = rows * valid[None, ..., None].astype(rows.dtype)
  return rows


def _matmul_transposed(x: Array, w: Array, dtype: str) -> Array:
  """x @ w.T in `dtype` with a float32 result, without materialising w.T."""
  if dtype != "float32":
    x, w = x.astype(dtype), w.astype(dtype)
  return jax.lax.dot_general(x, w, (((x.ndim - 1,), (1,)), ((), ())), preferred_element_type=jnp.float32)


def project_dense(w_in: Array, x: Array, dtype: str = "float32") -> Array:
  """Input contribution of dense inputs x [..., D] through w_in [dirs, D, 4H] -> [dirs, ..., 4H].

  One contraction over all directions: its weight gradient is one [dirs, D, 4H] buffer.
  """
  if dtype == "float32":
    return jnp.einsum("...d,kdg->k...g", x, w_in)
  return jnp.einsum("...d,kdg->k...g", x.astype(dtype), w_in.astype(dtype), preferred_element_type=jnp.float32)


def _sigmoid(x: Array) -> Array:
  """sigmoid(x) through tanh, which XLA:CPU vectorises better than the logistic function (same values)."""
  return 0.5 * jnp.tanh(0.5 * x) + 0.5


def _cell(gates: Array, c: Array, forget_bias: float) -> tuple[Array, Array, Array, Array]:
  """LSTMBlockCell update from pre-activations [..., 4H] (i, g, f, o) -> (h, c, activations [..., 4H], tanh(c))."""
  i, g, f, o = jnp.split(gates, 4, axis=-1)
  i, f, o = _sigmoid(i), _sigmoid(f + forget_bias), _sigmoid(o)
  g = jnp.tanh(g)
  c = f * c + i * g
  tanh_c = jnp.tanh(c)
  return o * tanh_c, c, jnp.concatenate([i, g, f, o], axis=-1), tanh_c


def _forward_scan(w_rec, xproj, h0, c0, unroll, dtype, forget_bias):
  def body(carry, x_t):
    h, c = carry
    h_new, c_new, acts, tanh_c = _cell(x_t + _matmul(h, w_rec, dtype), c, forget_bias)
    return (h_new, c_new), (h_new, c_new, acts, tanh_c)

  (h, c), (hs, cs, acts, tanh_cs) = jax.lax.scan(body, (h0, c0), xproj, unroll=unroll)
  return hs, cs, acts, tanh_cs, (h, c)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2, 3))
def lstm_scan(
  unroll: int, dtype: str, remat: bool, forget_bias: float, w_rec: Array, xproj: Array, h0: Array, c0: Array
):
  """One layer over time: xproj [T, B, 4H] (input contribution + bias), h0, c0 [B, H] -> (hs [T, B, H], (h, c))."""
  hs, _, _, _, final = _forward_scan(w_rec, xproj, h0, c0, unroll, dtype, forget_bias)
  return hs, final


def _lstm_scan_fwd(unroll, dtype, remat, forget_bias, w_rec, xproj, h0, c0):
  hs, cs, acts, tanh_cs, final = _forward_scan(w_rec, xproj, h0, c0, unroll, dtype, forget_bias)
  h_prev = jnp.concatenate([h0[None], hs[:-1]], axis=0)
  c_prev = jnp.concatenate([c0[None], cs[:-1]], axis=0)
  saved = None if remat else (acts, tanh_cs)
  return (hs, final), (w_rec, xproj, h_prev, c_prev, saved)


def _backward_scan(unroll, dtype, remat, forget_bias, w_rec, xproj, h_prev, c_prev, saved, d_hs, d_h_final, d_c_final):
  """The reverse-time scan of one direction -> (d_gates [T, B, 4H] = d xproj, dh0, dc0)."""

  def body(carry, xs):
    dh_next, dc_next = carry
    d_h_out, c_before, saved_t = xs[:3]
    if saved_t is None:  # remat: recompute the gates from the saved inputs
      _, _, a_t, tanh_c = _cell(xs[3] + _matmul(xs[4], w_rec, dtype), c_before, forget_bias)
    else:
      a_t, tanh_c = saved_t
    i, g, f, o = jnp.split(a_t, 4, axis=-1)
    dh = d_h_out + dh_next
    dc = dc_next + dh * o * (1.0 - tanh_c**2)
    d_gates = jnp.concatenate(
      [dc * g * i * (1.0 - i), dc * i * (1.0 - g**2), dc * c_before * f * (1.0 - f), dh * tanh_c * o * (1.0 - o)],
      axis=-1,
    )
    return (_matmul_transposed(d_gates, w_rec, dtype), dc * f), d_gates

  xs = (d_hs, c_prev, saved) + ((xproj, h_prev) if remat else ())
  (dh0, dc0), d_gates = jax.lax.scan(body, (d_h_final, d_c_final), xs, reverse=True, unroll=unroll)
  return d_gates, dh0, dc0


def _lstm_scan_bwd(unroll, dtype, remat, forget_bias, residuals, cotangents):
  w_rec, xproj, h_prev, c_prev, saved = residuals
  d_hs, (d_h_final, d_c_final) = cotangents
  d_gates, dh0, dc0 = _backward_scan(
    unroll, dtype, remat, forget_bias, w_rec, xproj, h_prev, c_prev, saved, d_hs, d_h_final, d_c_final
  )
  d_w_rec = jnp.einsum("tbh,tbg->hg", h_prev, d_gates)
  return d_w_rec, d_gates, dh0, dc0


lstm_scan.defvjp(_lstm_scan_fwd, _lstm_scan_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2, 3))
def lstm_scan_dirs(
  unroll: int, dtype: str, remat: bool, forget_bias: float, w_rec: Array, xproj: Array, h0: Array, c0: Array
):
  """`lstm_scan` for each of K independent directions: w_rec [K, H, 4H], xproj [K, T, B, 4H], h0, c0 [K, B, H]
  -> (hs [K, T, B, H], (h, c) [K, B, H]).

  One scan per direction (measured faster on XLA:CPU than one scan over both, a batched matmul per step);
  the weight gradient of all directions is one einsum into one [K, H, 4H] buffer, not per-direction
  gradients padded and added (which held three extra copies of the weights at the reference size).
  """
  outs = [_forward_scan(w_rec[d], xproj[d], h0[d], c0[d], unroll, dtype, forget_bias) for d in range(w_rec.shape[0])]
  return jnp.stack([o[0] for o in outs]), (jnp.stack([o[4][0] for o in outs]), jnp.stack([o[4][1] for o in outs]))


def _lstm_scan_dirs_fwd(unroll, dtype, remat, forget_bias, w_rec, xproj, h0, c0):
  outs = [
    _lstm_scan_fwd(unroll, dtype, remat, forget_bias, w_rec[d], xproj[d], h0[d], c0[d]) for d in range(w_rec.shape[0])
  ]
  hs = jnp.stack([o[0][0] for o in outs])
  final = (jnp.stack([o[0][1][0] for o in outs]), jnp.stack([o[0][1][1] for o in outs]))
  return (hs, final), (w_rec, [o[1][1:] for o in outs])


def _lstm_scan_dirs_bwd(unroll, dtype, remat, forget_bias, residuals, cotangents):
  w_rec, per_direction = residuals
  d_hs, (d_h_final, d_c_final) = cotangents
  backs = [
    _backward_scan(unroll, dtype, remat, forget_bias, w_rec[d], *per_direction[d], d_hs[d], d_h_final[d], d_c_final[d])
    for d in range(w_rec.shape[0])
  ]
  d_gates = jnp.stack([b[0] for b in backs])
  h_prev = jnp.stack([r[1] for r in per_direction])
  d_w_rec = jnp.einsum("ktbh,ktbg->khg", h_prev, d_gates)
  return d_w_rec, d_gates, jnp.stack([b[1] for b in backs]), jnp.stack([b[2] for b in backs])


lstm_scan_dirs.defvjp(_lstm_scan_dirs_fwd, _lstm_scan_dirs_bwd)


def run_layer(layer: LSTMLayer, xproj: Array, carry: Carry | None = None, options: ScanOptions = ScanOptions()):
  """Run a layer over xproj [dirs, T, B, 4H] (input contributions, bias not yet added).

  Direction 1 (if any) reads time backwards; outputs are returned in forward
  time order. carry: (h, c) each [dirs, B, H], zeros if None. Returns
  (hs [dirs, T, B, H], (h, c) each [dirs, B, H]).
  """
  dirs, _, batch, _ = xproj.shape
  xproj = xproj + layer.bias[...][:, None, None, :]
  if dirs == 2:
    xproj = jnp.stack([xproj[0], xproj[1, ::-1]])
  if carry is None:
    zeros = jnp.zeros((dirs, batch, layer.hidden), jnp.float32)
    carry = (zeros, zeros)
  hs, final = lstm_scan_dirs(
    options.unroll, options.compute_dtype, options.remat, layer.forget_bias, layer.w_rec[...], xproj, carry[0], carry[1]
  )
  if dirs == 2:
    hs = jnp.stack([hs[0], hs[1, ::-1]])
  return hs, final


def run_stack(
  layers: Sequence[LSTMLayer],
  xproj: Array,
  carries: Sequence[Carry] | None = None,
  options: ScanOptions = ScanOptions(),
) -> tuple[Array, list[Carry]]:
  """Layers one after another over a known input: layer l+1 reads layer l's outputs (both directions concatenated).

  xproj [dirs, T, B, 4H] is layer 0's input contribution. Returns the top
  layer's outputs [dirs, T, B, H] and each layer's final carry.
  """
  finals, hs = [], None
  for index, layer in enumerate(layers):
    if hs is not None:
      x = jnp.concatenate(list(hs), axis=-1)  # [T, B, dirs * H]
      xproj = project_dense(layer.w_in[...], x, options.compute_dtype)
    hs, final = run_layer(layer, xproj, None if carries is None else carries[index], options)
    finals.append(final)
  return hs, finals


def step_stack(
  layers: Sequence[LSTMLayer],
  carries: Sequence[Carry],
  xproj: Array,
  options: ScanOptions = ScanOptions(),
) -> tuple[list[Carry], Array]:
  """One time step through unidirectional layers; xproj [B, 4H] is layer 0's input contribution.

  carries: per layer (h, c) [B, H]. Returns the new carries and the top h [B, H].
  """
  new, x = [], None
  for layer, (h, c) in zip(layers, carries):
    if x is not None:
      xproj = _matmul(x, layer.w_in[0], options.compute_dtype)
    gates = xproj + layer.bias[0] + _matmul(h, layer.w_rec[0], options.compute_dtype)
    x, c, _, _ = _cell(gates, c, layer.forget_bias)
    new.append((x, c))
  return new, x


# ---- cuDNN path (jax.experimental.rnn) for stacks over known inputs ----

CUDNN_GATE_ORDER = (0, 2, 1, 3)  # cuDNN's (i, f, g, o) as indices into this core's (i, g, f, o)


def backend_platform() -> str:
  """The default backend's platform as cuDNN cares: "cuda", "rocm", "cpu", "tpu", ..."""
  backend = jax_backend.get_backend()
  if backend.platform == "gpu":
    return "rocm" if "rocm" in backend.platform_version.lower() else "cuda"
  return backend.platform


def use_cudnn(options: ScanOptions) -> bool:
  """Whether stacks over known inputs run on cuDNN under these options, decided now (at trace time).

  "cudnn" where it cannot run (not CUDA, or bfloat16 compute) raises ConfigError saying why.
  """
  if options.rnn_backend == "scan":
    return False
  cuda = backend_platform() == "cuda"
  if options.rnn_backend == "cudnn":
    if not cuda:
      raise ConfigError(
        f"rnn_backend=cudnn needs a CUDA GPU, and this run's backend is {backend_platform()}; "
        "use rnn_backend=auto or scan"
      )
    if options.compute_dtype != "float32":
      raise ConfigError(
        "rnn_backend=cudnn runs float32 only (jax.experimental.rnn); use compute_dtype=float32 or rnn_backend=scan"
      )
    return True
  return cuda and options.compute_dtype == "float32"


def _cudnn_gates(w: Array) -> Array:
  """Gate blocks of the last axis [..., 4H] from (i, g, f, o) to cuDNN's (i, f, g, o)."""
  parts = jnp.split(w, 4, axis=-1)
  return jnp.concatenate([parts[k] for k in CUDNN_GATE_ORDER], axis=-1)


def cudnn_weights(layers: Sequence[LSTMLayer]) -> Array:
  """The layers' weights as one flat vector in jax.experimental.rnn's (cuDNN's) layout.

  Pseudo-layers in order (layer 0 forward, layer 0 backward, layer 1 forward, ...); first each one's
  W_ih [4H, in] and W_hh [4H, H], then each one's b_ih and b_hh [4H]; gates (i, f, g, o). b_ih is
  this core's bias with the forget bias added to its f block; b_hh is zero.
  """
  mats, biases = [], []
  for layer in layers:
    hidden = layer.hidden
    w_in, w_rec, bias = layer.w_in[...], layer.w_rec[...], layer.bias[...]
    for d in range(layer.directions):
      mats += [_cudnn_gates(w_in[d]).T.ravel(), _cudnn_gates(w_rec[d]).T.ravel()]
      folded = bias[d].at[2 * hidden : 3 * hidden].add(layer.forget_bias)  # f is block 2 of (i, g, f, o)
      biases += [_cudnn_gates(folded), jnp.zeros((4 * hidden,), bias.dtype)]
  return jnp.concatenate(mats + biases)


LstmKernel = Callable[..., tuple[Array, Array, Array]]


def cudnn_kernel() -> LstmKernel:
  """jax.experimental.rnn.lstm: (x [B, T, D], h0, c0 [L * dirs, B, H], weights, seq_lengths, input_size,
  hidden_size, num_layers, dropout, bidirectional) -> (y [B, T, dirs * H], h_n, c_n)."""
  from jax.experimental import rnn

  return rnn.lstm


def reference_kernel(x, h0, c0, weights, seq_lengths, input_size, hidden_size, num_layers, dropout, bidirectional):
  """cuDNN's maths on any backend: the flat weights unpacked and run through jax.experimental.rnn.lstm_ref
  (same signature as cudnn_kernel()'s); what the packing is tested against on CPU."""
  from jax.experimental import rnn

  w_ih, w_hh, b_ih, b_hh = rnn.unpack_lstm_weights(weights, input_size, hidden_size, num_layers, bidirectional)
  return rnn.lstm_ref(
    x, h0, c0, w_ih, w_hh, b_ih, b_hh, seq_lengths, input_size, hidden_size, num_layers, dropout, bidirectional
  )


def _cudnn_groups(layers: Sequence[LSTMLayer]) -> list[list[int]]:
  """Runs of consecutive layers one cuDNN call can take (same hidden size and directions)."""
  groups: list[list[int]] = []
  for index, layer in enumerate(layers):
    prev = layers[groups[-1][-1]] if groups else None
    if prev is not None and (prev.hidden, prev.directions) == (layer.hidden, layer.directions):
      groups[-1].append(index)
    else:
      groups.append([index])
  return groups


def cudnn_stack(
  layers: Sequence[LSTMLayer],
  x: Array,
  carries: Sequence[Carry] | None = None,
  kernel: LstmKernel | None = None,
) -> tuple[Array, list[Carry]]:
  """`run_stack` through cuDNN's LSTM: x [T, B, D] is layer 0's dense input (not its projection).

  carries: per layer (h, c) each [dirs, B, H], zeros if None. Consecutive layers of one size go to
  one cuDNN call. Returns the top layer's outputs [dirs, T, B, H] and each layer's final carry, as
  run_stack. kernel: cudnn_kernel() by default; reference_kernel runs the same maths anywhere.
  """
  kernel = kernel or cudnn_kernel()
  steps, batch, _ = x.shape
  seq_lengths = jnp.full((batch,), steps, jnp.int32)
  inputs, finals = jnp.swapaxes(x, 0, 1), []  # batch-major [B, T, D], as cuDNN reads it
  for group in _cudnn_groups(layers):
    first = layers[group[0]]
    dirs, hidden = first.directions, first.hidden
    if carries is None:
      h0 = c0 = jnp.zeros((len(group) * dirs, batch, hidden), jnp.float32)
    else:
      h0 = jnp.concatenate([carries[i][0] for i in group])
      c0 = jnp.concatenate([carries[i][1] for i in group])
    inputs, h_n, c_n = kernel(
      inputs,
      h0,
      c0,
      cudnn_weights([layers[i] for i in group]),
      seq_lengths,
      inputs.shape[-1],
      hidden,
      len(group),
      0.0,
      dirs == 2,
    )
    finals += [(h_n[k * dirs : (k + 1) * dirs], c_n[k * dirs : (k + 1) * dirs]) for k in range(len(group))]
  dirs, hidden = layers[-1].directions, layers[-1].hidden
  hs = inputs.reshape(batch, steps, dirs, hidden).transpose(2, 1, 0, 3)
  return hs, finals
