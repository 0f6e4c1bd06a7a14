"""Classic vs randomized learning as |H| and n grow: configs, the runs, the table and the figures.

One setting is a problem (synthetic or alignment), a latent-space size |H|, a training-set size
n and a seed; each learner is fitted on the same data and scored on the same test set by the
plain decoder and the Gibbs decoder. Training time excludes compilation (each learner compiles
once per shape and is then timed alone).
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
from typing import Any, Callable, Literal, Sequence

import numpy as np

from trajvae.config import override, select_preset
from trajvae.structured.alignment import DigitAlignment, make_alignment_data
from trajvae.structured.gibbs import evaluate, pac_bayes_sigma
from trajvae.structured.learners import LearnerConfig, fit_latent_ssvm, fit_randomized
from trajvae.structured.problem import LatentProblem
from trajvae.structured.synthetic import PlantedMultilabel, make_planted_data

ProblemKind = Literal["synthetic", "alignment"]
METHODS = ("classic", "randomized")


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
  num_bits: int = 6
  view_dim: int = 10
  label_noise: float = 0.05
  salience: float = 3.0


@dataclasses.dataclass(frozen=True)
class AlignmentConfig:
  noise: float = 0.1
  # Unmodelled nuisance: each digit is also turned by up to this many degrees.
  max_rotation_deg: float = 10.0


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
  problems: tuple[str, ...] = ("synthetic", "alignment")
  synthetic_latents: tuple[int, ...] = (4, 16, 64, 256)
  # Alignment |H| = (canvas - 7)^2, so these must be squares.
  alignment_latents: tuple[int, ...] = (9, 25, 81, 225)
  train_sizes: tuple[int, ...] = (200, 800)
  test_size: int = 500
  seeds: tuple[int, ...] = (0, 1, 2)
  gibbs_draws: int = 20
  # sigma of the Gibbs decoder; <= 0 means the PAC-Bayes choice `pac_bayes_sigma` for each fitted w.
  gibbs_sigma: float = 0.0
  learner: LearnerConfig = LearnerConfig()
  synthetic: SyntheticConfig = SyntheticConfig()
  alignment: AlignmentConfig = AlignmentConfig()


PRESETS = {
    "default": ExperimentConfig,
    # Seconds, for CI and the notebook's SMOKE mode.
    "small": lambda: ExperimentConfig(
        synthetic_latents=(4, 16),
        alignment_latents=(4, 16),
        train_sizes=(60,),
        test_size=60,
        seeds=(0,),
        gibbs_draws=4,
        learner=LearnerConfig(epochs=8, outer_iterations=2),
    ),
}


def experiment_config(preset: str = "default", overrides: Sequence[str] = ()) -> ExperimentConfig:
  return override(select_preset(PRESETS, preset), overrides)


def alignment_canvas(num_latents: int) -> int:
  """The canvas side C with (C - 7)^2 == num_latents, or a ValueError."""
  side = math.isqrt(num_latents)
  if num_latents < 1 or side * side != num_latents:
    raise ValueError(f"alignment |H| must be a perfect square (the shifts of an 8x8 window on a square canvas), got {num_latents}")
  return side + 7


def make_setting(kind: str, num_latents: int, n: int, seed: int, config: ExperimentConfig) -> tuple[LatentProblem, Any]:
  """The problem and its train/test data for one setting."""
  if kind == "synthetic":
    s = config.synthetic
    problem = PlantedMultilabel(num_bits=s.num_bits, num_views=num_latents, view_dim=s.view_dim)
    return problem, make_planted_data(problem, seed, n, config.test_size, s.label_noise, s.salience)
  if kind == "alignment":
    a = config.alignment
    problem = DigitAlignment(canvas=alignment_canvas(num_latents))
    return problem, make_alignment_data(problem, seed, n, config.test_size, a.noise, a.max_rotation_deg)
  raise ValueError(f"unknown problem {kind!r}; expected 'synthetic' or 'alignment'")


def run_setting(kind: str, num_latents: int, n: int, seed: int, config: ExperimentConfig) -> list[dict[str, Any]]:
  """Fit both learners on one setting; one record per learner."""
  problem, data = make_setting(kind, num_latents, n, seed, config)
  learner = dataclasses.replace(config.learner, seed=seed)
  records = []
  for method, fit in zip(METHODS, (fit_latent_ssvm, fit_randomized)):
    result = fit(problem, data.train_x, data.train_y, learner)
    w_sq = float(result.w @ result.w)
    sigma = config.gibbs_sigma if config.gibbs_sigma > 0 else pac_bayes_sigma(n, problem.num_outputs, problem.num_latents, w_sq)
    test = evaluate(problem, result.w, data.test_x, data.test_y, sigma=sigma, num_draws=config.gibbs_draws, seed=seed, hs=data.test_h)
    train = evaluate(problem, result.w, data.train_x, data.train_y, sigma=sigma, num_draws=0)
    records.append({
        "problem": kind, "num_latents": num_latents, "num_outputs": problem.num_outputs, "n": n, "seed": seed,
        "method": method, "num_samples": result.num_samples, "train_seconds": result.train_seconds,
        "compile_seconds": result.compile_seconds, "train_distortion": train.distortion,
        "test_distortion": test.distortion, "gibbs_distortion": test.gibbs_distortion, "gibbs_stderr": test.gibbs_stderr,
        "sigma": sigma, "w_norm": math.sqrt(w_sq), "latent_accuracy": test.latent_accuracy,
    })
  return records


def run(config: ExperimentConfig, log: Callable[[str], None] = print) -> list[dict[str, Any]]:
  """Every problem x |H| x n x seed; the Python loop is over settings only."""
  records = []
  for kind in config.problems:
    latents = config.synthetic_latents if kind == "synthetic" else config.alignment_latents
    for num_latents in latents:
      for n in config.train_sizes:
        for seed in config.seeds:
          pair = run_setting(kind, num_latents, n, seed, config)
          records.extend(pair)
          log(" | ".join(
              f"{kind} |H|={num_latents} n={n} seed={seed} {r['method']}: test {r['test_distortion']:.3f} "
              f"gibbs {r['gibbs_distortion']:.3f} time {r['train_seconds']:.2f}s" for r in pair))
  return records


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
  values = np.asarray(values, float)
  return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def summarize(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
  """Mean and standard deviation over seeds per (problem, |H|, n, method), plus the speed-up."""
  keys = sorted({(r["problem"], r["num_latents"], r["n"]) for r in records})
  rows = []
  for problem, num_latents, n in keys:
    row: dict[str, Any] = {"problem": problem, "num_latents": num_latents, "n": n}
    times = {}
    for method in METHODS:
      group = [r for r in records if (r["problem"], r["num_latents"], r["n"], r["method"]) == (problem, num_latents, n, method)]
      row["num_outputs"] = group[0]["num_outputs"]
      row["num_samples"] = group[0]["num_samples"] if method == "randomized" else row.get("num_samples")
      for field in ("test_distortion", "gibbs_distortion", "train_seconds", "latent_accuracy", "sigma"):
        row[f"{method}_{field}"] = _mean_std([r[field] for r in group])
      times[method] = np.array([r["train_seconds"] for r in sorted(group, key=lambda r: r["seed"])])
    row["speedup"] = _mean_std(times["classic"] / times["randomized"])
    rows.append(row)
  return rows


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
  """Test distortion (plain / Gibbs) and training time per method, mean ± std over seeds."""
  def pm(value: tuple[float, float], digits: int = 3) -> str:
    return f"{value[0]:.{digits}f} ± {value[1]:.{digits}f}"

  lines = [
      "| problem | \\|Y\\| | \\|H\\| | n | T | classic: test d | classic: Gibbs d | randomized: test d | randomized: Gibbs d "
      "| classic time (s) | randomized time (s) | speed-up |",
      "|---|---|---|---|---|---|---|---|---|---|---|---|",
  ]
  for r in rows:
    lines.append(
        f"| {r['problem']} | {r['num_outputs']} | {r['num_latents']} | {r['n']} | {r['num_samples']} "
        f"| {pm(r['classic_test_distortion'])} | {pm(r['classic_gibbs_distortion'])} "
        f"| {pm(r['randomized_test_distortion'])} | {pm(r['randomized_gibbs_distortion'])} "
        f"| {pm(r['classic_train_seconds'], 2)} | {pm(r['randomized_train_seconds'], 2)} | {pm(r['speedup'], 1)}× |"
    )
  return "\n".join(lines)


def plot(rows: Sequence[dict[str, Any]], out_dir: pathlib.Path) -> list[pathlib.Path]:
  """One PNG per problem: test distortion (plain and Gibbs), training time and speed-up against |H|."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  import matplotlib.ticker

  paths = []
  colors = {"classic": "tab:blue", "randomized": "tab:orange"}
  for problem in sorted({r["problem"] for r in rows}):
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    sizes = sorted({r["n"] for r in rows if r["problem"] == problem})
    for k, n in enumerate(sizes):
      group = sorted((r for r in rows if r["problem"] == problem and r["n"] == n), key=lambda r: r["num_latents"])
      hs = [r["num_latents"] for r in group]
      marker = "os^dv"[k % 5]
      for method in METHODS:
        for field, style, label in (("test_distortion", "-", "plain"), ("gibbs_distortion", "--", "Gibbs")):
          mean = [r[f"{method}_{field}"][0] for r in group]
          std = [r[f"{method}_{field}"][1] for r in group]
          axes[0].errorbar(hs, mean, yerr=std, linestyle=style, marker=marker, color=colors[method], capsize=2,
                           label=f"{method}, {label}, n={n}")
        mean = [r[f"{method}_train_seconds"][0] for r in group]
        std = [r[f"{method}_train_seconds"][1] for r in group]
        axes[1].errorbar(hs, mean, yerr=std, marker=marker, color=colors[method], capsize=2, label=f"{method}, n={n}")
      axes[2].errorbar(hs, [r["speedup"][0] for r in group], yerr=[r["speedup"][1] for r in group], marker=marker,
                       color="k", capsize=2, label=f"n={n}")
    axes[0].set(xscale="log", xlabel="|H|", ylabel="test distortion", title=f"{problem}: test distortion")
    axes[1].set(xscale="log", yscale="log", xlabel="|H|", ylabel="training time (s, no compile)", title="training time")
    axes[2].axhline(1.0, color="gray", lw=0.8)
    axes[2].axhline(10.0, color="gray", lw=0.8, ls=":")
    axes[2].set(xscale="log", xlabel="|H|", ylabel="classic time / randomized time", title="speed-up of randomized")
    all_hs = sorted({r["num_latents"] for r in rows if r["problem"] == problem})
    for ax in axes:
      ax.set_xticks(all_hs, [str(h) for h in all_hs])
      ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
      ax.legend(fontsize=7)
    fig.tight_layout()
    path = out_dir / f"structured_{problem}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    paths.append(path)
  return paths
