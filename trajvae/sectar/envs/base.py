"""What the kinematic SeCTAR environments share: their state, action checks and the Brax plumbing.

Errors on bad actions: a wrong action *shape* is static, so `step` raises a
ValueError even under jit (at trace time). Bad *values* (NaN, an out-of-range
discrete index) cannot raise inside jit; `check_action` checks them on the host
and `checked_step` runs it before a step. Inside jitted rollouts an invalid
discrete index is clipped to the valid range and a NaN continuous action
propagates into the state (visible, never silently hidden).
"""

from __future__ import annotations

import abc

import jax
import jax.numpy as jnp
import numpy as np
from brax.envs.base import Env, State
from flax import struct

Array = jax.Array

MOVE_DISTANCE = 0.2
# Discrete moves 0..3 of the authors' code: +x, +y, -x, -y.
MOVES = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]], np.float32) * MOVE_DISTANCE


@struct.dataclass
class KinematicState:
  """The whole simulator state; kept as Brax's pipeline_state so AutoResetWrapper restores it.

  x: the observation vector (float32); progress: the task's reward state (the
  authors' `rstate`: index of the next waypoint / object); t: steps taken.
  """

  x: Array
  progress: Array
  t: Array


class KinematicEnv(Env, abc.ABC):
  """A Brax Env with float32 outputs, a fixed horizon and a reward that also scores predicted states."""

  horizon: int
  continuous: bool
  num_actions: int  # discrete action count
  continuous_action_size: int

  @property
  def observation_size(self) -> int:
    return int(self.start_state.shape[0])

  @property
  def action_size(self) -> int:
    """Continuous: the action vector's length. Discrete: the number of actions (the policy's logits)."""
    return self.continuous_action_size if self.continuous else self.num_actions

  @property
  def action_shape(self) -> tuple[int, ...]:
    return (self.continuous_action_size,) if self.continuous else ()

  @property
  def backend(self) -> str:
    return "kinematic"

  @property
  @abc.abstractmethod
  def start_state(self) -> Array:
    """The task's fixed start observation [observation_size]."""

  @abc.abstractmethod
  def move(self, x: Array, action: Array) -> Array:
    """Next observation from the observation and a (shape-checked) action."""

  @abc.abstractmethod
  def reward_step(self, x: Array, progress: Array) -> tuple[Array, Array]:
    """(reward, new progress) for reaching observation x with the given progress; pure, vmappable."""

  def reward_fn(self, states: Array, progress: Array | int = 0) -> tuple[Array, Array]:
    """Rewards of an observation sequence [..., T, D] from a progress [...], as the env would pay them.

    Returns (rewards [..., T], final progress [...]); the planner scores predicted
    state sequences with it and chains progress across segments.
    """
    states = jnp.asarray(states, jnp.float32)
    progress = jnp.broadcast_to(jnp.asarray(progress, jnp.int32), states.shape[:-2])

    def one(seq: Array, p: Array) -> tuple[Array, Array]:
      def body(p, x):
        r, p = self.reward_step(x, p)
        return p, r

      p, r = jax.lax.scan(body, p, seq)
      return r, p

    flat = states.reshape((-1,) + states.shape[-2:])
    r, p = jax.vmap(one)(flat, progress.reshape(-1))
    return r.reshape(states.shape[:-1]), p.reshape(states.shape[:-2])

  def _state(self, x: Array, progress: Array, t: Array, reward: Array) -> State:
    ps = KinematicState(x=x, progress=progress, t=t)
    done = (t >= self.horizon).astype(jnp.float32)
    metrics = {"progress": progress.astype(jnp.float32)}
    return State(pipeline_state=ps, obs=x, reward=reward.astype(jnp.float32), done=done, metrics=metrics, info={})

  def reset(self, rng: Array) -> State:
    """The task's fixed start state (the authors' MPC episodes start there); rng is unused."""
    del rng
    return self.reset_to(self.start_state)

  def reset_to(self, x: Array, progress: Array | int = 0) -> State:
    """A state at observation x (e.g. a buffer start state for exploration or the consistency PPO)."""
    x = jnp.asarray(x, jnp.float32)
    if x.shape != (self.observation_size,):
      raise ValueError(f"state must have shape ({self.observation_size},), got {x.shape}")
    return self._state(x, jnp.asarray(progress, jnp.int32), jnp.zeros((), jnp.int32), jnp.zeros((), jnp.float32))

  def step(self, state: State, action: Array) -> State:
    action = jnp.asarray(action)
    if action.shape != self.action_shape:
      raise ValueError(f"{type(self).__name__} expects an action of shape {self.action_shape}, got {action.shape}")
    if self.continuous:
      action = action.astype(jnp.float32)
    else:
      action = jnp.clip(action.astype(jnp.int32), 0, self.num_actions - 1)
    ps = state.pipeline_state
    x = self.move(ps.x, action).astype(jnp.float32)
    reward, progress = self.reward_step(x, ps.progress)
    return self._state(x, progress, ps.t + 1, reward)

  def check_action(self, action) -> None:
    """Raise ValueError for an action this env cannot take (host-side; call outside jit)."""
    a = np.asarray(action)
    if a.shape != self.action_shape:
      raise ValueError(f"{type(self).__name__} expects an action of shape {self.action_shape}, got {a.shape}")
    if self.continuous:
      if not np.issubdtype(a.dtype, np.number) or not np.all(np.isfinite(a)):
        raise ValueError(f"action must be finite, got {a}")
    else:
      if np.issubdtype(a.dtype, np.floating) and not (np.isfinite(a) and float(a) == int(a)):
        raise ValueError(f"discrete action must be an integer, got {a}")
      if not 0 <= int(a) < self.num_actions:
        raise ValueError(f"discrete action must be in [0, {self.num_actions}), got {int(a)}")

  def checked_step(self, state: State, action) -> State:
    """step after check_action: for interactive use and tests, not for jitted rollouts."""
    self.check_action(action)
    return self.step(state, action)
