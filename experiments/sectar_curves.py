"""SeCTAR vs flat PPO vs learned-dynamics MPC: task reward against env steps, beside the scripted oracle.

  python experiments/sectar_curves.py --out runs/sectar_curves                  # the issue's scale: 1M env steps per run
  python experiments/sectar_curves.py --out /tmp/sectar_curves --small          # what was run here (see docs/sectar.md)

  # SeCTAR trained with the authors' planner (random K = 2048, H = 10) instead of the CPU preset's CEM at K = 256:
  python experiments/sectar_curves.py --envs waypoint --methods sectar --set mpc.method=random mpc.num_sequences=2048 \
      --out runs/sectar_curves_authors_planner
  # the earlier CPU presets (random K = 256, H = 4):
  python experiments/sectar_curves.py --preset {env}_cpu_h4 --out runs/sectar_curves_h4

Finished runs are cached in --out (curve_*.json; SeCTAR runs resume from their
checkpoints), so an interrupted call continues where it stopped. The folder
records the preset and --set its SeCTAR runs were made with and refuses others.

Per env (task 0), method and seed, one run to the env-step budget; then, from
the SeCTAR run of the first seed: skill reuse (fresh MPC episodes with that one
model on all 5 task configs, each against its oracle, planned with the run's
own K and H and with the authors') and pictures
(consistency.png, mpc_episode.png). Writes into --out: curves.png (one panel per
env, mean ± std band over seeds, the oracle dashed), table.md, results.json, and
the SeCTAR run directories (sectar_<env>_s<seed>: checkpoints, metrics.jsonl,
pictures/).

Task reward: SeCTAR = the mean summed sparse reward of each iteration's MPC
episodes; flat PPO = the mean return of its (stochastic) full-horizon rollouts;
dynamics MPC = the mean return of its episodes. Env steps count every env
interaction of a method (SeCTAR: MPC + exploration + consistency PPO).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import pathlib
import platform
import sys
import time
import warnings

os.environ.setdefault(
  "JAX_COMPILATION_CACHE_DIR", str(pathlib.Path(__file__).resolve().parent.parent / ".cache" / "jax")
)
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import jax
import numpy as np
import sectar_compare as compare

from trajvae.config import override
from trajvae.sectar import commands, configs, oracle, outer_loop
from trajvae.sectar.envs import tasks
from trajvae.train.metrics import read_metrics

METHODS = ("sectar", "flat_ppo", "dynamics_mpc")
FULL_BUDGET = 1_000_000  # the scale (~1 h of this CPU per method with a faster recurrent core)
SMALL_BUDGET = {"waypoint": 50_000, "block": 40_000}
DEFAULT_PRESET = "{env}_cpu"  # SeCTAR's preset per env ({env} is replaced)


def sectar_config(env_name: str, preset: str, seed: int, budget: int, sets: list[str]) -> configs.SectarConfig:
  """The preset with seed, the overrides, and enough iterations to reach the budget (checkpoints every 10)."""
  config = override(configs.PRESETS[preset.format(env=env_name)](), [f"train.seed={seed}", *sets])
  per_iteration = outer_loop.steps_per_iteration(config)
  iterations = math.ceil(budget / per_iteration)
  return dataclasses.replace(
    config, train=dataclasses.replace(config.train, iterations=iterations, checkpoint_every=10, keep_checkpoints=1)
  )


def run_sectar(env_name: str, preset: str, seed: int, budget: int, sets: list[str], workdir: pathlib.Path):
  config = sectar_config(env_name, preset, seed, budget, sets)
  commands.train(config, workdir, verbose=False)
  return [(r["env_steps"], r["task_reward"]) for r in read_metrics(workdir)]


def band(
  curves: list[list[tuple[int, float]]], budget: int, points: int = 40
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(grid, mean, std) over seeds of curves interpolated on a common env-step grid (NaN outside a run's points)."""
  grid = np.linspace(0, budget, points)
  ys = []
  for c in curves:
    x, y = np.asarray(c, np.float64).T
    ys.append(np.interp(grid, x, y, left=np.nan, right=np.nan))
  ys = np.asarray(ys)
  with warnings.catch_warnings():  # grid points past every run are all-NaN columns: NaN, not a warning
    warnings.simplefilter("ignore", RuntimeWarning)
    return grid, np.nanmean(ys, 0), np.nanstd(ys, 0)


def planners(env_name: str) -> dict[str, list[str]]:
  """Skill reuse plans with the run's own planner and with the authors' (the full preset's: random shooting,
  K = 2048, H = 10), which the CPU presets replace by CEM at K = 256 (the earlier *_cpu_h4: random, K = 256, H = 4)."""
  mpc = configs.PRESETS[env_name]().mpc
  return {
    "run": [],
    "authors": [f"mpc.method={mpc.method}", f"mpc.num_sequences={mpc.num_sequences}", f"mpc.horizon={mpc.horizon}"],
  }


def model_iteration(workdir: pathlib.Path) -> int:
  """The iteration of a SeCTAR run's last metrics record: its final checkpoint's model."""
  records = read_metrics(workdir)
  return int(records[-1]["step"]) if records else 0


def cached_measure(path: pathlib.Path, iteration: int, report_only: bool, measure, *args) -> dict | None:
  """measure(*args) of the model at `iteration`, cached in path beside the iteration it was made at.

  A run resumed to a larger budget is measured again (its cache names an earlier model); --report-only
  measures nothing and reads whatever is cached.
  """
  if path.exists():
    cached = json.loads(path.read_text())
    if report_only or cached.get("_iteration") == iteration:
      cached.pop("_iteration", None)
      return cached
  if report_only:
    return None
  result = measure(*args)
  path.write_text(json.dumps({**result, "_iteration": iteration}))
  return result


def skill_reuse(workdir: pathlib.Path, env_name: str, episodes: int, planner: list[str]) -> dict:
  """One trained model's MPC on every task config of its env, each beside its oracle."""
  res = commands.evaluate(workdir, [f"eval.num_episodes={episodes}", *planner])
  return {
    t: {"reward": v["mean"], "std": v["std"], "oracle": oracle.oracle_reward(env_name, int(t))}
    for t, v in res["tasks"].items()
  }


def buffer_coverage(workdir: pathlib.Path, border: float = 2.8, margin: float = 0.2) -> dict:
  """Where a trained run's buffer segments start (the env's rewarded xy: the agent's, the swimmer's centre of
  mass): the share within `margin` of the arena's border and in its right half, and the mean start-to-end
  displacement; for block also what happened to the objects (object_coverage), for the goal sequences how
  close the data came to the first goals (goal_coverage)."""
  run = commands.load_run(workdir)
  buf, env = run.state.buffer, run.stages.env
  states = np.asarray(buf.states)[: int(buf.size)]
  positions = np.asarray(env.position(states))
  xy = positions[:, 0]
  coverage = {
    "segments": int(len(states)),
    "near_border": float(np.mean(np.abs(xy).max(-1) >= border - margin)),
    "right_half": float(np.mean(xy[:, 0] > 0)),
    "mean_displacement": float(np.linalg.norm(positions[:, -1] - xy, axis=-1).mean()),
  }
  if run.config.env.name == "block":
    coverage.update(object_coverage(states, tasks.block_task(run.config.env.task)[1]))
  else:
    coverage.update(goal_coverage(positions, np.asarray(env.goals)))
  return coverage


def goal_coverage(positions: np.ndarray, goals: np.ndarray, first: int = 3) -> dict:
  """The closest any buffered position [N, T + 1, 2] came to each of the task's first goals [G, 2] (the goal
  sequences pay the 3rd, after the 1st and 2nd in order): whether the data reaches the first paid goal."""
  return {
    "closest_to_goals": np.linalg.norm(positions[..., None, :] - goals[:first], axis=-1).min(axis=(0, 1)).tolist()
  }


def object_coverage(states: np.ndarray, goals: np.ndarray, moved: float = 0.1) -> dict:
  """What block segments [N, T + 1, 15] did to the objects: the share of steps holding one, per object the
  share of segments that moved it by more than `moved`, and its closest approach to its own goal [4, 2]
  (the task pays object k within 0.8 of goal k, in order): whether the data can teach the state decoder
  a paid plan at all."""
  objects = states[..., 2:10].reshape(*states.shape[:2], 4, 2)
  to_goal = np.linalg.norm(objects - goals, axis=-1)  # [N, T + 1, 4]
  return {
    "holding": float(np.mean(states[..., 10] < 0.5)),  # one-hot index 0 = none held
    "objects_moved": np.mean(np.linalg.norm(objects[:, -1] - objects[:, 0], axis=-1) > moved, axis=0).tolist(),
    "closest_to_goal": to_goal.min(axis=(0, 1)).tolist(),
  }


def check_overrides(out: pathlib.Path, preset: str, sets: list[str]) -> str | None:
  """Record the SeCTAR preset and overrides an --out folder's runs are made with (out/sectar_overrides.json); a
  message when the folder already holds runs made with others (cached curves and checkpoints would mix)."""
  path = out / "sectar_overrides.json"
  mine = {"preset": preset, "set": list(sets)}
  if path.exists():
    theirs = json.loads(path.read_text())
    if theirs != mine:
      return f"{out} holds runs made with {theirs}, not {mine}: use another --out"
  elif any(out.glob("curve_*.json")) and (sets or preset != DEFAULT_PRESET):
    return (
      f"{out} holds runs made before overrides were recorded (preset {DEFAULT_PRESET}, no --set): use another --out"
    )
  else:
    path.write_text(json.dumps(mine))
  return None


def write_outputs(results: dict, out: pathlib.Path) -> None:
  from trajvae.figures import new_figure, save_figure

  (out / "results.json").write_text(json.dumps(results, indent=2))
  envs = list(results["runs"])
  fig = new_figure(6 * len(envs), 4)
  axes = fig.subplots(1, len(envs), squeeze=False)
  lines = [
    f"Budget per run: {results['budget']} env steps; seeds {results['seeds']}; {results['machine']}; "
    f"SeCTAR preset {results['preset']}; wall {results['wall_s']:.0f} s in all "
    f"(the runs' own walls add up to {results['runs_wall_s']:.0f} s).",
    "",
    "| env (task 0) | method | final task reward (mean ± std over seeds) | fraction of oracle | env steps | wall / run |",
    "|---|---|---|---|---|---|",
  ]
  for ax, env_name in zip(axes[0], envs):
    ref = oracle.oracle_reward(env_name, 0)
    for i, (method, seeds) in enumerate(results["runs"][env_name].items()):
      if not seeds:
        continue
      curves = [s["curve"] for s in seeds.values()]
      finals = [compare.final(c) for c in curves]
      steps = int(np.mean([c[-1][0] for c in curves]))
      wall = np.mean([s["wall_s"] for s in seeds.values()])
      lines.append(
        f"| {env_name} | {method} | {np.mean(finals):.2f} ± {np.std(finals):.2f} (seeds {', '.join(seeds)}) | "
        f"{np.mean(finals) / ref:.3f} | {steps:,} | {wall:.0f} s |"
      )
      grid, mean, std = band(curves, results["budget"][env_name])
      ax.plot(grid, mean, c=f"C{i}", lw=2, label=method)
      ax.fill_between(grid, mean - std, mean + std, color=f"C{i}", alpha=0.2)
    ax.axhline(ref, c="k", ls="--", lw=1, label=f"scripted oracle ({ref:g})")
    ax.set_xlabel("env steps")
    ax.set_ylabel("task reward per episode")
    ax.set_title(f"{env_name}, task 0 (mean ± std over seeds)")
    ax.legend(fontsize=8)
  save_figure(fig, out / "curves.png", dpi=100)
  for env_name, by_planner in results.get("reuse", {}).items():
    names = list(by_planner)
    lines += [
      "",
      f"Skill reuse, {env_name}: the seed-{results['seeds'][0]} SeCTAR model (trained on task 0) plans "
      f"for every task ({results['reuse_episodes']} MPC episodes each), with the run's planner and with "
      f"the authors' ({' '.join(planners(env_name)['authors'])}).",
      "",
      "| task | oracle | " + " | ".join(f"{n} planner: reward (mean ± std), fraction" for n in names) + " |",
      "|---|---|" + "---|" * len(names),
    ]
    for t in by_planner[names[0]]:
      cells = [
        f"{by_planner[n][t]['reward']:.2f} ± {by_planner[n][t]['std']:.2f}, "
        f"{by_planner[n][t]['reward'] / by_planner[n][t]['oracle']:.3f}"
        for n in names
        if t in by_planner[n]
      ]
      lines.append(f"| {t} | {by_planner[names[0]][t]['oracle']:g} | " + " | ".join(cells) + " |")
  for env_name, cov in results.get("coverage", {}).items():
    lines += [
      "",
      f"Buffer coverage, {env_name} (seed-{results['seeds'][0]} SeCTAR run, {cov['segments']:,} segments): "
      f"{cov['near_border']:.0%} start within 0.2 of the border, {cov['right_half']:.0%} in the right half; "
      f"mean displacement per segment {cov['mean_displacement']:.2f}.",
    ]
    if "objects_moved" in cov:
      lines[-1] += (
        f" Holding an object in {cov['holding']:.0%} of steps; objects 0-3 moved in "
        + ", ".join(f"{m:.1%}" for m in cov["objects_moved"])
        + " of segments; closest approach to their goals (paid within 0.8) "
        + ", ".join(f"{d:.2f}" for d in cov["closest_to_goal"])
        + "."
      )
    if "closest_to_goals" in cov:
      closest = ", ".join(f"{d:.2f}" for d in cov["closest_to_goals"])
      lines[-1] += f" Closest approach to goals 1-3 (the 3rd pays): {closest}."
  (out / "table.md").write_text("\n".join(lines) + "\n")
  print("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--out", default="runs/sectar_curves")
  parser.add_argument("--small", action="store_true", help=f"budgets {SMALL_BUDGET} env steps (CPU, minutes)")
  parser.add_argument("--envs", nargs="+", default=["waypoint", "block"], choices=["waypoint", "block"])
  parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
  parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
  parser.add_argument("--budget", type=int, help="env steps per run (default: 1M, or per env with --small)")
  parser.add_argument("--preset", default=DEFAULT_PRESET, help="SeCTAR preset ({env} is replaced)")
  parser.add_argument("--reuse-episodes", type=int, default=4, help="MPC episodes per task for skill reuse")
  parser.add_argument("--report-only", action="store_true", help="tables and plots from the finished (cached) runs")
  parser.add_argument("--set", nargs="*", default=[], help="SeCTAR config overrides, e.g. mpc.num_sequences=512")
  args = parser.parse_args(argv)
  budget = {e: args.budget or (SMALL_BUDGET[e] if args.small else FULL_BUDGET) for e in args.envs}
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  if (problem := check_overrides(out, args.preset, args.set)) is not None:
    parser.error(problem)
  t0 = time.perf_counter()
  runs: dict = {}
  reuse: dict = {}
  coverage: dict = {}
  for env_name in args.envs:
    runs[env_name] = {}
    for method in args.methods:
      runs[env_name][method] = {}
      for seed in args.seeds:
        cached = out / f"curve_{env_name}_{method}_s{seed}.json"  # a rerun skips finished runs (SeCTAR resumes)
        if cached.exists():
          runs[env_name][method][str(seed)] = json.loads(cached.read_text())
          continue
        if args.report_only:
          continue
        t = time.perf_counter()
        if method == "sectar":
          curve = run_sectar(
            env_name, args.preset, seed, budget[env_name], args.set, out / f"sectar_{env_name}_s{seed}"
          )
        elif method == "flat_ppo":
          curve = compare.run_flat_ppo(env_name, seed, budget[env_name], args.small)
        else:
          # Always the CPU planner (K = 256, 38-step horizon), the K of SeCTAR's CPU presets; the authors'
          # K = 2048 over 95 steps is 8x the candidates and 2.5x the horizon per replan.
          curve = compare.run_dynamics_mpc(env_name, seed, budget[env_name], small=True)
        wall = time.perf_counter() - t
        runs[env_name][method][str(seed)] = {"curve": curve, "wall_s": wall}
        cached.write_text(json.dumps(runs[env_name][method][str(seed)]))
        print(
          f"{env_name} {method} seed {seed}: final {compare.final(curve):.2f} after {curve[-1][0]:,} steps "
          f"({wall:.0f} s)",
          flush=True,
        )
    # Skill reuse, coverage and pictures come from the first seed's model; their caches name that seed.
    first = f"{env_name}_s{args.seeds[0]}"
    workdir = out / f"sectar_{first}"
    if "sectar" in args.methods and (workdir / "checkpoints").exists():
      t = time.perf_counter()
      iteration = model_iteration(workdir)
      reuse[env_name] = {}
      for planner, sets in planners(env_name).items():
        path = out / f"reuse_{first}_{planner}.json"
        result = cached_measure(
          path, iteration, args.report_only, skill_reuse, workdir, env_name, args.reuse_episodes, sets
        )
        if result is not None:
          reuse[env_name][planner] = result
      result = cached_measure(out / f"coverage_{first}.json", iteration, args.report_only, buffer_coverage, workdir)
      if result is not None:
        coverage[env_name] = result
      stamp = workdir / "pictures" / "iteration.txt"
      if not args.report_only and not (stamp.exists() and stamp.read_text() == str(iteration)):
        commands.sample(workdir, num_samples=8, out_dir=str(workdir / "pictures"))
        stamp.write_text(str(iteration))
      print(f"{env_name} skill reuse + pictures ({time.perf_counter() - t:.0f} s): {reuse[env_name]}", flush=True)
  if args.report_only:  # the budgets the cached runs were made with
    budget = {
      e: int(max((s["curve"][-1][0] for m in runs[e].values() for s in m.values()), default=budget[e])) for e in runs
    }
  machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__} {jax.devices()[0].platform}"
  results = {
    "budget": budget,
    "seeds": args.seeds,
    "preset": args.preset,
    "machine": machine,
    "wall_s": time.perf_counter() - t0,
    "runs_wall_s": sum(s["wall_s"] for m in runs.values() for seeds in m.values() for s in seeds.values()),
    "sectar_overrides": args.set,
    "runs": runs,
    "reuse": reuse,
    "coverage": coverage,
    "reuse_episodes": args.reuse_episodes,
    "oracle": {e: [oracle.oracle_reward(e, t) for t in range(oracle.NUM_TASKS)] for e in args.envs},
  }
  write_outputs(results, out)


if __name__ == "__main__":
  main()
