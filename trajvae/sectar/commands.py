"""SeCTAR's train / evaluate / sample entry points (the CLI's model contract); presets live in configs.py."""

from __future__ import annotations

import dataclasses
import functools
import json
import pathlib
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from trajvae.cli import unsupported_interpolate
from trajvae.sectar import buffer as rb
from trajvae.sectar import outer_loop, planning, plots, ppo
from trajvae.sectar.configs import DEFAULT_PRESET, PRESETS, SectarConfig
from trajvae.sectar.envs import make_env
from trajvae.train.metrics import read_metrics
from trajvae.train.runs import TrainedRun, read_run_config
from trajvae.train.workdir import local_output_dir, workdir_path

NAME = outer_loop.NAME
Config = SectarConfig
SAMPLE_OPTIONS = frozenset({"num_samples"})  # num_samples consistency rollouts; the MPC episode has no temperature
interpolate = unsupported_interpolate(NAME)
__all__ = [
  "NAME",
  "Config",
  "PRESETS",
  "DEFAULT_PRESET",
  "train",
  "evaluate",
  "sample",
  "load_run",
  "interpolate",
  "SAMPLE_OPTIONS",
  "SectarRun",
]


def train(
  config: SectarConfig, workdir: str | pathlib.Path, verbose: bool = True, on_step=None
) -> outer_loop.LoopState:
  """Train (or resume) SeCTAR in workdir; returns the final loop state."""
  return outer_loop.train(config, workdir, verbose=verbose, on_step=on_step)


@dataclasses.dataclass(frozen=True)
class SectarRun(TrainedRun[SectarConfig]):
  """A trained run: TrainedRun's (config, graphdef of the model, its params, completed iterations), plus the
  stages built from the config once and the whole loop state (buffer, explorer, optimisers)."""

  stages: outer_loop.Stages
  state: outer_loop.LoopState

  @functools.cached_property
  def _returns(self):
    return task_returns_fn(self)

  def task_episodes(self, task: int, key: jax.Array) -> tuple[np.ndarray, np.ndarray]:
    """(summed task reward, goals passed in order) [eval.num_episodes] of fresh MPC episodes on one of the env's
    task configs (one compile for every task)."""
    returns, goals = self._returns(self.params, key, *task_arrays(self.config, task))
    return np.asarray(returns), np.asarray(goals)

  def task_returns(self, task: int, key: jax.Array) -> np.ndarray:
    """Summed task reward [eval.num_episodes] of fresh MPC episodes on one of the env's task configs."""
    return self.task_episodes(task, key)[0]

  def consistency_rollouts(self, num: int, key: jax.Array):
    """(starts, decoded, executed) of num prior latents (module function consistency_rollouts)."""
    return consistency_rollouts(self, num, key)

  def planned_episode(self, key: jax.Array) -> dict:
    """The best MPC episode with its predicted segments and first plan (module function planned_episode)."""
    return planned_episode(self, key)


def load_run(workdir: str | pathlib.Path, overrides: Sequence[str] = ()) -> SectarRun:
  """A trained run from its latest checkpoint; overrides (e.g. mpc.num_sequences=2048) apply to its use here."""
  config = read_run_config(workdir, SectarConfig, overrides)
  stages = outer_loop.build(config)
  state, step = outer_loop.restore_state(config, workdir, stages)
  return SectarRun(config, stages.graphdefs.model, state.params, step, stages, state)


def task_returns_fn(run: SectarRun):
  """returns(params, key, start, goals) -> (summed task reward, goals passed in order, paid or not), each
  [eval.num_episodes], of fresh MPC episodes on the task given by its start state and goals, compiled once
  for all task configs (they are traced arguments)."""
  config = run.config

  def returns(params, key, start, goals):
    env = run.stages.env.with_task(start, goals)  # the task's arrays are traced: one compile for every task
    eps = outer_loop.make_mpc_fns(env, run.stages.graphdefs, config)(params, key, config.eval.num_episodes)
    return jnp.sum(eps.rewards, axis=-1), env.reward_fn(eps.obs)[1]

  return jax.jit(returns)


def task_arrays(config: SectarConfig, task: int) -> tuple[jax.Array, jax.Array]:
  """(start state, goals) of one of the env's task configs."""
  env = make_env(config.env.name, task=task, continuous=config.env.continuous)
  return env.start_state, env.goals


def evaluate(workdir: str | pathlib.Path, overrides: Sequence[str] = ()) -> dict:
  """Task reward of fresh MPC episodes with the trained model on eval.tasks (default: all 5 task configs).

  One model plans for every task config (the paper's skill reuse); overrides
  (e.g. eval.tasks=2 eval.num_episodes=40 mpc.num_sequences=2048) apply to this
  evaluation only. Also written to workdir/eval.json.
  """
  run = load_run(workdir, overrides)
  config, state, step = run.config, run.state, run.step
  per_task = {}
  for task in config.eval.tasks:
    ret, goals = run.task_episodes(task, jax.random.fold_in(jax.random.key(config.eval.seed), task))
    per_task[str(task)] = {
      "mean": float(ret.mean()),
      "std": float(ret.std()),
      "max": float(ret.max()),
      "returns": ret.tolist(),
      "goals_reached": float(goals.mean()),
    }
  results = {
    "iterations": step,
    "env": config.env.name,
    "env_steps": int(state.env_steps),
    "num_episodes": config.eval.num_episodes,
    "num_sequences": config.mpc.num_sequences,
    "task_reward": float(np.mean([t["mean"] for t in per_task.values()])),
    "tasks": per_task,
  }
  (workdir_path(workdir) / "eval.json").write_text(json.dumps(results, indent=2))
  return results


def consistency_rollouts(run: SectarRun, num: int, key: jax.Array):
  """(starts [N, D], decoded [N, T, D], executed [N, T, D]) for z ~ N(0, I) from buffer start states."""
  config, stages = run.config, run.stages
  k_s, k_z, k_r = jax.random.split(key, 3)
  starts = rb.sample_start_states(run.state.buffer, k_s, num)
  z = jax.random.normal(k_z, (num, config.model.latent_dim))
  model = nnx.merge(stages.graphdefs.model, run.state.params)
  decoded, executed = ppo.decoded_and_executed(model, stages.env, z, starts, config.segment_len, k_r)
  return np.asarray(starts), np.asarray(decoded), np.asarray(executed)


def planned_episode(run: SectarRun, key: jax.Array) -> dict:
  """The best of mpc.num_episodes MPC episodes, the decoder's prediction of each executed segment, the first plan."""
  config, stages = run.config, run.stages
  env, t = stages.env, config.segment_len
  eps, _ = stages.mpc(run.state.params, key)
  best = int(jnp.argmax(eps.rewards.sum(-1)))
  obs, zs = eps.obs[best], eps.latents[best]
  model = nnx.merge(stages.graphdefs.model, run.state.params)
  seg_starts = eps.replan_states[best]
  predicted = model.state_decoder(zs, seg_starts, t)[0].reshape(-1, obs.shape[-1])
  decode = lambda p, z, s0, n: model.state_decoder(z, s0, n)[0]
  first = planning.plan(
    decode, env.reward_fn, None, env.start_state, jnp.int32(0), key, config.mpc, t, config.model.latent_dim
  )
  return {
    "start": np.asarray(env.start_state),
    "executed": np.asarray(obs),
    "predicted": np.asarray(predicted),
    "first_plan": np.asarray(first.states),
    "reward": float(eps.rewards[best].sum()),
    "env": env,
  }


def sample(workdir: str | pathlib.Path, num_samples: int = 8, seed: int = 0, out_dir: str | None = None) -> list[str]:
  """PNG pictures of a trained run: consistency.png, mpc_episode.png, learning_curve.png; returns their paths."""
  run = load_run(workdir)
  out = local_output_dir(out_dir, workdir)
  out.mkdir(parents=True, exist_ok=True)
  key = jax.random.key(seed)
  paths = [out / "consistency.png", out / "mpc_episode.png"]
  plots.save_consistency(*consistency_rollouts(run, num_samples, key), run.stages.env, paths[0])
  ep = planned_episode(run, jax.random.fold_in(key, 1))
  plots.save_mpc_episode(
    ep["start"], ep["executed"], ep["predicted"], ep["first_plan"], ep["reward"], ep["env"], paths[1]
  )
  records = read_metrics(workdir)
  if records:
    paths.append(out / "learning_curve.png")
    plots.save_learning_curve(records, paths[2])
  return [str(p) for p in paths]
