"""SeCTAR's networks as Flax NNX modules: trajectory encoder, state decoder, policy decoder.

Encoder q(z | tau): 2-layer bidirectional LSTM over s_0..s_T, outputs mean-pooled
over time, ReLU MLP heads (32, 32) -> mean and log-std of z in R^latent_dim (the
authors' MLP default sizes).
State decoder p(s_1..s_T | z, s_0): LSTM over [s_{t-1}, z] -> ReLU MLP -> mean of
s_t, fed back as the next input (open loop from the true s_0, as the authors'
code); one learned per-dimension scale (init 0.1; no floor, as the authors'
decoder, whose min_var clamp is commented out).
Policy decoder pi(a | s, z): ReLU MLP on [s, z] -> categorical logits, or a
Gaussian mean with a state-independent learned log-std (init std 1).

Every MLP layer is initialised as the authors' MLP (traj2vec/nn/mlp.py):
xavier-uniform weights, PyTorch's default bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

Time loops are lax.scan over an LSTM cell split into (graphdef, state) and
merged inside the body, so the modules stay plain NNX and jit-friendly.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from flax import nnx

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  obs_dim: int = 2
  # Discrete: the number of actions (logits). Continuous: the action vector's length.
  action_dim: int = 4
  discrete: bool = True
  latent_dim: int = 8
  encoder_hidden: int = 256  # the authors' code (their appendix says 300)
  encoder_layers: int = 2
  decoder_hidden: int = 256
  decoder_mlp: tuple[int, ...] = (128, 128, 128)
  policy_mlp: tuple[int, ...] = (400, 300, 200)
  encoder_head_mlp: tuple[int, ...] = (32, 32)  # the authors' MLP default hidden sizes
  decoder_init_std: float = 0.1
  decoder_min_var: float = 0.0  # 0 = no floor (the authors' decoder); > 0 floors std^2
  policy_init_std: float = 1.0


def _scan_cell(cell: nnx.Module, carry, xs: Array):
  """Run an LSTM cell over time-major inputs xs [T, ...]; returns (final carry, outputs [T, ...])."""
  graphdef, state = nnx.split(cell)

  def body(c, x):
    return nnx.merge(graphdef, state)(c, x)

  return jax.lax.scan(body, carry, xs)


def _zero_carry(batch_shape: tuple[int, ...], hidden: int) -> tuple[Array, Array]:
  z = jnp.zeros(batch_shape + (hidden,), jnp.float32)
  return (z, z)


def torch_bias_init(fan_in: int):
  """PyTorch's default nn.Linear bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
  bound = 1.0 / math.sqrt(fan_in)

  def init(key: Array, shape, dtype=jnp.float32) -> Array:
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


def linear(din: int, dout: int, rngs: nnx.Rngs) -> nnx.Linear:
  """A dense layer with the authors' initialisation (xavier-uniform weight, torch-default bias)."""
  return nnx.Linear(din, dout, kernel_init=nnx.initializers.xavier_uniform(), bias_init=torch_bias_init(din),
                    rngs=rngs)


class MLP(nnx.Module):
  """ReLU hidden layers, linear output; the authors' initialisation."""

  def __init__(self, din: int, hidden: tuple[int, ...], dout: int, *, rngs: nnx.Rngs):
    sizes = (din,) + tuple(hidden)
    self.hidden = nnx.List([linear(a, b, rngs) for a, b in zip(sizes[:-1], sizes[1:])])
    self.out = linear(sizes[-1], dout, rngs)

  def __call__(self, x: Array) -> Array:
    for layer in self.hidden:
      x = jax.nn.relu(layer(x))
    return self.out(x)


class TrajectoryEncoder(nnx.Module):
  """states [B, T+1, D] -> (mean, std) of q(z | tau), each [B, latent_dim]."""

  def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
    h = config.encoder_hidden
    self.hidden = h
    dins = [config.obs_dim] + [2 * h] * (config.encoder_layers - 1)
    self.forward = nnx.List([nnx.LSTMCell(d, h, rngs=rngs) for d in dins])
    self.backward = nnx.List([nnx.LSTMCell(d, h, rngs=rngs) for d in dins])
    self.mean = MLP(2 * h, config.encoder_head_mlp, config.latent_dim, rngs=rngs)
    self.log_std = MLP(2 * h, config.encoder_head_mlp, config.latent_dim, rngs=rngs)

  def __call__(self, states: Array) -> tuple[Array, Array]:
    x = jnp.swapaxes(states, 0, 1)  # time-major
    carry = _zero_carry(x.shape[1:-1], self.hidden)
    for fwd, bwd in zip(self.forward, self.backward):
      _, out_f = _scan_cell(fwd, carry, x)
      _, out_b = _scan_cell(bwd, carry, x[::-1])
      x = jnp.concatenate([out_f, out_b[::-1]], axis=-1)
    pooled = jnp.mean(x, axis=0)
    return self.mean(pooled), jnp.exp(self.log_std(pooled))


class StateDecoder(nnx.Module):
  """(z [B, Z], s_0 [B, D], T) -> means of s_1..s_T [B, T, D], and the per-dimension std [D]."""

  def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
    self.hidden = config.decoder_hidden
    self.cell = nnx.LSTMCell(config.obs_dim + config.latent_dim, config.decoder_hidden, rngs=rngs)
    self.head = MLP(config.decoder_hidden, config.decoder_mlp, config.obs_dim, rngs=rngs)
    self.log_std = nnx.Param(jnp.full((config.obs_dim,), math.log(config.decoder_init_std), jnp.float32))
    self.min_var = config.decoder_min_var

  def std(self) -> Array:
    if self.min_var <= 0:
      return jnp.exp(self.log_std[...])
    return jnp.sqrt(jnp.maximum(jnp.exp(2.0 * self.log_std[...]), self.min_var))

  def __call__(self, z: Array, s0: Array, length: int) -> tuple[Array, Array]:
    cell_def, cell_state = nnx.split(self.cell)
    head_def, head_state = nnx.split(self.head)

    def body(c, _):
      lstm, prev = c
      lstm, h = nnx.merge(cell_def, cell_state)(lstm, jnp.concatenate([prev, z], axis=-1))
      mean = nnx.merge(head_def, head_state)(h)
      return (lstm, mean), mean

    carry = (_zero_carry(s0.shape[:-1], self.hidden), s0)
    _, means = jax.lax.scan(body, carry, None, length=length)
    return jnp.moveaxis(means, 0, -2), self.std()


class PolicyDecoder(nnx.Module):
  """(s [..., D], z [..., Z]) -> logits [..., A] (discrete) or (mean [..., A], std [A]) (continuous).

  With use_latent=False it ignores z: the explorer policy pi_e(a | s).
  """

  def __init__(self, config: ModelConfig, *, use_latent: bool = True, init_std: float | None = None, rngs: nnx.Rngs):
    self.discrete = config.discrete
    self.use_latent = use_latent
    din = config.obs_dim + (config.latent_dim if use_latent else 0)
    self.net = MLP(din, config.policy_mlp, config.action_dim, rngs=rngs)
    std = config.policy_init_std if init_std is None else init_std
    self.log_std = nnx.Param(jnp.full((config.action_dim,), math.log(std), jnp.float32))

  def __call__(self, s: Array, z: Array | None = None):
    x = jnp.concatenate([s, z], axis=-1) if self.use_latent else s
    out = self.net(x)
    if self.discrete:
      return out
    return out, jnp.exp(self.log_std[...])


class Sectar(nnx.Module):
  """The trajectory VAE with its policy decoder: encoder, state decoder and policy decoder (no shared parts)."""

  def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
    self.config = config
    self.encoder = TrajectoryEncoder(config, rngs=rngs)
    self.state_decoder = StateDecoder(config, rngs=rngs)
    self.policy = PolicyDecoder(config, rngs=rngs)
