"""SeCTAR endpoints: replay an MPC episode on a task map, and decoded vs executed paths for one latent.

An episode is `planning.mpc_episode` with one key; it returns the H-latent plan
it chose at every replan, so the page shows the plan behind each executed
segment (its first latent is the one executed). Each task configuration is
compiled once at start-up.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from trajvae.sectar import buffer as rb
from trajvae.sectar import outer_loop, ppo
from trajvae.sectar.envs import BlockEnv, SectarEnv, make_env
from trajvae.serve.common import ApiError, Params

NUM_TASKS = 5
LATENT_RANGE = (-4.0, 4.0)
SEED_MAX = 2**31 - 1


def xy(env: SectarEnv, states: np.ndarray) -> np.ndarray:
  """The rewarded xy positions of states [..., D], as the env defines them."""
  return env.position(np.asarray(states))


def _round(x: np.ndarray) -> list:
  return np.round(np.asarray(x, np.float64), 4).tolist()


class SectarBackend:
  """One trained SeCTAR run: a jitted replay per task configuration, one jitted consistency rollout."""

  kind = "sectar"

  def __init__(self, workdir: str, tasks: tuple[int, ...] = tuple(range(NUM_TASKS))):
    from trajvae.sectar import commands

    run = commands.load_run(workdir)
    self.config, self.step = run.config, run.step
    self.params, self.buffer = run.state.params, run.state.buffer
    self.graphdefs = run.stages.graphdefs
    self.graphdef = self.graphdefs.model
    self.tasks = tuple(tasks)
    self.envs = {t: make_env(self.config.env.name, task=t, continuous=self.config.env.continuous) for t in self.tasks}
    self._replays = {t: jax.jit(self._replay_fn(self.envs[t])) for t in self.tasks}
    self._consistency = {t: jax.jit(self._consistency_fn(self.envs[t])) for t in self.tasks}
    self._buffer_start = jax.jit(lambda buffer, seed: rb.sample_start_states(buffer, jax.random.key(seed), 1)[0])
    self._lock = threading.Lock()

  def _replay_fn(self, env: SectarEnv):
    config, t = self.config, self.config.segment_len
    one = dataclasses.replace(config, mpc=dataclasses.replace(config.mpc, num_episodes=1))
    episodes = outer_loop.make_mpc_fns(env, self.graphdefs, one)

    def replay(params, seed):
      ep = jax.tree.map(lambda x: x[0], episodes(params, jax.random.key(seed), 1))
      model = nnx.merge(self.graphdef, params)
      predicted = model.state_decoder(ep.latents, ep.replan_states, t)[0]
      return {
        "start": ep.replan_states[0],
        "obs": ep.obs,
        "rewards": ep.rewards,
        "latents": ep.latents,
        "scores": ep.plans.score,
        "seg_starts": ep.replan_states,
        "predicted": predicted,
        "plan_states": ep.plans.states,
        "plan_latents": ep.plans.latents,
      }

    return replay

  def _consistency_fn(self, env: SectarEnv):
    t = self.config.segment_len

    def consistency(params, z, s0, seed):
      model = nnx.merge(self.graphdef, params)
      decoded, executed = ppo.decoded_and_executed(model, env, z[None], s0[None], t, jax.random.key(seed))
      return decoded[0], executed[0]

    return consistency

  # -- helpers -------------------------------------------------------------------------------------

  def _map(self, env: SectarEnv) -> dict[str, Any]:
    goals = np.asarray(env.goals)
    kind = "block" if isinstance(env, BlockEnv) else "goals"
    start = np.asarray(env.start_state)
    out = {"kind": kind, "goals": _round(goals), "start": _round(xy(env, start))}
    out["paid"] = env.paid_goals().tolist()
    if kind == "block":
      out["objects"] = _round(start[2:10].reshape(4, 2))
    return out

  def _paths(self, env: SectarEnv, states: np.ndarray) -> dict[str, Any]:
    out = {"xy": _round(xy(env, states))}
    if isinstance(env, BlockEnv):
      out["objects"] = _round(np.asarray(states)[..., 2:10].reshape(*np.shape(states)[:-1], 4, 2))
    return out

  def info(self) -> dict[str, Any]:
    env = self.envs[self.tasks[0]]
    return {
      "env": self.config.env.name,
      "tasks": list(self.tasks),
      "latent_dim": self.config.model.latent_dim,
      "segment_len": self.config.segment_len,
      "num_latents": self.config.mpc.num_latents,
      "horizon": self.config.mpc.horizon,
      "num_sequences": self.config.mpc.num_sequences,
      "obs_dim": env.observation_size,
      "clickable_start": env.positionable_start,
      "latent_range": list(LATENT_RANGE),
      "maps": {str(t): self._map(self.envs[t]) for t in self.tasks},
      "buffer_size": int(self.buffer.size),
    }

  def _task(self, p: Params) -> int:
    task = p.integer("task", self.tasks[0], 0, NUM_TASKS - 1)
    if task not in self.envs:
      raise ApiError(400, f"task {task} is not served (served: {list(self.tasks)})")
    return task

  def handle(self, action: str, p: Params) -> dict[str, Any]:
    if action == "episode":
      return self.episode(p)
    if action == "consistency":
      return self.consistency(p)
    raise ApiError(404, f"a sectar run has no endpoint {action!r}")

  def episode(self, p: Params) -> dict[str, Any]:
    task = self._task(p)
    seed = p.integer("seed", 0, 0, SEED_MAX)
    env = self.envs[task]
    with self._lock:
      out = jax.device_get(self._replays[task](self.params, jnp.int32(seed)))
    t = self.config.segment_len
    segments = []
    for i in range(len(out["latents"])):
      segments.append(
        {
          "start_step": i * t,
          "latent": _round(out["latents"][i]),
          "predicted_score": float(out["scores"][i]),
          "predicted": self._paths(env, np.concatenate([out["seg_starts"][i][None], out["predicted"][i]])),
          "plan": self._paths(env, np.concatenate([out["seg_starts"][i][None], out["plan_states"][i]])),
          "plan_latents": _round(out["plan_latents"][i]),
        }
      )
    executed = np.concatenate([out["start"][None], out["obs"]])
    rewards = np.asarray(out["rewards"])
    return {
      "task": task,
      "seed": seed,
      "map": self._map(env),
      "executed": self._paths(env, executed),
      "rewards": rewards.tolist(),
      "reward": float(rewards.sum()),
      "reward_steps": np.nonzero(rewards > 0)[0].tolist(),
      "segment_len": t,
      "segments": segments,
    }

  def consistency(self, p: Params) -> dict[str, Any]:
    task = self._task(p)
    env = self.envs[task]
    seed = p.integer("seed", 0, 0, SEED_MAX)
    dim = self.config.model.latent_dim
    z_mode = p.choice("z_mode", "sample", ("sample", "given"))
    if z_mode == "given":
      z = np.asarray(p.numbers("z", dim, *LATENT_RANGE), np.float32)
    else:
      z = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    start_mode = p.choice("start", "task", ("task", "buffer", "xy"))
    with self._lock:
      if start_mode == "task":
        s0 = np.asarray(env.start_state)
      elif start_mode == "buffer":
        if int(self.buffer.size) == 0:
          raise ApiError(409, "this run's buffer is empty")
        s0 = np.asarray(self._buffer_start(self.buffer, jnp.int32(seed)))
      else:
        if not env.positionable_start:
          raise ApiError(400, f"a {self.config.env.name} start state cannot be set by position; use task or buffer")
        s0 = env.start_at([p.number("x", None, -3.0, 3.0), p.number("y", None, -3.0, 3.0)])
      fn = self._consistency[task]
      decoded, executed = jax.device_get(fn(self.params, jnp.asarray(z), jnp.asarray(s0, jnp.float32), jnp.int32(seed)))
    d = np.concatenate([s0[None], decoded])
    e = np.concatenate([s0[None], executed])
    gap = float(np.linalg.norm(xy(env, d) - xy(env, e), axis=-1).mean())
    return {
      "task": task,
      "z": _round(z),
      "start": _round(xy(env, s0)),
      "map": self._map(env),
      "decoded": self._paths(env, d),
      "executed": self._paths(env, e),
      "mean_gap": gap,
    }

  def warm_up(self) -> None:
    for task in self.tasks:
      self.episode(Params({"task": task}))
      self.consistency(Params({"task": task}))
    if int(self.buffer.size):
      self.consistency(Params({"start": "buffer", "z_mode": "given", "z": [0.0] * self.config.model.latent_dim}))
