"""2D waypoints (the authors' WaypointPlayPenDiscreteGym): a kinematic point visiting 50 waypoints in order.

Observation (x, y). Discrete actions 0..3 move 0.2 along +x, +y, -x, -y; the
position is clipped to [-2.8, 2.8]. Reaching the current waypoint (radius 0.4)
advances to the next; only every 3rd one pays +1 (16 paid waypoints, not all reachable:
they are ~2.6 apart, more travel than 380 steps allow; the greedy oracle in
`trajvae/sectar/oracle.py` collects 10, 11, 7, 9, 9 on tasks 0-4). Horizon 380 steps.
Continuous option: a in R^2, clipped to [-1, 1], moves 0.2 * a.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from trajvae.sectar.envs import tasks
from trajvae.sectar.envs.base import MOVE_DISTANCE, MOVES, KinematicEnv, goal_sequence_reward

Array = jax.Array

BORDER = 2.8
RADIUS = 0.4
HORIZON = 380


class WaypointEnv(KinematicEnv):
  """Registered with Brax as "sectar_waypoint"."""

  num_actions = 4
  continuous_action_size = 2

  def __init__(self, task: int = 0, continuous: bool = False, horizon: int = HORIZON):
    start, waypoints = tasks.waypoint_task(task)
    self.task = task
    self.continuous = continuous
    self.horizon = horizon
    self._start = jnp.asarray(start)
    self.goals = jnp.asarray(waypoints)

  @property
  def start_state(self) -> Array:
    return self._start

  def move(self, x: Array, action: Array) -> Array:
    if self.continuous:
      delta = jnp.clip(action, -1.0, 1.0) * MOVE_DISTANCE
    else:
      delta = jnp.asarray(MOVES)[action]
    return jnp.clip(x + delta, -BORDER, BORDER)

  def reward_step(self, x: Array, progress: Array) -> tuple[Array, Array]:
    return goal_sequence_reward(x[:2], self.goals, progress, RADIUS)
