"""Does CEM at K = 256 find plans as good as the authors' random shooting at K = 2048, on a trained model?

  python experiments/sectar_planner_check.py runs/experiment-sectar-curves/sectar_waypoint_s0 [--episodes 4] \
      [--set mpc.horizon=10]

The replan points are real: the states and reward progress at every replan of
fresh MPC episodes (the run's own planner, with the run's horizon). From each,
every planner plans once with its own key, and its chosen plan's predicted score
(the discounted task reward of the decoded H-latent plan, the number MPC
maximises) is recorded. Paired over the same replan points, the report gives
each planner's mean score, the mean paired difference against the authors'
planner with a 95% interval, and the wall time per replan. Writes
planner_check.json beside the run's metrics.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from trajvae.sectar import commands, outer_loop, planning
from trajvae.sectar.configs import MPCConfig

PLANNERS = {
  "cem_k256": dict(method="cem", num_sequences=256, cem_iterations=4, cem_elites=64),
  "random_k256": dict(method="random", num_sequences=256),
  "random_k2048 (authors)": dict(method="random", num_sequences=2048),
}
REFERENCE = "random_k2048 (authors)"


def replan_points(run: commands.SectarRun, key: jax.Array, episodes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(states [N, D], progress [N], latents left [N]) at every replan of fresh MPC episodes with the run's planner."""
  config, env = run.config, run.stages.env
  eps = jax.jit(lambda p, k: outer_loop.make_mpc_fns(env, run.stages.graphdefs, config)(p, k, episodes))(
    run.state.params, key
  )
  t, n = config.segment_len, config.mpc.num_latents
  segments = eps.obs.reshape(episodes, n, t, -1)

  def progress_before(seg):
    def body(p, s):
      _, p = env.reward_fn(s, p)
      return p, p

    _, after = jax.lax.scan(body, jnp.int32(0), seg)
    return jnp.concatenate([jnp.zeros((1,), jnp.int32), after[:-1]])

  progress = jax.vmap(progress_before)(segments)
  left = np.broadcast_to(n - np.arange(n), (episodes, n))
  return (np.asarray(eps.replan_states).reshape(episodes * n, -1), np.asarray(progress).reshape(-1), left.reshape(-1))


def plan_scores(
  run: commands.SectarRun, mpc: MPCConfig, states, progress, left, key: jax.Array
) -> tuple[np.ndarray, float]:
  """The chosen plan's predicted score at every replan point, and the wall seconds per replan (compiled)."""
  config, env = run.config, run.stages.env
  model = nnx.merge(run.stages.graphdefs.model, run.state.params)
  sd_params = nnx.split(model.state_decoder, nnx.Param)[1]
  sd_graph = run.stages.graphdefs.state_decoder
  decode = lambda p, z, s0, n: nnx.merge(sd_graph, p)(z, s0, n)[0]

  def one(s0, pr, lat_left, k):
    return planning.plan(
      decode,
      env.reward_fn,
      sd_params,
      s0,
      pr,
      k,
      mpc,
      config.segment_len,
      config.model.latent_dim,
      latents_left=lat_left,
    ).score

  fn = jax.jit(jax.vmap(one))
  keys = jax.random.split(key, len(states))
  args = (jnp.asarray(states), jnp.asarray(progress), jnp.asarray(left), keys)
  jax.block_until_ready(fn(*args))  # compile
  t0 = time.perf_counter()
  scores = np.asarray(jax.block_until_ready(fn(*args)))
  return scores, (time.perf_counter() - t0) / len(states)


def executed_episodes(run: commands.SectarRun, mpc: MPCConfig, greedy: bool, key: jax.Array, episodes: int) -> dict:
  """Executed task reward (mean, standard error), the plans' predicted scores and the executed-vs-predicted segment
  gap of `episodes` fresh MPC episodes planned by `mpc`, the policy decoder sampling or greedy."""
  config = dataclasses.replace(run.config, mpc=mpc)
  run_eps = outer_loop.make_mpc_fns(run.stages.env, run.stages.graphdefs, config, greedy=greedy)
  eps = jax.jit(lambda p, k: run_eps(p, k, episodes))(run.state.params, key)
  ret = np.asarray(jnp.sum(eps.rewards, axis=-1))
  return {
    "task_reward": float(ret.mean()),
    "task_reward_sem": float(ret.std(ddof=1) / np.sqrt(len(ret))) if len(ret) > 1 else 0.0,
    "start_plan_score": float(jnp.mean(eps.plans.score[:, 0])),
    "mean_plan_score": float(jnp.mean(eps.plans.score)),
    "segment_error": float(planning.executed_segment_error(eps, config.segment_len)),
    "returns": ret.tolist(),
  }


def paired(a: np.ndarray, b: np.ndarray) -> dict:
  d = a - b
  half = 1.96 * d.std(ddof=1) / np.sqrt(len(d))
  return {
    "mean_diff": float(d.mean()),
    "ci95": [float(d.mean() - half), float(d.mean() + half)],
    "share_not_worse": float(np.mean(d >= -1e-6)),
  }


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("workdir")
  parser.add_argument("--episodes", type=int, default=4, help="fresh MPC episodes whose replan points are used")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--set", nargs="*", default=[], help="config overrides for this use, e.g. mpc.horizon=10")
  parser.add_argument(
    "--execute", type=int, default=0, metavar="E", help="also run E MPC episodes per planner, sampled and greedy"
  )
  args = parser.parse_args(argv)
  workdir = pathlib.Path(args.workdir)
  if not (workdir / "checkpoints").exists():
    parser.error(f"{workdir} holds no SeCTAR checkpoints")
  run = commands.load_run(workdir, args.set)
  key_points, key_plan = jax.random.split(jax.random.key(args.seed))
  states, progress, left = replan_points(run, key_points, args.episodes)
  out = {
    "workdir": str(workdir),
    "step": run.step,
    "replan_points": len(states),
    "horizon": run.config.mpc.horizon,
    "planners": {},
  }
  for name, fields in PLANNERS.items():
    mpc = dataclasses.replace(run.config.mpc, **fields)
    scores, secs = plan_scores(run, mpc, states, progress, left, key_plan)
    out["planners"][name] = {
      "fields": fields,
      "mean_score": float(scores.mean()),
      "secs_per_replan": secs,
      "scores": scores.tolist(),
    }
    print(f"{name}: mean predicted score {scores.mean():.3f}, {secs * 1e3:.1f} ms per replan", flush=True)
  ref = np.asarray(out["planners"][REFERENCE]["scores"])
  for name, res in out["planners"].items():
    if name != REFERENCE:
      res["vs_reference"] = paired(np.asarray(res["scores"]), ref)
      print(f"{name} - {REFERENCE}: {res['vs_reference']}", flush=True)
  if args.execute:
    out["executed"] = {}
    run_planner = {"run planner": run.config.mpc, REFERENCE: dataclasses.replace(run.config.mpc, **PLANNERS[REFERENCE])}
    for name, mpc in run_planner.items():
      for greedy in (False, True) if run.config.model.discrete else (False,):
        label = f"{name}, policy decoder {'greedy' if greedy else 'sampled'}"
        res = executed_episodes(run, mpc, greedy, jax.random.fold_in(key_plan, 1), args.execute)
        out["executed"][label] = res
        print(
          f"{label}: task reward {res['task_reward']:.3f} +- {res['task_reward_sem']:.3f}, start plan predicts "
          f"{res['start_plan_score']:.3f}, segment gap {res['segment_error']:.4f}",
          flush=True,
        )
  (workdir / "planner_check.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
  sys.exit(main())
