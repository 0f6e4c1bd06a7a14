"""Scripted oracles for the kinematic tasks: what a hand-written controller collects in one episode.

Not an upper bound on the optimum, a reference to report SeCTAR's and the
baselines' task rewards against (the waypoint task cannot pay its nominal 16:
the waypoints are ~2.6 apart, and reaching every paid one needs more moves than
380 steps allow).
- waypoint: greedy, each step the one of the 4 moves that brings the point
  closest to the current waypoint (the waypoints in order).
- block: for each object in goal order: move onto it, grasp, carry it to its goal's
  centre (the step it comes within the goal radius pays), drop it.
Each oracle plans on its own float32 numpy copy of the env's rules and returns
its actions with the reward it expects; `replay` runs the actions in the real
(JAX) env, and a test checks that the two agree.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from trajvae.sectar.envs import block, make_env, tasks, waypoint
from trajvae.sectar.envs.base import MOVES

NUM_TASKS = tasks.NUM_TASKS


def _closest_move(pos: np.ndarray, target: np.ndarray, border: float) -> tuple[int, np.ndarray]:
  """(action, new position) of the axis move that ends closest to target (positions clipped to the arena)."""
  cands = np.clip(pos[None] + MOVES, -border, border).astype(np.float32)
  i = int(np.argmin(np.linalg.norm(cands - target[None], axis=-1)))
  return i, cands[i]


def waypoint_oracle(task: int) -> tuple[np.ndarray, float]:
  """(actions [380] int32, expected task reward) of the greedy waypoint oracle on a task config."""
  start, goals = tasks.waypoint_task(task)
  pos, progress, reward, actions = start.copy(), 0, 0.0, []
  for _ in range(waypoint.HORIZON):
    target = goals[min(progress, len(goals) - 1)]
    a, pos = _closest_move(pos, target, waypoint.BORDER)
    actions.append(a)
    if progress < len(goals) and np.linalg.norm(pos - goals[progress]) < waypoint.RADIUS:
      reward += float(progress % 3 == 2)
      progress += 1
  return np.asarray(actions, np.int32), reward


def block_oracle(task: int) -> tuple[np.ndarray, float]:
  """(actions [950] int32, expected task reward) of the scripted pick-carry-drop block oracle on a task config.

  The better of two scripts: drop each object as soon as it pays, or carry it on to its goal's centre first.
  """
  return max((_block_script(task, settle) for settle in (False, True)), key=lambda r: r[1])


def _block_script(task: int, settle: bool) -> tuple[np.ndarray, float]:
  start, goals, border = tasks.block_task(task)
  pos, objs = start[:2].copy(), start[2:10].reshape(4, 2).copy()
  held, progress, reward, actions = -1, 0, 0.0, []
  while len(actions) < block.HORIZON:
    i = min(progress, block.NUM_OBJECTS - 1)
    delivered_far = settle and 0 <= held < progress and np.linalg.norm(objs[held] - goals[held]) > 0.15
    if delivered_far:  # stop settling where the arena's border blocks the way
      _, new = _closest_move(pos, goals[held] - (objs[held] - pos), border)
      delivered_far = (
        np.linalg.norm(objs[held] + new - pos - goals[held]) < np.linalg.norm(objs[held] - goals[held]) - 1e-4
      )
    if held == i or delivered_far:  # carry it towards its goal (a delivered one on to the goal's centre,
      a, new = _closest_move(pos, goals[held] - (objs[held] - pos), border)  # out of the way of the next grasp)
      objs[held] += new - pos
      pos = new
    elif progress >= block.NUM_OBJECTS or held >= 0:
      a, held = 5, -1  # done (idle), or holding a delivered / wrong object: drop
    elif np.linalg.norm(objs[i] - pos) < 0.15:  # on it: grasp (the first object within reach, as the env)
      a = 4
      near = np.linalg.norm(objs - pos, axis=-1) < block.GRASP_RADIUS
      held = int(np.argmax(near)) if near.any() else -1
    else:
      a, pos = _closest_move(pos, objs[i], border)
    actions.append(a)
    if progress < block.NUM_OBJECTS and np.linalg.norm(objs[progress] - goals[progress]) < block.GOAL_RADIUS:
      reward += 1.0
      progress += 1
  return np.asarray(actions, np.int32), reward


ORACLES = {"waypoint": waypoint_oracle, "block": block_oracle}


@functools.cache
def oracle_reward(env_name: str, task: int) -> float:
  """The oracle's task reward on one task config (as replayed in the real env)."""
  return replay(env_name, task, ORACLES[env_name](task)[0])


def replay(env_name: str, task: int, actions: np.ndarray) -> float:
  """Summed reward of running the actions in the real (JAX) env from the task's start state."""
  env = make_env(env_name, task=task)

  def body(state, a):
    state = env.step(state, a)
    return state, state.reward

  _, rewards = jax.lax.scan(body, env.reset(jax.random.key(0)), jnp.asarray(actions))
  return float(jnp.sum(rewards))
