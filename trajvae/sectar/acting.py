"""Unrolling a policy in an environment, knowing nothing of the network that acts.

A policy is a `policy_fn(obs, key) -> (action, extras)`: PPO's rollouts pass a
sampler of the (latent-conditioned) policy network that puts the action's
log-probability in extras; MPC's segments pass the policy decoder for the
chosen latent; tests pass plain functions. Time is a `lax.scan`, never a
Python loop.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple

import jax

Array = jax.Array
PolicyFn = Callable[[Array, Array], tuple[Array, Mapping[str, Array]]]
StepFn = Callable[[Any, Array], Any]  # (env state, action) -> env state (with .obs and .reward)


class Transition(NamedTuple):
  """One step, time-major when stacked: obs, the action, its extras, the next obs and the reward."""

  obs: Array
  action: Array
  extras: Mapping[str, Array]
  next_obs: Array
  reward: Array


def generate_unroll(
  env_step: StepFn, state: Any, policy_fn: PolicyFn, key: Array, length: int
) -> tuple[Any, Transition]:
  """Run policy_fn for `length` steps from `state`: (final state, Transition stacked over time [L, ...]).

  env_step is `env.step` for one env or `jax.vmap(env.step)` for a batch;
  step t's policy key is `jax.random.split(key, length)[t]`.
  """

  def body(state, k):
    action, extras = policy_fn(state.obs, k)
    nxt = env_step(state, action)
    return nxt, Transition(state.obs, action, extras, nxt.obs, nxt.reward)

  return jax.lax.scan(body, state, jax.random.split(key, length))
