"""MusicVAE networks (Roberts et al. 2018) as Flax NNX modules; every time loop is a lax.scan.

Tokens are int32 [batch, steps, tracks] indices, one track per instrument
(melody: 90 classes; drums: 512; trio: 90 | 90 | 512). Following the Magenta
reference:

- Encoder: stacked bidirectional LSTM; layer l+1 reads [forward ; backward]
  outputs of layer l; the code is [final forward h ; final backward h] of the
  top layer. q(z|x) = N(mu, softplus(.)^2) with N(0, 0.001^2) kernels.
- Flat decoder: initial LSTM state = dense-tanh(z) split into (c, h) per layer;
  input at every step = [previous token one-hot ; z]; the first input is zeros.
- Hierarchical decoder: a conductor LSTM of the decoder's size, its state
  initialised by dense-tanh(z), runs one step per bar on a zero input; each
  conductor output initialises (dense-tanh) and conditions (concatenated to
  every input) a bottom decoder that restarts each bar, while the previous
  token is carried across the bar line. Multi-track (trio) uses one bottom
  decoder per track; the flat multi-track decoder is one LSTM with the logits
  split by track.
- Scheduled sampling: at each step, with probability p, the next input is a
  token sampled from the decoder's own output distribution instead of the
  ground truth (p = 0: teacher forcing; p = 1: free running).
"""

from __future__ import annotations

import dataclasses
from typing import Literal, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

Carries = list[tuple[jax.Array, jax.Array]]
DRUM_DEPTH = 512
NUM_DRUM_CLASSES = 9


@dataclasses.dataclass(frozen=True)
class MusicModelConfig:
  # Vocabulary size of each track: (90,) melody, (512,) drums, (90, 90, 512) trio.
  track_depths: tuple[int, ...] = (90,)
  num_steps: int = 32
  steps_per_bar: int = 16
  decoder: Literal["flat", "hierarchical"] = "flat"
  z_size: int = 256
  enc_rnn_sizes: tuple[int, ...] = (512,)
  dec_rnn_sizes: tuple[int, ...] = (256, 256)
  # Feed 512-way drum tokens to the encoder as the 10-d roll (9 class bits + silence), as the reference's roll_input.
  drum_roll_input: bool = False

  @property
  def num_bars(self) -> int:
    return self.num_steps // self.steps_per_bar


def _small_normal() -> nnx.initializers.Initializer:
  return nnx.initializers.normal(0.001)


def one_hot_tokens(tokens: jax.Array, depths: Sequence[int]) -> jax.Array:
  """[..., tracks] int tokens -> [..., sum(depths)] concatenated one-hots."""
  return jnp.concatenate([jax.nn.one_hot(tokens[..., i], d) for i, d in enumerate(depths)], axis=-1)


def drum_roll(tokens: jax.Array) -> jax.Array:
  """512-way drum tokens [...] -> [..., 10]: one bit per drum class, then a 'silence' bit."""
  bits = (tokens[..., None] >> jnp.arange(NUM_DRUM_CLASSES)) & 1
  silence = (tokens == 0)[..., None]
  return jnp.concatenate([bits, silence], axis=-1).astype(jnp.float32)


def encoder_inputs(tokens: jax.Array, config: MusicModelConfig) -> jax.Array:
  """The encoder's per-step input vector: one-hot per track, or the drum roll for drum tracks."""
  parts = []
  for i, depth in enumerate(config.track_depths):
    if depth == DRUM_DEPTH and config.drum_roll_input:
      parts.append(drum_roll(tokens[..., i]))
    else:
      parts.append(jax.nn.one_hot(tokens[..., i], depth))
  return jnp.concatenate(parts, axis=-1)


def encoder_input_dim(config: MusicModelConfig) -> int:
  return sum(10 if d == DRUM_DEPTH and config.drum_roll_input else d for d in config.track_depths)


def run_lstm(cell: nnx.OptimizedLSTMCell, x: jax.Array, carry: tuple[jax.Array, jax.Array]):
  """Run one LSTM layer over time-major x [T, B, D]; returns (final carry, outputs [T, B, H])."""
  return jax.lax.scan(lambda c, x_t: cell(c, x_t), carry, x)


def zero_carry(batch: int, size: int) -> tuple[jax.Array, jax.Array]:
  return jnp.zeros((batch, size)), jnp.zeros((batch, size))


class BidirectionalEncoder(nnx.Module):
  """Stacked bidirectional LSTM -> [final forward h ; final backward h] of the top layer."""

  def __init__(self, input_dim: int, sizes: Sequence[int], *, rngs: nnx.Rngs):
    dims = [input_dim] + [2 * s for s in sizes[:-1]]
    self.forward = nnx.List([nnx.OptimizedLSTMCell(d, s, rngs=rngs) for d, s in zip(dims, sizes)])
    self.backward = nnx.List([nnx.OptimizedLSTMCell(d, s, rngs=rngs) for d, s in zip(dims, sizes)])
    self.sizes = tuple(sizes)

  def __call__(self, x: jax.Array) -> jax.Array:
    """x [B, T, D] -> [B, 2 * sizes[-1]]."""
    h = jnp.swapaxes(x, 0, 1)
    batch = x.shape[0]
    for fwd, bwd, size in zip(self.forward, self.backward, self.sizes):
      (_, h_fwd), out_fwd = run_lstm(fwd, h, zero_carry(batch, size))
      (_, h_bwd), out_bwd = run_lstm(bwd, h[::-1], zero_carry(batch, size))
      h = jnp.concatenate([out_fwd, out_bwd[::-1]], axis=-1)
    return jnp.concatenate([h_fwd, h_bwd], axis=-1)


class StateInit(nnx.Module):
  """dense-tanh(embedding) split into one (c, h) pair per LSTM layer."""

  def __init__(self, in_dim: int, sizes: Sequence[int], *, rngs: nnx.Rngs):
    self.dense = nnx.Linear(in_dim, 2 * sum(sizes), kernel_init=_small_normal(), rngs=rngs)
    self.sizes = tuple(sizes)

  def __call__(self, embedding: jax.Array) -> Carries:
    flat = jnp.tanh(self.dense(embedding))
    carries, start = [], 0
    for size in self.sizes:
      carries.append((flat[:, start : start + size], flat[:, start + size : start + 2 * size]))
      start += 2 * size
    return carries


class StackedLSTM(nnx.Module):
  """LSTM layers applied one after another within a single time step."""

  def __init__(self, input_dim: int, sizes: Sequence[int], *, rngs: nnx.Rngs):
    dims = [input_dim] + list(sizes[:-1])
    self.cells = nnx.List([nnx.OptimizedLSTMCell(d, s, rngs=rngs) for d, s in zip(dims, sizes)])

  def __call__(self, carries: Carries, x: jax.Array) -> tuple[Carries, jax.Array]:
    new = []
    for cell, carry in zip(self.cells, carries):
      carry, x = cell(carry, x)
      new.append(carry)
    return new, x


class CategoricalDecoder(nnx.Module):
  """One autoregressive LSTM over the tracks `depths`, conditioned on an embedding at every step."""

  def __init__(self, cond_dim: int, depths: Sequence[int], sizes: Sequence[int], *, rngs: nnx.Rngs):
    self.depths = tuple(depths)
    self.state_init = StateInit(cond_dim, sizes, rngs=rngs)
    self.lstm = StackedLSTM(sum(depths) + cond_dim, sizes, rngs=rngs)
    self.output = nnx.Linear(sizes[-1], sum(depths), rngs=rngs)

  def unroll(
      self,
      cond: jax.Array,
      first_input: jax.Array,
      targets: jax.Array,
      key: jax.Array,
      sample_prob: jax.Array | float,
      temperature: float,
      feed_samples: bool,
  ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Decode len(targets) steps from a fresh state.

    cond [B, C]; first_input [B, sum(depths)]; targets [T, B, tracks] int (the
    teacher-forcing inputs; ignored where samples are fed). Returns logits
    [T, B, sum(depths)], sampled tokens [T, B, tracks], and the input for the
    step after the last (to carry across a bar line).
    """
    target_inputs = one_hot_tokens(targets, self.depths)
    keys = jax.random.split(key, targets.shape[0])

    def step(state, xs):
      carries, prev = state
      step_key, target_input = xs
      carries, h = self.lstm(carries, jnp.concatenate([prev, cond], axis=-1))
      logits = self.output(h)
      sample_key, coin_key = jax.random.split(step_key)
      sampled = sample_tokens(sample_key, logits, self.depths, temperature)
      if feed_samples:
        use_sample = jax.random.bernoulli(coin_key, sample_prob, (prev.shape[0], 1))
        nxt = jnp.where(use_sample, one_hot_tokens(sampled, self.depths), target_input)
      else:
        nxt = target_input
      return (carries, nxt), (logits, sampled)

    (_, last_input), (logits, samples) = jax.lax.scan(
        step, (self.state_init(cond), first_input), (keys, target_inputs)
    )
    return logits, samples, last_input


def split_logits(logits: jax.Array, depths: Sequence[int]) -> list[jax.Array]:
  bounds = [sum(depths[: i + 1]) for i in range(len(depths) - 1)]
  return jnp.split(logits, bounds, axis=-1)


def sample_tokens(key: jax.Array, logits: jax.Array, depths: Sequence[int], temperature: float) -> jax.Array:
  """One categorical sample per track from logits / temperature -> [..., tracks]."""
  keys = jax.random.split(key, len(depths))
  parts = split_logits(logits, depths)
  return jnp.stack([jax.random.categorical(k, p / temperature) for k, p in zip(keys, parts)], axis=-1)


class FlatDecoder(nnx.Module):
  """The flat decoder: one categorical LSTM over the whole sequence, conditioned on z."""

  def __init__(self, config: MusicModelConfig, *, rngs: nnx.Rngs):
    self.depths = config.track_depths
    self.core = CategoricalDecoder(config.z_size, config.track_depths, config.dec_rnn_sizes, rngs=rngs)

  def __call__(self, z, targets, key, sample_prob, temperature, feed_samples):
    """z [B, Z], targets [T, B, tracks] -> logits [T, B, sum(depths)], samples [T, B, tracks]."""
    first = jnp.zeros((z.shape[0], sum(self.depths)))
    logits, samples, _ = self.core.unroll(z, first, targets, key, sample_prob, temperature, feed_samples)
    return logits, samples


class HierarchicalDecoder(nnx.Module):
  """Conductor LSTM over bars; per bar, one bottom decoder per track (one for single-track data)."""

  def __init__(self, config: MusicModelConfig, *, rngs: nnx.Rngs):
    sizes = config.dec_rnn_sizes
    self.depths = config.track_depths
    self.num_bars = config.num_bars
    self.steps_per_bar = config.steps_per_bar
    self.conductor_init = StateInit(config.z_size, sizes, rngs=rngs)
    self.conductor = StackedLSTM(1, sizes, rngs=rngs)
    self.bottom = nnx.List(
        [CategoricalDecoder(sizes[-1], (d,), sizes, rngs=rngs) for d in config.track_depths]
    )

  def conduct(self, z: jax.Array) -> jax.Array:
    """z [B, Z] -> one embedding per bar [bars, B, H] from the zero-input conductor."""
    zeros = jnp.zeros((self.num_bars, z.shape[0], 1))
    _, embeddings = jax.lax.scan(lambda c, x: self.conductor(c, x), self.conductor_init(z), zeros)
    return embeddings

  def __call__(self, z, targets, key, sample_prob, temperature, feed_samples):
    batch, tracks = z.shape[0], len(self.depths)
    bar_targets = targets.reshape(self.num_bars, self.steps_per_bar, batch, tracks)
    bar_keys = jax.random.split(key, self.num_bars)
    first = [jnp.zeros((batch, d)) for d in self.depths]

    def bar(prev_inputs, xs):
      embedding, targets_b, key_b = xs
      track_keys = jax.random.split(key_b, tracks)
      logits, samples, last = [], [], []
      for i, decoder in enumerate(self.bottom):
        lg, sm, nxt = decoder.unroll(
            embedding, prev_inputs[i], targets_b[..., i : i + 1], track_keys[i], sample_prob, temperature, feed_samples
        )
        logits.append(lg)
        samples.append(sm)
        last.append(nxt)
      return last, (jnp.concatenate(logits, -1), jnp.concatenate(samples, -1))

    _, (logits, samples) = jax.lax.scan(bar, first, (self.conduct(z), bar_targets, bar_keys))
    steps = self.num_bars * self.steps_per_bar
    return logits.reshape(steps, batch, -1), samples.reshape(steps, batch, tracks)


class MusicVAE(nnx.Module):
  """Encoder q(z|x) and flat or hierarchical decoder p(x|z)."""

  def __init__(self, config: MusicModelConfig, *, rngs: nnx.Rngs):
    if config.num_steps % config.steps_per_bar:
      raise ValueError(f"num_steps={config.num_steps} is not a whole number of {config.steps_per_bar}-step bars")
    self.config = config
    self.encoder = BidirectionalEncoder(encoder_input_dim(config), config.enc_rnn_sizes, rngs=rngs)
    code_dim = 2 * config.enc_rnn_sizes[-1]
    self.mu = nnx.Linear(code_dim, config.z_size, kernel_init=_small_normal(), rngs=rngs)
    self.sigma = nnx.Linear(code_dim, config.z_size, kernel_init=_small_normal(), rngs=rngs)
    decoder = HierarchicalDecoder if config.decoder == "hierarchical" else FlatDecoder
    self.decoder = decoder(config, rngs=rngs)

  def encode(self, tokens: jax.Array) -> tuple[jax.Array, jax.Array]:
    """tokens [B, T, tracks] -> posterior mean and std, each [B, z_size]."""
    code = self.encoder(encoder_inputs(tokens, self.config))
    return self.mu(code), jax.nn.softplus(self.sigma(code))

  def decode(
      self,
      z: jax.Array,
      key: jax.Array,
      targets: jax.Array | None = None,
      sample_prob: jax.Array | float = 1.0,
      temperature: float = 1.0,
  ) -> tuple[jax.Array, jax.Array]:
    """Decode z [B, Z]; returns logits [B, T, sum(depths)] and sampled tokens [B, T, tracks].

    With targets [B, T, tracks] and sample_prob p, each step's next input is
    the ground truth or (with probability p) the model's own sample; without
    targets the decoder runs free (p = 1).
    """
    feed_samples = targets is None or not (isinstance(sample_prob, (int, float)) and sample_prob == 0)
    if targets is None:
      targets = jnp.zeros((z.shape[0], self.config.num_steps, len(self.config.track_depths)), jnp.int32)
      sample_prob = 1.0
    logits, samples = self.decoder(
        z, jnp.swapaxes(targets, 0, 1), key, sample_prob, temperature, feed_samples
    )
    return jnp.swapaxes(logits, 0, 1), jnp.swapaxes(samples, 0, 1)


def init_model(config: MusicModelConfig, seed: int) -> tuple[nnx.GraphDef, nnx.State]:
  model = MusicVAE(config, rngs=nnx.Rngs(seed))
  return nnx.split(model, nnx.Param)
