"""SeCTAR vs flat PPO vs learned-dynamics MPC on the waypoint and block tasks, for a fixed env-step budget.

  python experiments/sectar_compare.py --out /tmp/sectar_compare --small      # ~7 min on 2 shared CPU cores (405 s measured)
  python experiments/sectar_compare.py --out runs/sectar_compare             # full scale: the authors' sizes, a GPU

Task reward: SeCTAR = the summed sparse reward of each iteration's MPC episodes;
PPO = the mean return of its (stochastic) full-horizon rollouts; dynamics MPC =
the return of its episodes. Env steps count every env interaction of a method
(SeCTAR: MPC + exploration + consistency PPO). Writes results.json (curves per
env/method/seed), table.md (final task reward = mean of a run's last 3 points,
mean ± std over seeds) and one learning-curve PNG per env into --out.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import pathlib
import platform
import tempfile
import time
import warnings

os.environ.setdefault(
  "JAX_COMPILATION_CACHE_DIR", str(pathlib.Path(__file__).resolve().parent.parent / ".cache" / "jax")
)

import jax
import numpy as np

from trajvae.config import override
from trajvae.sectar import baselines, configs, outer_loop
from trajvae.sectar.envs import make_env
from trajvae.train import driver
from trajvae.train.metrics import read_metrics

METHODS = ("sectar", "flat_ppo", "dynamics_mpc")
SMALL = {"budget": {"waypoint": 30_000, "block": 40_000}, "preset": "{env}_cpu"}
FULL = {"budget": {"waypoint": 2_000_000, "block": 5_000_000}, "preset": "{env}"}


def run_sectar(env_name: str, preset: str, seed: int, budget: int, sets: list[str]) -> list[tuple[int, float]]:
  """SeCTAR on the shared driver for enough iterations to use `budget` env steps; its (env steps, reward) curve."""
  config = override(configs.PRESETS[preset](), [f"train.seed={seed}", *sets])
  iterations = math.ceil(budget / outer_loop.steps_per_iteration(config))
  config = dataclasses.replace(
    config, train=dataclasses.replace(config.train, iterations=iterations, checkpoint_every=iterations)
  )
  with tempfile.TemporaryDirectory() as workdir:
    outer_loop.train(config, workdir, verbose=False)
    return [(r["env_steps"], r["task_reward"]) for r in read_metrics(workdir)]


class CurveRecorder:
  """A driver metric sink that keeps (env steps, one metric) per logged step in memory."""

  def __init__(self, steps_per_call: int, metric: str):
    self.steps_per_call, self.metric, self.curve = steps_per_call, metric, []

  def write(self, step: int, metrics, split: str = "train") -> None:
    self.curve.append((step * self.steps_per_call, float(metrics[self.metric])))

  def close(self) -> None:
    pass


def run_until_budget(step, state, steps_per_call: int, seed: int, budget: int, metric: str) -> list[tuple[int, float]]:
  """Run a baseline's jitted step on the shared driver (no checkpoints) until `budget` env steps are used."""
  recorder = CurveRecorder(steps_per_call, metric)
  driver.run(
    state,
    lambda state, i, key: step(state, key),
    math.ceil(budget / steps_per_call),
    None,
    recorder,
    name="baseline",
    seed=seed,
    finite=(),
    verbose=False,
  )
  return recorder.curve


def run_flat_ppo(env_name: str, seed: int, budget: int, small: bool) -> list[tuple[int, float]]:
  env = make_env(env_name)
  cfg = configs.FlatPPOConfig() if small else configs.FlatPPOConfig(num_envs=64, policy_mlp=(300, 200, 100))
  step, state, per = baselines.make_flat_ppo(env, cfg, seed)
  return run_until_budget(step, state, per, seed, budget, "env_reward")


def run_dynamics_mpc(env_name: str, seed: int, budget: int, small: bool) -> list[tuple[int, float]]:
  env = make_env(env_name)
  cfg = (
    configs.DynamicsMPCConfig()
    if small
    else configs.DynamicsMPCConfig(
      num_sequences=2048, horizon=19 * (5 if env_name == "waypoint" else 10), hidden=(200, 200, 200), fit_steps=1000
    )
  )
  iterate, state, per = baselines.make_dynamics_mpc(env, cfg, seed)
  return run_until_budget(iterate, state, per, seed, budget, "task_reward")


def final(curve: list[tuple[int, float]]) -> float:
  return float(np.mean([r for _, r in curve[-3:]]))


def write_outputs(results: dict, out: pathlib.Path) -> None:
  from trajvae.figures import new_figure, save_figure

  (out / "results.json").write_text(json.dumps(results, indent=2))
  lines = [
    f"Budget per run: {results['budget']} env steps; seeds {results['seeds']}; {results['machine']}; "
    f"{results['mode']} settings; wall {results['wall_s']:.0f} s.",
    "",
    "| env | method | final task reward (mean ± std over seeds) | env steps |",
    "|---|---|---|---|",
  ]
  for env_name, methods in results["runs"].items():
    fig = new_figure(6, 4)
    ax = fig.subplots()
    for i, (method, seeds) in enumerate(methods.items()):
      finals = [final(c) for c in seeds.values()]
      steps = int(np.mean([c[-1][0] for c in seeds.values()]))
      lines.append(f"| {env_name} | {method} | {np.mean(finals):.2f} ± {np.std(finals):.2f} | {steps:,} |")
      grid = np.linspace(0, results["budget"][env_name], 50)
      ys = []
      for c in seeds.values():
        x, y = np.array(c).T
        ax.plot(x, y, c=f"C{i}", alpha=0.25, lw=0.8)
        ys.append(np.interp(grid, x, y, left=np.nan))
      with warnings.catch_warnings():  # grid points before a run's first record are NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        ax.plot(grid, np.nanmean(np.array(ys), axis=0), c=f"C{i}", lw=2, label=method)
    ax.set_xlabel("env steps")
    ax.set_ylabel("task reward")
    ax.set_title(f"{env_name} (task 0)")
    ax.legend()
    save_figure(fig, out / f"curves_{env_name}.png", dpi=100)
  (out / "table.md").write_text("\n".join(lines) + "\n")
  print("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--out", default="runs/sectar_compare")
  parser.add_argument("--small", action="store_true", help="CPU presets and budgets (~7 min on 2 cores)")
  parser.add_argument("--envs", nargs="+", default=["waypoint", "block"], choices=["waypoint", "block"])
  parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
  parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
  parser.add_argument("--budget", type=int, help="env steps per run (default: per env, by --small)")
  parser.add_argument("--set", nargs="*", default=[], help="SeCTAR config overrides, e.g. mpc.num_sequences=512")
  args = parser.parse_args(argv)
  mode = SMALL if args.small else FULL
  budget = {e: args.budget or mode["budget"][e] for e in args.envs}
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  t0 = time.perf_counter()
  runs: dict = {}
  for env_name in args.envs:
    runs[env_name] = {}
    for method in args.methods:
      runs[env_name][method] = {}
      for seed in args.seeds:
        t = time.perf_counter()
        if method == "sectar":
          curve = run_sectar(env_name, mode["preset"].format(env=env_name), seed, budget[env_name], args.set)
        elif method == "flat_ppo":
          curve = run_flat_ppo(env_name, seed, budget[env_name], args.small)
        else:
          curve = run_dynamics_mpc(env_name, seed, budget[env_name], args.small)
        runs[env_name][method][str(seed)] = curve
        print(
          f"{env_name} {method} seed {seed}: final {final(curve):.2f} after {curve[-1][0]:,} steps "
          f"({time.perf_counter() - t:.0f} s)",
          flush=True,
        )
  machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__} {jax.devices()[0].platform}"
  results = {
    "budget": budget,
    "seeds": args.seeds,
    "mode": "small" if args.small else "full",
    "machine": machine,
    "wall_s": time.perf_counter() - t0,
    "sectar_overrides": args.set,
    "runs": runs,
  }
  write_outputs(results, out)


if __name__ == "__main__":
  main()
