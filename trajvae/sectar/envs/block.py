"""Block manipulation (the authors' BlockPlayPenGym): a kinematic gripper carrying 4 objects to goals in order.

Observation (15): gripper (x, y), the 4 objects' (x, y), one-hot of the attached
object (index 0 = none). Discrete actions: 0..3 move 0.2 (+x, +y, -x, -y; the
gripper is clipped to the arena border 2.8, an attached object moves by the
gripper's actual displacement and is not clipped), 4 grasps the first object
within 0.4 if none is held, 5 drops. Reward +1 when the current object (in
order 0..3) is within 0.8 of its goal, then the next one counts (max 4; the
scripted oracle in `trajvae/sectar/oracle.py` collects 4 on every task).
Horizon 950 steps.
Continuous option: a = (dx, dy, grip) in R^3; the gripper moves 0.2 * clip(dx, dy)
every step, then grip > 0.5 grasps and grip < -0.5 drops.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from trajvae.sectar.envs import tasks
from trajvae.sectar.envs.base import MOVE_DISTANCE, MOVES, KinematicEnv

Array = jax.Array

GRASP_RADIUS = 0.4
GOAL_RADIUS = 0.8
HORIZON = 950
NUM_OBJECTS = 4


def _attached(x: Array) -> Array:
  """Index of the held object, -1 for none."""
  return jnp.argmax(x[10:15]) - 1


def _grasp(pos: Array, objects: Array, attached: Array) -> Array:
  """The first object within the grasp radius (objects in index order), if none is held."""
  near = jnp.linalg.norm(objects - pos, axis=-1) < GRASP_RADIUS
  first = jnp.where(jnp.any(near), jnp.argmax(near), -1)
  return jnp.where(attached < 0, first, attached)


def _translate(x: Array, pos: Array, new_pos: Array, attached: Array) -> Array:
  objects = x[2:10].reshape(NUM_OBJECTS, 2)
  carried = (jnp.arange(NUM_OBJECTS) == attached)[:, None]
  objects = objects + carried * (new_pos - pos)
  return jnp.concatenate([new_pos, objects.reshape(-1), x[10:15]])


def _with_attached(x: Array, attached: Array) -> Array:
  return x.at[10:15].set(jax.nn.one_hot(attached + 1, 5, dtype=x.dtype))


class BlockEnv(KinematicEnv):
  """Registered with Brax as "sectar_block"."""

  num_actions = 6
  continuous_action_size = 3

  def __init__(self, task: int = 0, continuous: bool = False, horizon: int = HORIZON):
    start, goals, border = tasks.block_task(task)
    self.task = task
    self.continuous = continuous
    self.horizon = horizon
    self.border = border
    self._start = jnp.asarray(start)
    self.goals = jnp.asarray(goals)

  @property
  def start_state(self) -> Array:
    return self._start

  def paid_goals(self) -> np.ndarray:
    """Every object's goal pays +1 (in order)."""
    return np.arange(len(self.goals))

  def move(self, x: Array, action: Array) -> Array:
    pos, attached = x[:2], _attached(x)
    if self.continuous:
      new_pos = jnp.clip(pos + jnp.clip(action[:2], -1.0, 1.0) * MOVE_DISTANCE, -self.border, self.border)
      x = _translate(x, pos, new_pos, attached)
      objects = x[2:10].reshape(NUM_OBJECTS, 2)
      attached = jnp.where(action[2] > 0.5, _grasp(new_pos, objects, attached), attached)
      attached = jnp.where(action[2] < -0.5, -1, attached)
      return _with_attached(x, attached)
    is_move = action < 4
    new_pos = jnp.clip(pos + jnp.asarray(MOVES)[jnp.minimum(action, 3)], -self.border, self.border)
    moved = _translate(x, pos, new_pos, attached)
    objects = x[2:10].reshape(NUM_OBJECTS, 2)
    after_grip = jnp.where(action == 4, _grasp(pos, objects, attached), -1)
    gripped = _with_attached(x, after_grip)
    return jnp.where(is_move, moved, gripped)

  def reward_step(self, x: Array, progress: Array) -> tuple[Array, Array]:
    dists = jnp.linalg.norm(x[2:10].reshape(NUM_OBJECTS, 2) - self.goals, axis=-1)
    dists = jnp.concatenate([dists, jnp.zeros((1,), dists.dtype)])
    good = dists[progress] < GOAL_RADIUS
    reward = (good & (progress < NUM_OBJECTS)).astype(jnp.float32)
    return reward, jnp.minimum(progress + good.astype(jnp.int32), NUM_OBJECTS)
