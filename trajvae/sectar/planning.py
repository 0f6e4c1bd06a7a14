"""Hierarchical control: model-predictive control over sequences of latents (the authors' mpc).

Each candidate is H latents; it is decoded by chaining the state decoder (each
T-step segment starts at the previous segment's predicted end state) and scored
with the environment's true sparse reward on the predicted states, continuing
the episode's reward progress, discounted per step. Random shooting (the
authors': K = 2048 sequences from N(0, I)) or, as an option, CEM refinement.
The first latent of the best sequence drives the policy decoder for T env
steps, then the planner runs again (mpc_episode, all under one jit). As the
authors' `min(plan_horizon, max_horizon - T)`, near the episode's end only the
latents left are scored: the predicted reward after the episode's last step has
weight 0 (the same argmax as planning the shorter sequence, with static shapes).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from trajvae.sectar.acting import PolicyFn, generate_unroll
from trajvae.sectar.configs import MPCConfig
from trajvae.sectar.envs import SectarEnv

Array = jax.Array
# (decoder_params, z [K, Z], s0 [K, D], length) -> predicted means s_1..s_T [K, T, D]
DecodeFn = Callable[[Any, Array, Array, int], Array]
# (states [K, L, D], progress [K]) -> (rewards [K, L], progress [K]): e.g. SectarEnv.reward_fn
RewardFn = Callable[[Array, Array], tuple[Array, Array]]
# z [Z] -> policy_fn(obs [D], key) -> (action, extras): the policy decoder following latent z
LatentPolicy = Callable[[Array], PolicyFn]


class Plan(NamedTuple):
  latents: Array  # [H, Z], the best sequence
  score: Array  # its discounted predicted return
  states: Array  # its predicted states [H * T, D]


def chain_decode(decode: DecodeFn, decoder_params: Any, latents: Array, s0: Array, segment_len: int) -> Array:
  """Predicted states of latent sequences [K, H, Z] from s0 [K, D]: [K, H * T, D]."""

  def body(s, z):
    means = decode(decoder_params, z, s, segment_len)
    return means[:, -1], means

  _, segs = jax.lax.scan(body, s0, jnp.swapaxes(latents, 0, 1))  # [H, K, T, D]
  segs = jnp.swapaxes(segs, 0, 1)
  return segs.reshape(segs.shape[0], -1, segs.shape[-1])


def score_sequences(
  decode: DecodeFn,
  reward_fn: RewardFn,
  decoder_params: Any,
  latents: Array,
  s0: Array,
  progress: Array,
  config: MPCConfig,
  segment_len: int,
  latents_left: Array | int | None = None,
) -> tuple[Array, Array]:
  """(discounted predicted returns [K], predicted states [K, H*T, D]) for latent sequences [K, H, Z].

  latents_left: latents left in the episode; reward predicted after them is not counted (None: all H).
  """
  k = latents.shape[0]
  states = chain_decode(decode, decoder_params, latents, jnp.broadcast_to(s0, (k,) + s0.shape), segment_len)
  rewards, _ = reward_fn(states, jnp.broadcast_to(progress, (k,)))
  steps = jnp.arange(states.shape[1])
  weights = config.discount ** steps.astype(jnp.float32)
  if latents_left is not None:
    weights = jnp.where(steps < latents_left * segment_len, weights, 0.0)
  return rewards @ weights, states


def plan(
  decode: DecodeFn,
  reward_fn: RewardFn,
  decoder_params: Any,
  s0: Array,
  progress: Array,
  key: Array,
  config: MPCConfig,
  segment_len: int,
  latent_dim: int,
  latents_left: Array | int | None = None,
) -> Plan:
  """The best of K latent sequences from the prior (random shooting), optionally refined by CEM.

  latents_left: plan min(H, latents_left) latents (the rest of each sequence is not scored).
  """
  shape = (config.num_sequences, config.horizon, latent_dim)
  score = lambda lat: score_sequences(
    decode, reward_fn, decoder_params, lat, s0, progress, config, segment_len, latents_left
  )
  keys = jax.random.split(key, config.cem_iterations + 1)
  latents = jax.random.normal(keys[0], shape)
  scores, states = score(latents)
  i = jnp.argmax(scores)
  best = Plan(latents[i], scores[i], states[i])
  if config.method == "random":
    return best
  if config.method != "cem":
    raise ValueError(f"unknown planning method {config.method!r}; use 'random' or 'cem'")

  def cem_step(carry, k):
    lat, sc, best = carry
    elites = lat[jnp.argsort(-sc)[: config.cem_elites]]
    mean, std = elites.mean(0), elites.std(0) + 1e-3
    lat = mean + std * jax.random.normal(k, shape)
    sc, st = score(lat)
    i = jnp.argmax(sc)
    better = sc[i] > best.score
    best = jax.tree.map(lambda new, old: jnp.where(better, new, old), Plan(lat[i], sc[i], st[i]), best)
    return (lat, sc, best), None

  (_, _, best), _ = jax.lax.scan(cem_step, (latents, scores, best), keys[1:])
  return best


class Episode(NamedTuple):
  obs: Array  # [num_latents * T, D] visited states
  rewards: Array  # [num_latents * T]
  latents: Array  # [num_latents, Z] executed latents (plans.latents[:, 0])
  plans: Plan  # the plan behind each segment: latents [num_latents, H, Z], score [num_latents], states [.., H*T, D]
  replan_states: Array  # [num_latents, D] the state at each replan, the start first (the explorer's start pool)


def executed_segment_error(eps: Episode, segment_len: int) -> Array:
  """Mean squared gap per state dimension between each executed segment and the state decoder's prediction for
  it (the first T states of the plan that chose its latent), over one Episode or a vmapped batch of them.

  Beside the same gap for latents drawn from the prior, it tells whether the planner picks latents whose
  predicted segments the policy decoder cannot execute (the planner exploiting the model's errors).
  """
  predicted = eps.plans.states[..., :segment_len, :]  # [..., L, T, D]
  executed = eps.obs.reshape(predicted.shape)
  return jnp.mean(jnp.square(executed - predicted))


def mpc_episode(
  env: SectarEnv,
  decode: DecodeFn,
  latent_policy: LatentPolicy,
  decoder_params: Any,
  key: Array,
  config: MPCConfig,
  segment_len: int,
  latent_dim: int,
) -> Episode:
  """One task episode of config.num_latents segments from the env's start state: plan, run the first latent's
  policy (latent_policy(z)) for T = segment_len steps, replan.

  Every segment's plan is returned as it was chosen, so pictures and pages show what was executed.
  vmap over keys for a batch of episodes (the authors' mpc_batch).
  """

  def segment(state, xs):
    k, i = xs
    k_plan, k_act = jax.random.split(k)
    ps = state.pipeline_state
    start = state.obs
    best = plan(
      decode,
      lambda s, p: env.reward_fn(s, p),
      decoder_params,
      start,
      ps.progress,
      k_plan,
      config,
      segment_len,
      latent_dim,
      latents_left=config.num_latents - i,
    )
    state, steps = generate_unroll(env.step, state, latent_policy(best.latents[0]), k_act, segment_len)
    return state, (steps.next_obs, steps.reward, best, start)

  num_latents = config.num_latents
  xs = (jax.random.split(key, num_latents), jnp.arange(num_latents))
  _, (obs, rew, plans, starts) = jax.lax.scan(segment, env.reset(key), xs)
  flat = lambda x: x.reshape((-1,) + x.shape[2:])
  return Episode(flat(obs), flat(rew), plans.latents[:, 0], plans, starts)
