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

The LSTMs are the shared recurrent core (trajvae.core.recurrent) with PyTorch's
nn.LSTM initialisation, as the authors' code: the encoder runs each direction
as one scan with a custom backward pass (or cuDNN's LSTM, `model.rnn_backend`); the state decoder, which feeds back its
own predicted mean, projects the constant z once per segment and steps the cell.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from trajvae.core import recurrent
from trajvae.core.recurrent import LSTMLayer, ScanOptions
from trajvae.sectar.configs import SectarModelConfig

Array = jax.Array


def torch_bias_init(fan_in: int):
  """PyTorch's default nn.Linear bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
  bound = 1.0 / math.sqrt(fan_in)

  def init(key: Array, shape, dtype=jnp.float32) -> Array:
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


def linear(din: int, dout: int, rngs: nnx.Rngs) -> nnx.Linear:
  """A dense layer with the authors' initialisation (xavier-uniform weight, torch-default bias)."""
  return nnx.Linear(din, dout, kernel_init=nnx.initializers.xavier_uniform(), bias_init=torch_bias_init(din), rngs=rngs)


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
  """states [..., T+1, D] -> (mean, std) of q(z | tau), each [..., latent_dim]."""

  def __init__(self, config: SectarModelConfig, *, rngs: nnx.Rngs):
    h = config.encoder_hidden
    dins = [config.obs_dim] + [2 * h] * (config.encoder_layers - 1)
    self.layers = nnx.List([LSTMLayer(d, h, directions=2, init="torch", rngs=rngs) for d in dins])
    self.options = ScanOptions(rnn_backend=config.rnn_backend)
    recurrent.use_cudnn(self.options)  # rnn_backend=cudnn where it cannot run fails here
    self.mean = MLP(2 * h, config.encoder_head_mlp, config.latent_dim, rngs=rngs)
    self.log_std = MLP(2 * h, config.encoder_head_mlp, config.latent_dim, rngs=rngs)

  def __call__(self, states: Array) -> tuple[Array, Array]:
    batch_shape = states.shape[:-2]
    x = jnp.swapaxes(states.reshape((-1,) + states.shape[-2:]), 0, 1)  # [T+1, B, D]
    if recurrent.use_cudnn(self.options):
      hs, _ = recurrent.cudnn_stack(self.layers, x)
    else:
      hs, _ = recurrent.run_stack(self.layers, recurrent.project_dense(self.layers[0].w_in[...], x))
    pooled = jnp.mean(jnp.concatenate([hs[0], hs[1]], axis=-1), axis=0).reshape(batch_shape + (-1,))
    return self.mean(pooled), jnp.exp(self.log_std(pooled))


class StateDecoder(nnx.Module):
  """(z [B, Z], s_0 [B, D], T) -> means of s_1..s_T [B, T, D], and the per-dimension std [D]."""

  def __init__(self, config: SectarModelConfig, *, rngs: nnx.Rngs):
    self.obs_dim = config.obs_dim
    self.lstm = LSTMLayer(config.obs_dim + config.latent_dim, config.decoder_hidden, init="torch", rngs=rngs)
    self.head = MLP(config.decoder_hidden, config.decoder_mlp, config.obs_dim, rngs=rngs)
    self.log_std = nnx.Param(jnp.full((config.obs_dim,), math.log(config.decoder_init_std), jnp.float32))
    self.min_var = config.decoder_min_var

  def std(self) -> Array:
    if self.min_var <= 0:
      return jnp.exp(self.log_std[...])
    return jnp.sqrt(jnp.maximum(jnp.exp(2.0 * self.log_std[...]), self.min_var))

  def __call__(self, z: Array, s0: Array, length: int) -> tuple[Array, Array]:
    batch_shape = s0.shape[:-1]
    s = s0.reshape(-1, s0.shape[-1])
    z = jnp.broadcast_to(z, batch_shape + z.shape[-1:]).reshape(s.shape[0], -1)
    w_in = self.lstm.w_in[...]
    z_proj = recurrent.project_dense(w_in[:, self.obs_dim :], z)[0]  # constant over the segment: projected once
    w_state = w_in[0, : self.obs_dim]

    def body(c, _):
      carries, prev = c
      carries, h = recurrent.step_stack([self.lstm], carries, prev @ w_state + z_proj)
      mean = self.head(h)
      return (carries, mean), mean

    zeros = jnp.zeros((s.shape[0], self.lstm.hidden), jnp.float32)
    _, means = jax.lax.scan(body, ([(zeros, zeros)], s), None, length=length)
    return jnp.swapaxes(means, 0, 1).reshape(batch_shape + (length, -1)), self.std()


class PolicyDecoder(nnx.Module):
  """(s [..., D], z [..., Z]) -> logits [..., A] (discrete) or (mean [..., A], std [A]) (continuous).

  With use_latent=False it ignores z: the explorer policy pi_e(a | s).
  """

  def __init__(
    self, config: SectarModelConfig, *, use_latent: bool = True, init_std: float | None = None, rngs: nnx.Rngs
  ):
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

  def __init__(self, config: SectarModelConfig, *, rngs: nnx.Rngs):
    self.config = config
    self.encoder = TrajectoryEncoder(config, rngs=rngs)
    self.state_decoder = StateDecoder(config, rngs=rngs)
    self.policy = PolicyDecoder(config, rngs=rngs)
