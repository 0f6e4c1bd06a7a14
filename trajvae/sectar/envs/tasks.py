"""The authors' five task configurations per environment (goals/*.npy in wyndwarrior/Sectar).

goals.json holds the authors' goals/waypoint_goals.npy, goals/block.npy, goals/wheeled.npy and
goals/swim.npy (wyndwarrior/Sectar) converted to JSON, shipped inside the package; the fields of each
env's tasks are described in docs/sectar.md.
"""

from __future__ import annotations

import functools
import json
import pathlib

import numpy as np

NUM_TASKS = 5


@functools.cache
def _raw() -> dict:
  return json.loads((pathlib.Path(__file__).parent / "goals.json").read_text())


def _check_task(task: int) -> None:
  if not 0 <= task < NUM_TASKS:
    raise ValueError(f"task must be in [0, {NUM_TASKS}), got {task}")


def waypoint_task(task: int) -> tuple[np.ndarray, np.ndarray]:
  """(start xy [2], waypoints [50, 2]) of a waypoint task, float32."""
  _check_task(task)
  entry = _raw()["waypoint"][task]
  return np.asarray(entry["start_state"][:2], np.float32), np.asarray(entry["waypoints"], np.float32)


def block_task(task: int) -> tuple[np.ndarray, np.ndarray, float]:
  """(start state [15], goals [4, 2], arena border) of a block task, float32.

  The stored fourth number (2.0) is not read by the authors' environment; it is ignored.
  """
  _check_task(task)
  start, goals, border, _unused = _raw()["block"][task]
  return np.asarray(start, np.float32), np.asarray(goals, np.float32).reshape(4, 2), float(border)


def goal_task(name: str, task: int) -> np.ndarray:
  """The goals [G, 2] of a goal-sequence physics task ("wheeled": 50 goals, "swimmer": 10), float32."""
  _check_task(task)
  return np.asarray(_raw()[name][task], np.float32)
