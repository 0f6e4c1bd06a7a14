"""SeCTAR pictures: decoded vs executed trajectories for the same z, and planned vs executed task paths.

Each `plot_*` returns a matplotlib Figure (shown inline by Jupyter); each `save_*` writes it as a PNG.
"""

from __future__ import annotations

import pathlib

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from trajvae.figures import new_figure, save_figure
from trajvae.sectar.envs import BlockEnv, SectarEnv


def _xy(env: SectarEnv, states: np.ndarray) -> np.ndarray:
  """The rewarded xy position of states [..., D] (the swimmer's COM, the others' first two numbers)."""
  return env.position(states)


def _arena(ax, env: SectarEnv) -> None:
  """Goals in sequence (rewarded ones starred: waypoint, wheeled, swimmer) or the block task's goals, on xy axes."""
  goals = np.asarray(env.goals)
  if not isinstance(env, BlockEnv):
    ax.scatter(goals[:, 0], goals[:, 1], s=12, c="0.7", label="goals in order")
    paid = goals[env.paid_goals()]
    ax.scatter(paid[:, 0], paid[:, 1], s=60, marker="*", c="gold", edgecolors="k", linewidths=0.4, label="paid (+1)")
  else:
    for i, g in enumerate(goals):
      ax.add_patch(Circle(g, 0.8, color=f"C{i + 1}", alpha=0.15))
      ax.annotate(f"goal {i}", g, ha="center", fontsize=7)
  ax.set_aspect("equal")
  ax.set_xlim(-3, 3)
  ax.set_ylim(-3, 3)


def plot_consistency(starts: np.ndarray, decoded: np.ndarray, executed: np.ndarray, env: SectarEnv) -> Figure:
  """starts [N, D], decoded/executed [N, T, D]: the state decoder's mean vs the policy decoder's rollout per z."""
  n = starts.shape[0]
  cols = min(n, 4)
  rows = -(-n // cols)
  fig = new_figure(3 * cols, 3 * rows)
  axes = fig.subplots(rows, cols, squeeze=False)
  for i, ax in enumerate(axes.flat):
    if i >= n:
      ax.axis("off")
      continue
    d = np.concatenate([starts[i : i + 1], decoded[i]])
    e = np.concatenate([starts[i : i + 1], executed[i]])
    ax.plot(*_xy(env, d).T, "--o", ms=2, c="C0", label="state decoder")
    ax.plot(*_xy(env, e).T, "-o", ms=2, c="C3", label="policy rollout")
    if isinstance(env, BlockEnv):  # the objects' paths too
      for k in range(4):
        ax.plot(e[:, 2 + 2 * k], e[:, 3 + 2 * k], "-", c=f"C{k + 4}", lw=0.8)
        ax.plot(d[:, 2 + 2 * k], d[:, 3 + 2 * k], ":", c=f"C{k + 4}", lw=0.8)
    ax.plot(*_xy(env, starts[i]), "ks", ms=4)
    ax.set_title(f"z #{i}", fontsize=8)
    ax.set_aspect("equal", adjustable="datalim")
    if i == 0:
      ax.legend(fontsize=6)
  fig.suptitle("self-consistency: decoded (dashed) vs executed (solid) for the same z")
  return fig


def save_consistency(
  starts: np.ndarray, decoded: np.ndarray, executed: np.ndarray, env: SectarEnv, path: str | pathlib.Path
) -> pathlib.Path:
  return save_figure(plot_consistency(starts, decoded, executed, env), path, dpi=100)


def plot_mpc_episode(
  start: np.ndarray, executed: np.ndarray, predicted: np.ndarray, first_plan: np.ndarray, reward: float, env: SectarEnv
) -> Figure:
  """executed [L, D] states, predicted [L, D] per-segment decoder predictions, first_plan [H*T, D]."""
  fig = new_figure(6, 6)
  ax = fig.subplots()
  _arena(ax, env)
  e = np.concatenate([start[None], executed])
  ax.plot(*_xy(env, first_plan).T, ":", c="C2", lw=1, label="first plan (H latents)")
  ax.plot(*_xy(env, predicted).T, "--", c="C0", lw=1, label="predicted segments")
  ax.plot(*_xy(env, e).T, "-", c="C3", lw=1.2, label="executed")
  if isinstance(env, BlockEnv):
    for k in range(4):
      ax.plot(e[:, 2 + 2 * k], e[:, 3 + 2 * k], "-", c=f"C{k + 1}", lw=2, alpha=0.6)
      ax.plot(*e[0, 2 + 2 * k : 4 + 2 * k], "o", c=f"C{k + 1}", label=f"object {k}")
  ax.plot(*_xy(env, start), "ks", label="start")
  ax.set_title(f"MPC episode, task reward {reward:g}")
  ax.legend(fontsize=7, loc="upper right")
  return fig


def save_mpc_episode(
  start: np.ndarray,
  executed: np.ndarray,
  predicted: np.ndarray,
  first_plan: np.ndarray,
  reward: float,
  env: SectarEnv,
  path: str | pathlib.Path,
) -> pathlib.Path:
  return save_figure(plot_mpc_episode(start, executed, predicted, first_plan, reward, env), path, dpi=100)


def plot_learning_curve(records: list[dict]) -> Figure:
  """MPC task reward against env steps, from the outer loop's metrics records, beside what the planner expected
  (its plans' predicted score) and the goals passed; where the records hold them, a second panel shows the
  plan-fidelity gap: executed vs predicted segments for the planner's latents and for prior latents."""
  fidelity = all("mpc_segment_error" in r for r in records)
  fig = new_figure(10 if fidelity else 5, 3.5)
  axes = fig.subplots(1, 2 if fidelity else 1, squeeze=False)[0]
  x = [r["env_steps"] for r in records]
  ax = axes[0]
  ax.plot(x, [r["task_reward"] for r in records], "-o", ms=3, label="task reward (executed)")
  for key, label in (("mpc_predicted_score", "plans' predicted score"), ("mpc_goals_reached", "goals passed")):
    if all(key in r for r in records):
      ax.plot(x, [r[key] for r in records], "--", lw=1, label=label)
  ax.set_xlabel("env steps")
  ax.set_ylabel("MPC task reward")
  ax.legend(fontsize=7)
  if fidelity:
    ax = axes[1]
    ax.plot(x, [r["mpc_segment_error"] for r in records], "-", label="planner's latents")
    ax.plot(x, [r["prior_segment_error"] for r in records], "--", label="prior latents, same states")
    ax.set_yscale("log")
    ax.set_xlabel("env steps")
    ax.set_ylabel("segment gap, MSE per dim")
    ax.legend(fontsize=7)
  return fig


def save_learning_curve(records: list[dict], path: str | pathlib.Path) -> pathlib.Path:
  return save_figure(plot_learning_curve(records), path, dpi=100)
