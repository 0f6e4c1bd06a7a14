"""MusicVAE networks (Roberts et al. 2018) as Flax NNX modules on the shared recurrent core.

Tokens are int32 [batch, steps, tracks] indices, one track per instrument
(melody: 90 classes; drums: 512; trio: 90 | 90 | 512). Following the Magenta
reference (`lstm_models.py`):

- Encoder: stacked bidirectional LSTM; layer l+1 reads [forward ; backward]
  outputs of layer l; the code is [final forward h ; final backward h] of the
  top layer. q(z|x) = N(mu, softplus(.)^2) with N(0, 0.001^2) kernels.
- Flat decoder: initial LSTM state = dense-tanh(z) split into (c, h) per layer;
  input at every step = [previous token one-hot ; z]; the first input is zeros.
- Hierarchical decoder: a conductor LSTM of the decoder's size, its state
  initialised by dense-tanh(z), runs one step per bar on a zero input; each
  conductor output initialises (dense-tanh) and conditions (concatenated to
  every input) a bottom decoder that restarts each bar. The bottom decoder's
  first input in a bar is the previous token: the ground truth when targets
  are given (training and evaluation, as the reference's per-bar inputs), its
  own last sample when generating. Multi-track (trio) uses one bottom decoder
  per track; the flat multi-track decoder is one LSTM with the logits split by
  track.
- Cells are `LSTMBlockCell`s (forget bias +1, glorot-uniform kernels, see
  `trajvae.core.recurrent`); the output layer is glorot-uniform.
- Recurrences over known inputs (the encoder, the conductor, teacher-forced
  decoder layers, all bars' bottom decoders at once) run as the core's scan or,
  with `model.rnn_backend` auto on CUDA or cudnn, as cuDNN's LSTM over the dense
  inputs (`dense_input`); autoregressive sampling always steps the cell.

Two decoding modes, chosen by which method is called (never by a value):

- `decode_teacher_forced(z, targets)`: every input is the ground truth. No
  sampling, no random keys; the hierarchical decoder runs the conductor once
  and every bar's bottom decoder in one batched unroll (batch x bars
  sequences), so the sequential depth is bars + steps, not bars x steps.
- `decode(z, key, targets, sample_prob, temperature)`: each input is, with
  probability sample_prob, the decoder's own sample (scheduled sampling;
  without targets it runs free). `decode_scheduled` gives the same logits with
  gradients through the fast teacher-forced unroll: sampled tokens carry no
  gradient, so once the inputs are drawn the loss is a teacher-forced pass over
  them.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from trajvae.core import recurrent
from trajvae.core.recurrent import LSTMLayer, ScanOptions
from trajvae.music.configs import MusicModelConfig

Carries = list[tuple[jax.Array, jax.Array]]
DRUM_DEPTH = 512
NUM_DRUM_CLASSES = 9


def _small_normal() -> nnx.initializers.Initializer:
  return nnx.initializers.normal(0.001)


def track_offsets(depths: Sequence[int]) -> jax.Array:
  """Row of each track's first class in the concatenated one-hot -> [tracks]."""
  return jnp.asarray(np.concatenate([[0], np.cumsum(depths)[:-1]]), jnp.int32)


def drum_roll(tokens: jax.Array) -> jax.Array:
  """512-way drum tokens [...] -> [..., 10]: one bit per drum class, then a 'silence' bit."""
  bits = (tokens[..., None] >> jnp.arange(NUM_DRUM_CLASSES)) & 1
  silence = (tokens == 0)[..., None]
  return jnp.concatenate([bits, silence], axis=-1).astype(jnp.float32)


def encoder_input_dims(config: MusicModelConfig) -> list[int]:
  return [10 if d == DRUM_DEPTH and config.drum_roll_input else d for d in config.track_depths]


def encoder_input_dim(config: MusicModelConfig) -> int:
  return sum(encoder_input_dims(config))


def split_logits(logits: jax.Array, depths: Sequence[int]) -> list[jax.Array]:
  bounds = [sum(depths[: i + 1]) for i in range(len(depths) - 1)]
  return jnp.split(logits, bounds, axis=-1)


def sample_tokens(key: jax.Array, logits: jax.Array, depths: Sequence[int], temperature: float) -> jax.Array:
  """One categorical sample per track from logits / temperature -> [..., tracks]."""
  keys = jax.random.split(key, len(depths))
  parts = split_logits(logits, depths)
  return jnp.stack([jax.random.categorical(k, p / temperature) for k, p in zip(keys, parts)], axis=-1)


def previous_tokens(targets: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Teacher-forcing inputs of targets [T, B, tracks]: (targets shifted one step, valid [T, B]); step 0 is zeros."""
  prev = jnp.concatenate([jnp.zeros_like(targets[:1]), targets[:-1]], axis=0)
  valid = jnp.broadcast_to((jnp.arange(targets.shape[0]) > 0)[:, None], targets.shape[:2])
  return prev, valid


class BidirectionalEncoder(nnx.Module):
  """Stacked bidirectional LSTM -> [final forward h ; final backward h] of the top layer."""

  def __init__(self, config: MusicModelConfig, *, rngs: nnx.Rngs):
    sizes = config.enc_rnn_sizes
    dims = [encoder_input_dim(config)] + [2 * s for s in sizes[:-1]]
    self.layers = nnx.List([LSTMLayer(d, s, directions=2, rngs=rngs) for d, s in zip(dims, sizes)])
    self.config = config

  def input_projection(self, tokens: jax.Array) -> jax.Array:
    """Layer 0's input contribution for time-major tokens [T, B, tracks] -> [2, T, B, 4H]: gathers and roll matmuls."""
    w_in, config = self.layers[0].w_in[...], self.config
    dims = encoder_input_dims(config)
    starts = np.concatenate([[0], np.cumsum(dims)[:-1]])
    total, gathered = 0.0, []
    for i, (depth, start, dim) in enumerate(zip(config.track_depths, starts, dims)):
      if depth == DRUM_DEPTH and config.drum_roll_input:
        total = total + recurrent.project_dense(
          w_in[:, start : start + dim], drum_roll(tokens[..., i]), config.compute_dtype
        )
      else:
        gathered.append(tokens[..., i] + int(start))
    if gathered:
      total = total + recurrent.project_tokens(w_in, jnp.stack(gathered, axis=-1))
    return total

  def dense_input(self, tokens: jax.Array) -> jax.Array:
    """Layer 0's input itself for time-major tokens [T, B, tracks] -> [T, B, D]: one-hots and drum rolls (cuDNN)."""
    parts = []
    for i, (depth, dim) in enumerate(zip(self.config.track_depths, encoder_input_dims(self.config))):
      track = tokens[..., i]
      parts.append(drum_roll(track) if dim != depth else jax.nn.one_hot(track, depth, dtype=jnp.float32))
    return jnp.concatenate(parts, axis=-1)

  def __call__(self, tokens: jax.Array) -> jax.Array:
    """tokens [B, T, tracks] -> [B, 2 * sizes[-1]]."""
    tokens, options = jnp.swapaxes(tokens, 0, 1), self.config.scan_options
    if recurrent.use_cudnn(options):
      _, finals = recurrent.cudnn_stack(self.layers, self.dense_input(tokens))
    else:
      _, finals = recurrent.run_stack(self.layers, self.input_projection(tokens), options=options)
    h_final = finals[-1][0]  # [2, B, H]
    return jnp.concatenate([h_final[0], h_final[1]], axis=-1)


class StateInit(nnx.Module):
  """dense-tanh(embedding) split into one (c, h) pair per LSTM layer (the reference's LSTMStateTuple order)."""

  def __init__(self, in_dim: int, sizes: Sequence[int], *, rngs: nnx.Rngs):
    self.dense = nnx.Linear(in_dim, 2 * sum(sizes), kernel_init=_small_normal(), rngs=rngs)
    self.sizes = tuple(sizes)

  def __call__(self, embedding: jax.Array) -> Carries:
    """-> per layer (h, c), each [..., size] (the core's carry order)."""
    flat = jnp.tanh(self.dense(embedding))
    carries, start = [], 0
    for size in self.sizes:
      c, h = flat[..., start : start + size], flat[..., start + size : start + 2 * size]
      carries.append((h, c))
      start += 2 * size
    return carries


class CategoricalDecoder(nnx.Module):
  """One autoregressive LSTM over the tracks `depths`, conditioned on an embedding at every step.

  Layer 0's input is [previous tokens' one-hots ; cond]; the one-hots enter as
  rows of its kernel and cond is projected once per sequence.
  """

  def __init__(
    self, cond_dim: int, depths: Sequence[int], sizes: Sequence[int], options: ScanOptions, *, rngs: nnx.Rngs
  ):
    self.depths = tuple(depths)
    self.token_dim = sum(depths)
    self.options = options
    self.state_init = StateInit(cond_dim, sizes, rngs=rngs)
    dims = [self.token_dim + cond_dim] + list(sizes[:-1])
    self.layers = nnx.List([LSTMLayer(d, s, rngs=rngs) for d, s in zip(dims, sizes)])
    self.output = nnx.Linear(sizes[-1], self.token_dim, kernel_init=nnx.initializers.glorot_uniform(), rngs=rngs)

  def _cond_projection(self, cond: jax.Array) -> jax.Array:
    return recurrent.project_dense(self.layers[0].w_in[:, self.token_dim :], cond, self.options.compute_dtype)[0]

  def _token_projection(self, tokens: jax.Array, valid: jax.Array) -> jax.Array:
    index = tokens + track_offsets(self.depths)
    return recurrent.project_tokens(self.layers[0].w_in[:, : self.token_dim], index, valid)[0]

  def dense_input(self, cond: jax.Array, prev: jax.Array, valid: jax.Array) -> jax.Array:
    """Layer 0's input itself, [previous tokens' one-hots ; cond] at every step -> [T, B, sum(depths) + C] (cuDNN,
    which has no projected-once path for the constant cond)."""
    one_hots = jax.nn.one_hot(prev + track_offsets(self.depths), self.token_dim, dtype=jnp.float32).sum(axis=-2)
    one_hots = one_hots * valid[..., None].astype(jnp.float32)
    return jnp.concatenate([one_hots, jnp.broadcast_to(cond, prev.shape[:2] + cond.shape[-1:])], axis=-1)

  def teacher_forced(self, cond: jax.Array, prev: jax.Array, valid: jax.Array) -> jax.Array:
    """Logits [T, B, sum(depths)] for given inputs: cond [B, C], prev [T, B, tracks] tokens, valid [T, B]."""
    carries = [(h[None], c[None]) for h, c in self.state_init(cond)]
    if recurrent.use_cudnn(self.options):
      hs, _ = recurrent.cudnn_stack(self.layers, self.dense_input(cond, prev, valid), carries)
    else:
      xproj = self._token_projection(prev, valid) + self._cond_projection(cond)[None]
      hs, _ = recurrent.run_stack(self.layers, xproj[None], carries, self.options)
    return self.output(hs[0])

  def sample(
    self,
    cond: jax.Array,
    first: jax.Array,
    first_valid: jax.Array,
    targets: jax.Array | None,
    key: jax.Array,
    sample_prob: jax.Array | float,
    temperature: jax.Array | float,
    num_steps: int,
  ) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Autoregressive unroll from a fresh state, feeding the model's samples with probability sample_prob.

    cond [B, C]; first [B, tracks] and first_valid [B]: the first input (all
    zeros where not valid); targets [T, B, tracks] or None (free running).
    Returns logits [T, B, sum(depths)], samples [T, B, tracks], the inputs fed
    [T, B, tracks] and the input for the step after the last [B, tracks].
    """
    cond_proj = self._cond_projection(cond)
    keys = jax.random.split(key, num_steps)
    batch = cond.shape[0]
    xs = (keys, targets) if targets is not None else (keys,)

    def step(state, inputs):
      carries, prev, valid = state
      step_key = inputs[0]
      xproj = self._token_projection(prev, valid) + cond_proj
      carries, h = recurrent.step_stack(self.layers, carries, xproj, self.options)
      logits = self.output(h)
      sample_key, coin_key = jax.random.split(step_key)
      sampled = sample_tokens(sample_key, logits, self.depths, temperature)
      if targets is None:
        nxt = sampled
      else:
        use_sample = jax.random.bernoulli(coin_key, sample_prob, (batch, 1))
        nxt = jnp.where(use_sample, sampled, inputs[1])
      return (carries, nxt, jnp.ones_like(valid)), (logits, sampled, prev, valid)

    init = (self.state_init(cond), first, first_valid)
    (_, last, _), (logits, samples, fed, fed_valid) = jax.lax.scan(step, init, xs, length=num_steps)
    return logits, samples, (fed, fed_valid), last


class FlatDecoder(nnx.Module):
  """The flat decoder: one categorical LSTM over the whole sequence, conditioned on z."""

  def __init__(self, config: MusicModelConfig, *, rngs: nnx.Rngs):
    self.depths = config.track_depths
    self.num_steps = config.num_steps
    self.core = CategoricalDecoder(
      config.z_size, config.track_depths, config.dec_rnn_sizes, config.scan_options, rngs=rngs
    )

  def teacher_forced(self, z: jax.Array, prev: jax.Array, valid: jax.Array) -> jax.Array:
    """z [B, Z], inputs prev [T, B, tracks] with valid [T, B] -> logits [T, B, sum(depths)]."""
    return self.core.teacher_forced(z, prev, valid)

  def sample(self, z, targets, key, sample_prob, temperature):
    """-> logits [T, B, D], samples [T, B, tracks], inputs fed ([T, B, tracks], valid [T, B])."""
    batch, tracks = z.shape[0], len(self.depths)
    first = jnp.zeros((batch, tracks), jnp.int32)
    logits, samples, fed, _ = self.core.sample(
      z, first, jnp.zeros((batch,), bool), targets, key, sample_prob, temperature, self.num_steps
    )
    return logits, samples, fed


class HierarchicalDecoder(nnx.Module):
  """Conductor LSTM over bars; per bar, one bottom decoder per track (one for single-track data)."""

  def __init__(self, config: MusicModelConfig, *, rngs: nnx.Rngs):
    sizes = config.dec_rnn_sizes
    self.depths = config.track_depths
    self.num_bars = config.num_bars
    self.steps_per_bar = config.steps_per_bar
    self.options = config.scan_options
    self.conductor_init = StateInit(config.z_size, sizes, rngs=rngs)
    dims = [1] + list(sizes[:-1])
    self.conductor = nnx.List([LSTMLayer(d, s, rngs=rngs) for d, s in zip(dims, sizes)])
    self.bottom = nnx.List(
      [CategoricalDecoder(sizes[-1], (d,), sizes, config.scan_options, rngs=rngs) for d in config.track_depths]
    )

  def conduct(self, z: jax.Array) -> jax.Array:
    """z [B, Z] -> one embedding per bar [bars, B, H] from the zero-input conductor."""
    carries = [(h[None], c[None]) for h, c in self.conductor_init(z)]
    if recurrent.use_cudnn(self.options):
      hs, _ = recurrent.cudnn_stack(self.conductor, jnp.zeros((self.num_bars, z.shape[0], 1)), carries)
    else:
      xproj = jnp.zeros((1, self.num_bars, z.shape[0], 4 * self.conductor[0].hidden))
      hs, _ = recurrent.run_stack(self.conductor, xproj, carries, self.options)
    return hs[0]

  def _by_bar(self, x: jax.Array) -> jax.Array:
    """[T, B, ...] -> [steps_per_bar, bars * B, ...] (bar-major batch)."""
    batch = x.shape[1]
    x = x.reshape((self.num_bars, self.steps_per_bar, batch) + x.shape[2:])
    return jnp.swapaxes(x, 0, 1).reshape((self.steps_per_bar, self.num_bars * batch) + x.shape[3:])

  def _by_time(self, x: jax.Array, batch: int) -> jax.Array:
    """Inverse of _by_bar: [steps_per_bar, bars * B, ...] -> [T, B, ...]."""
    x = x.reshape((self.steps_per_bar, self.num_bars, batch) + x.shape[2:])
    return jnp.swapaxes(x, 0, 1).reshape((self.num_bars * self.steps_per_bar, batch) + x.shape[3:])

  def teacher_forced(self, z: jax.Array, prev: jax.Array, valid: jax.Array) -> jax.Array:
    """All bars at once: the conductor once, then one unroll over batch x bars sequences -> [T, B, D]."""
    batch = z.shape[0]
    cond = self.conduct(z).reshape(self.num_bars * batch, -1)  # bar-major, as _by_bar
    prev_b, valid_b = self._by_bar(prev), self._by_bar(valid)
    logits = [dec.teacher_forced(cond, prev_b[..., i : i + 1], valid_b) for i, dec in enumerate(self.bottom)]
    return self._by_time(jnp.concatenate(logits, -1), batch)

  def sample(self, z, targets, key, sample_prob, temperature):
    """With targets: every bar at once, each starting from its ground-truth previous token (the reference's
    per-bar inputs). Without: bar after bar, each starting from the previous bar's last sample."""
    if targets is None:
      return self.sample_sequential(z, None, key, sample_prob, temperature)
    batch = z.shape[0]
    cond = self.conduct(z).reshape(self.num_bars * batch, -1)
    prev, valid = previous_tokens(targets)
    prev_b, valid_b, targets_b = self._by_bar(prev), self._by_bar(valid), self._by_bar(targets)
    keys = jax.random.split(key, len(self.bottom))
    outs = [
      dec.sample(
        cond,
        prev_b[0, :, i : i + 1],
        valid_b[0],
        targets_b[..., i : i + 1],
        keys[i],
        sample_prob,
        temperature,
        self.steps_per_bar,
      )
      for i, dec in enumerate(self.bottom)
    ]
    logits = self._by_time(jnp.concatenate([o[0] for o in outs], -1), batch)
    samples = self._by_time(jnp.concatenate([o[1] for o in outs], -1), batch)
    fed = self._by_time(jnp.concatenate([o[2][0] for o in outs], -1), batch)
    return logits, samples, (fed, self._by_time(valid_b, batch))

  def sample_sequential(self, z, targets, key, sample_prob, temperature):
    """Bar after bar; each bar's first input is the input that followed the previous bar's last step."""
    batch, tracks = z.shape[0], len(self.depths)
    bar_keys = jax.random.split(key, self.num_bars)
    xs = (self.conduct(z), bar_keys)
    if targets is not None:
      xs = xs + (targets.reshape(self.num_bars, self.steps_per_bar, batch, tracks),)

    def bar(carry, inputs):
      prev, valid = carry
      embedding, key_b = inputs[:2]
      track_keys = jax.random.split(key_b, tracks)
      outs = [
        dec.sample(
          embedding,
          prev[:, i : i + 1],
          valid,
          None if targets is None else inputs[2][..., i : i + 1],
          track_keys[i],
          sample_prob,
          temperature,
          self.steps_per_bar,
        )
        for i, dec in enumerate(self.bottom)
      ]
      last = jnp.concatenate([o[3] for o in outs], -1)
      result = tuple(jnp.concatenate(parts, -1) for parts in zip(*[(o[0], o[1], o[2][0]) for o in outs]))
      return (last, jnp.ones_like(valid)), result + (outs[0][2][1],)

    init = (jnp.zeros((batch, tracks), jnp.int32), jnp.zeros((batch,), bool))
    _, (logits, samples, fed, fed_valid) = jax.lax.scan(bar, init, xs)
    steps = self.num_bars * self.steps_per_bar
    flat = lambda x: x.reshape((steps,) + x.shape[2:])  # noqa: E731
    return flat(logits), flat(samples), (flat(fed), flat(fed_valid))


class MusicVAE(nnx.Module):
  """Encoder q(z|x) and flat or hierarchical decoder p(x|z)."""

  def __init__(self, config: MusicModelConfig, *, rngs: nnx.Rngs):
    if config.num_steps % config.steps_per_bar:
      raise ValueError(f"num_steps={config.num_steps} is not a whole number of {config.steps_per_bar}-step bars")
    recurrent.use_cudnn(config.scan_options)  # rnn_backend=cudnn where it cannot run fails here, not at the first step
    self.config = config
    self.encoder = BidirectionalEncoder(config, rngs=rngs)
    code_dim = 2 * config.enc_rnn_sizes[-1]
    self.mu = nnx.Linear(code_dim, config.z_size, kernel_init=_small_normal(), rngs=rngs)
    self.sigma = nnx.Linear(code_dim, config.z_size, kernel_init=_small_normal(), rngs=rngs)
    decoder = HierarchicalDecoder if config.decoder == "hierarchical" else FlatDecoder
    self.decoder = decoder(config, rngs=rngs)

  def encode(self, tokens: jax.Array) -> tuple[jax.Array, jax.Array]:
    """tokens [B, T, tracks] -> posterior mean and std, each [B, z_size]."""
    code = self.encoder(tokens)
    return self.mu(code), jax.nn.softplus(self.sigma(code))

  def decode_teacher_forced(self, z: jax.Array, targets: jax.Array) -> jax.Array:
    """Logits [B, T, sum(depths)] of targets [B, T, tracks] given z [B, Z], every input the ground truth."""
    prev, valid = previous_tokens(jnp.swapaxes(targets, 0, 1))
    return jnp.swapaxes(self.decoder.teacher_forced(z, prev, valid), 0, 1)

  def decode(
    self,
    z: jax.Array,
    key: jax.Array,
    targets: jax.Array | None = None,
    sample_prob: jax.Array | float = 1.0,
    temperature: jax.Array | float = 1.0,
  ) -> tuple[jax.Array, jax.Array]:
    """Decode z [B, Z] step by step; returns logits [B, T, sum(depths)] and sampled tokens [B, T, tracks].

    With targets [B, T, tracks], each step's next input is the ground truth or
    (with probability sample_prob) the model's own sample; without targets the
    decoder runs free.
    """
    tm_targets = None if targets is None else jnp.swapaxes(targets, 0, 1)
    logits, samples, _ = self.decoder.sample(z, tm_targets, key, sample_prob, temperature)
    return jnp.swapaxes(logits, 0, 1), jnp.swapaxes(samples, 0, 1)

  def decode_scheduled(
    self, z: jax.Array, key: jax.Array, targets: jax.Array, sample_prob: jax.Array | float
  ) -> jax.Array:
    """The logits of `decode(z, key, targets, sample_prob)`, differentiable through the teacher-forced unroll.

    The inputs are drawn by a sampling pass under stop_gradient (samples carry
    no gradient anyway); the logits are then one teacher-forced pass over them.
    """
    graphdef, state = nnx.split(self)
    frozen = nnx.merge(graphdef, jax.lax.stop_gradient(state))
    _, _, (fed, valid) = frozen.decoder.sample(
      jax.lax.stop_gradient(z), jnp.swapaxes(targets, 0, 1), key, sample_prob, 1.0
    )
    return jnp.swapaxes(self.decoder.teacher_forced(z, fed, valid), 0, 1)


def init_model(config: MusicModelConfig, seed: int) -> tuple[nnx.GraphDef, nnx.State]:
  model = MusicVAE(config, rngs=nnx.Rngs(seed))
  return nnx.split(model, nnx.Param)
