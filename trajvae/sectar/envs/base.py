"""What all SeCTAR environments share: the episode state, the goal rewards, action checks and the Brax plumbing.

`SectarEnv` is a Brax `Env` whose simulator is abstract (`_init_sim`,
`_advance`, `_observe`): `KinematicEnv` (waypoint, block) steps the observation
itself in pure JAX, `physics.PhysicsEnv` (wheeled, swimmer) steps an MJX model.
The reward, its progress state (the authors' `rstate`), the horizon, float32
outputs and the action checks live here once.

Errors on bad actions: a wrong action *shape* is static, so `step` raises a
ValueError even under jit (at trace time). Bad *values* (NaN, an out-of-range
discrete index) cannot raise inside jit; `check_action` checks them on the host
and `checked_step` runs it before a step. Inside jitted rollouts an invalid
discrete index is clipped to the valid range and a NaN continuous action
propagates into the state (visible, never silently hidden).
"""

from __future__ import annotations

import abc
import copy
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from brax.envs.base import Env, State
from flax import struct

Array = jax.Array

GOAL_EVERY = 3  # goal-sequence tasks pay only every 3rd goal (the authors' `rstate % 3 == 2`)
MOVE_DISTANCE = 0.2
# Discrete moves 0..3 of the authors' code: +x, +y, -x, -y.
MOVES = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]], np.float32) * MOVE_DISTANCE


@struct.dataclass
class EnvState:
  """The whole episode state; kept as Brax's pipeline_state so AutoResetWrapper restores it.

  sim: the simulator state (the observation vector for kinematic envs, an
  `mjx.Data` for physics envs); progress: the task's reward state (the authors'
  `rstate`: index of the next goal / object); t: steps taken.
  """

  sim: Any
  progress: Array
  t: Array


def goal_sequence_reward(
  pos: Array, goals: Array, progress: Array, radius: float, every: int = GOAL_EVERY
) -> tuple[Array, Array]:
  """(reward, new progress) of the authors' goal-sequence tasks (waypoint, wheeled, swimmer).

  Reaching the current goal (distance < radius) advances progress; only every
  `every`-th goal (progress % every == every - 1) pays +1; nothing after the last.
  """
  num = goals.shape[0]
  goal = jnp.concatenate([goals, jnp.zeros((1, goals.shape[1]), goals.dtype)])[progress]
  good = jnp.linalg.norm(pos - goal) < radius
  reward = (good & (progress % every == every - 1) & (progress < num)).astype(jnp.float32)
  return reward, jnp.minimum(progress + good.astype(jnp.int32), num)


class SectarEnv(Env, abc.ABC):
  """A Brax Env with float32 outputs, a fixed horizon and a reward that also scores predicted states."""

  horizon: int
  continuous: bool
  num_actions: int  # discrete action count (0 for continuous-only envs)
  continuous_action_size: int
  goals: Array  # the task's goals [G, 2] (in order)
  _start: Array  # the task's start observation (start_state)
  position_slice: slice = slice(0, 2)  # where the rewarded xy position sits in the observation
  positionable_start: bool = True  # whether a start state may be made by moving the task's start to another xy

  def with_task(self, start: Array, goals: Array) -> SectarEnv:
    """The same env on another task: its start observation and goals swapped in (arrays may be traced)."""
    env = copy.copy(self)
    env._start, env.goals = start, goals
    return env

  def position(self, states: Array | np.ndarray) -> Array | np.ndarray:
    """The rewarded xy position of states [..., D] (the swimmer's COM; the others' first two numbers)."""
    return states[..., self.position_slice]

  def paid_goals(self) -> np.ndarray:
    """Indices of the goals that pay +1 when reached (goal sequences: every GOAL_EVERY-th)."""
    return np.arange(GOAL_EVERY - 1, len(self.goals), GOAL_EVERY)

  def start_at(self, xy: Array | np.ndarray) -> np.ndarray:
    """The task's start observation moved to position xy (kinematic envs: nothing else depends on it)."""
    if not self.positionable_start:
      raise ValueError(f"a {type(self).__name__} start state cannot be set by position (its joints would not follow)")
    s0 = np.asarray(self.start_state).copy()
    s0[self.position_slice] = xy
    return s0

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
  @abc.abstractmethod
  def start_state(self) -> Array:
    """The task's fixed start observation [observation_size]."""

  @abc.abstractmethod
  def reward_step(self, x: Array, progress: Array) -> tuple[Array, Array]:
    """(reward, new progress) for reaching observation x with the given progress; pure, vmappable."""

  @abc.abstractmethod
  def _init_sim(self, x: Array) -> Any:
    """A simulator state at observation x [observation_size] (float32)."""

  @abc.abstractmethod
  def _advance(self, sim: Any, action: Array) -> Any:
    """The simulator state after one env step with a shape-checked, cast action."""

  @abc.abstractmethod
  def _observe(self, sim: Any) -> Array:
    """The observation [observation_size] of a simulator state."""

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

  def _state(self, sim: Any, obs: Array, progress: Array, t: Array, reward: Array) -> State:
    ps = EnvState(sim=sim, progress=progress, t=t)
    done = (t >= self.horizon).astype(jnp.float32)
    metrics = {"progress": progress.astype(jnp.float32)}
    return State(
      pipeline_state=ps,
      obs=obs.astype(jnp.float32),
      reward=reward.astype(jnp.float32),
      done=done,
      metrics=metrics,
      info={},
    )

  def reset(self, rng: Array) -> State:
    """The task's fixed start state (the authors' MPC episodes start there); rng is unused."""
    del rng
    return self.reset_to(self.start_state)

  def reset_to(self, x: Array, progress: Array | int = 0) -> State:
    """A state at observation x (e.g. a buffer start state for exploration or the consistency PPO)."""
    x = jnp.asarray(x, jnp.float32)
    if x.shape != (self.observation_size,):
      raise ValueError(f"state must have shape ({self.observation_size},), got {x.shape}")
    sim = self._init_sim(x)
    return self._state(
      sim, self._observe(sim), jnp.asarray(progress, jnp.int32), jnp.zeros((), jnp.int32), jnp.zeros((), jnp.float32)
    )

  def step(self, state: State, action: Array) -> State:
    action = jnp.asarray(action)
    if action.shape != self.action_shape:
      raise ValueError(f"{type(self).__name__} expects an action of shape {self.action_shape}, got {action.shape}")
    if self.continuous:
      action = action.astype(jnp.float32)
    else:
      action = jnp.clip(action.astype(jnp.int32), 0, self.num_actions - 1)
    ps = state.pipeline_state
    sim = self._advance(ps.sim, action)
    obs = self._observe(sim).astype(jnp.float32)
    reward, progress = self.reward_step(obs, ps.progress)
    return self._state(sim, obs, progress, ps.t + 1, reward)

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


class KinematicEnv(SectarEnv):
  """A pure-JAX env whose simulator state is its observation; subclasses define `move`."""

  @property
  def backend(self) -> str:
    return "kinematic"

  @abc.abstractmethod
  def move(self, x: Array, action: Array) -> Array:
    """Next observation from the observation and a (shape-checked) action."""

  def _init_sim(self, x: Array) -> Array:
    return x

  def _advance(self, sim: Array, action: Array) -> Array:
    return self.move(sim, action).astype(jnp.float32)

  def _observe(self, sim: Array) -> Array:
    return sim
