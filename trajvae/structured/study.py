"""Classic vs randomized learning as |H| and n grow: the runs, the table and the figures (configs: configs.py).

One setting is a problem (synthetic or alignment), a latent-space size |H|, a training-set size
n and a seed; each learner is fitted on the same data and scored on the same test set by the
plain decoder and the Gibbs decoder. Training time excludes compilation (each learner compiles
once per shape and is then timed alone).
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
from typing import Any, Callable, Sequence

import matplotlib.ticker
import numpy as np
from matplotlib.figure import Figure

from trajvae.config import override, select_preset
from trajvae.figures import new_figure, save_figure
from trajvae.structured.alignment import DigitAlignment, make_alignment_data
from trajvae.structured.configs import METHODS, PRESETS, LearnerConfig, StructuredStudyConfig
from trajvae.structured.gibbs import evaluate, pac_bayes_sigma
from trajvae.structured.learners import CompiledLearners, FitResult, fit_direct, fit_latent_ssvm, fit_randomized
from trajvae.structured.problem import LatentProblem
from trajvae.structured.synthetic import PlantedMultilabel, make_planted_data


def study_config(preset: str = "default", overrides: Sequence[str] = ()) -> StructuredStudyConfig:
  """The named preset of trajvae.structured.configs with key=value overrides applied."""
  return override(select_preset(PRESETS, preset), overrides)


def alignment_canvas(num_latents: int) -> int:
  """The canvas side C with (C - 7)^2 == num_latents, or a ValueError."""
  side = math.isqrt(num_latents)
  if num_latents < 1 or side * side != num_latents:
    raise ValueError(
      f"alignment |H| must be a perfect square (the shifts of an 8x8 window on a square canvas), got {num_latents}"
    )
  return side + 7


def make_setting(
  kind: str, num_latents: int, n: int, seed: int, config: StructuredStudyConfig
) -> tuple[LatentProblem, Any]:
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


def fit_method(
  method: str, problem: LatentProblem, xs, ys, learner: LearnerConfig, compiled: CompiledLearners
) -> FitResult | None:
  """Fit one named method, compiling through `compiled`; None where it does not apply (exhaustive on alignment)."""
  if method == "classic":
    return fit_latent_ssvm(problem, xs, ys, learner, compiled=compiled)
  if method == "randomized":
    return fit_randomized(problem, xs, ys, learner, compiled=compiled)
  if method == "direct":
    return fit_direct(problem, xs, ys, learner, compiled=compiled)
  if method == "exhaustive":
    if not isinstance(problem, PlantedMultilabel):
      return None
    return fit_latent_ssvm(dataclasses.replace(problem, exhaustive_inference=True), xs, ys, learner, compiled=compiled)
  raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")


def run_setting(
  kind: str, num_latents: int, n: int, seed: int, config: StructuredStudyConfig, compiled: CompiledLearners
) -> list[dict[str, Any]]:
  """Fit every configured method on one setting (compiling through `compiled`); one record per method."""
  problem, data = make_setting(kind, num_latents, n, seed, config)
  learner = dataclasses.replace(config.learner, seed=seed)
  records = []
  for method in config.methods:
    result = fit_method(method, problem, data.train_x, data.train_y, learner, compiled)
    if result is None:
      continue
    w_sq = float(result.w @ result.w)
    sigma = (
      config.gibbs_sigma
      if config.gibbs_sigma > 0
      else pac_bayes_sigma(n, problem.num_outputs, problem.num_latents, w_sq)
    )
    test = evaluate(
      problem, result.w, data.test_x, data.test_y, sigma=sigma, num_draws=config.gibbs_draws, seed=seed, hs=data.test_h
    )
    train = evaluate(problem, result.w, data.train_x, data.train_y, sigma=sigma, num_draws=0)
    records.append(
      {
        "problem": kind,
        "num_latents": num_latents,
        "num_outputs": problem.num_outputs,
        "n": n,
        "seed": seed,
        "method": method,
        "num_samples": result.num_samples,
        "train_seconds": result.train_seconds,
        "compile_seconds": result.compile_seconds,
        "train_distortion": train.distortion,
        "test_distortion": test.distortion,
        "gibbs_distortion": test.gibbs_distortion,
        "gibbs_stderr": test.gibbs_stderr,
        "sigma": sigma,
        "w_norm": math.sqrt(w_sq),
        "latent_accuracy": test.latent_accuracy,
      }
    )
  return records


def run(config: StructuredStudyConfig, log: Callable[[str], None] = print) -> list[dict[str, Any]]:
  """Every problem x |H| x n x seed; the Python loop is over settings only, each learner compiled once a shape."""
  compiled = CompiledLearners()
  records = []
  for kind in config.problems:
    latents = config.synthetic_latents if kind == "synthetic" else config.alignment_latents
    for num_latents in latents:
      for n in config.train_sizes:
        for seed in config.seeds:
          fitted = run_setting(kind, num_latents, n, seed, config, compiled)
          records.extend(fitted)
          log(
            f"{kind} |H|={num_latents} n={n} seed={seed}: "
            + " | ".join(
              f"{r['method']} test {r['test_distortion']:.3f} gibbs {r['gibbs_distortion']:.3f} "
              f"time {r['train_seconds']:.2f}s"
              for r in fitted
            )
          )
  return records


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
  values = np.asarray(values, float)
  return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def methods_in(records: Sequence[dict[str, Any]]) -> list[str]:
  return [m for m in METHODS if any(r["method"] == m for r in records)]


def summarize(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
  """Mean and standard deviation over seeds per (problem, |H|, n) and method, plus each method's
  time divided by the randomized learner's (per seed, then averaged)."""
  keys = sorted({(r["problem"], r["num_latents"], r["n"]) for r in records})
  rows = []
  for problem, num_latents, n in keys:
    setting = [r for r in records if (r["problem"], r["num_latents"], r["n"]) == (problem, num_latents, n)]
    row: dict[str, Any] = {
      "problem": problem,
      "num_latents": num_latents,
      "n": n,
      "num_outputs": setting[0]["num_outputs"],
      "num_samples": next((r["num_samples"] for r in setting if r["method"] == "randomized"), None),
      "methods": methods_in(setting),
    }
    times = {}
    for method in row["methods"]:
      group = sorted((r for r in setting if r["method"] == method), key=lambda r: r["seed"])
      for field in ("test_distortion", "gibbs_distortion", "train_seconds", "latent_accuracy", "sigma"):
        row[f"{method}_{field}"] = _mean_std([r[field] for r in group])
      times[method] = np.array([r["train_seconds"] for r in group])
    if "randomized" in times:
      for method in row["methods"]:
        if method != "randomized":
          row[f"{method}_speedup"] = _mean_std(times[method] / times["randomized"])
    rows.append(row)
  return rows


def _pm(value: tuple[float, float] | None, digits: int = 3) -> str:
  return "–" if value is None else f"{value[0]:.{digits}f} ± {value[1]:.{digits}f}"


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
  """Two tables, mean ± std over seeds: test distortion (plain, Gibbs) per method; training time and speed-ups."""
  methods = [m for m in METHODS if any(m in r["methods"] for r in rows)]
  head = "| problem | \\|Y\\| | \\|H\\| | n | T |"
  accuracy = [
    head + "".join(f" {m}: test d | {m}: Gibbs d |" for m in methods),
    "|---|---|---|---|---|" + "---|---|" * len(methods),
  ]
  baselines = [m for m in methods if m != "randomized"]
  timing = [
    head + "".join(f" {m} time (s) |" for m in methods) + "".join(f" {m} / randomized |" for m in baselines),
    "|---|---|---|---|---|" + "---|" * (len(methods) + len(baselines)),
  ]
  for r in rows:
    prefix = f"| {r['problem']} | {r['num_outputs']} | {r['num_latents']} | {r['n']} | {r['num_samples']} |"
    accuracy.append(
      prefix
      + "".join(f" {_pm(r.get(f'{m}_test_distortion'))} | {_pm(r.get(f'{m}_gibbs_distortion'))} |" for m in methods)
    )
    timing.append(
      prefix
      + "".join(f" {_pm(r.get(f'{m}_train_seconds'), 2)} |" for m in methods)
      + "".join(f" {_pm(r.get(f'{m}_speedup'), 1)}× |" if f"{m}_speedup" in r else " – |" for m in baselines)
    )
  return (
    "Test distortion, plain decoder and Gibbs decoder (mean ± std over seeds):\n\n"
    + "\n".join(accuracy)
    + "\n\nTraining time without compilation, and each method's time over the randomized learner's:\n\n"
    + "\n".join(timing)
  )


COLORS = {"classic": "tab:blue", "randomized": "tab:orange", "direct": "tab:green", "exhaustive": "tab:purple"}


def _errorbar(ax, hs: list[int], stats: list[tuple[float, float]], **style) -> None:
  """One (mean, std) series against |H|."""
  ax.errorbar(hs, [m for m, _ in stats], yerr=[s for _, s in stats], capsize=2, **style)


def plot_problem(rows: Sequence[dict[str, Any]], problem: str) -> Figure:
  """Test distortion (plain and Gibbs), training time and speed-ups against |H| for one problem's rows."""
  fig = new_figure(16, 4.6)
  axes = fig.subplots(1, 3)
  problem_rows = [r for r in rows if r["problem"] == problem]
  sizes = sorted({r["n"] for r in problem_rows})
  for k, n in enumerate(sizes):
    group = sorted((r for r in problem_rows if r["n"] == n), key=lambda r: r["num_latents"])
    marker = "os^dv"[k % 5]
    for method in group[0]["methods"]:
      hs = [r["num_latents"] for r in group]
      look = dict(marker=marker, color=COLORS[method])
      for field, style, label in (("test_distortion", "-", "plain"), ("gibbs_distortion", "--", "Gibbs")):
        stats = [r[f"{method}_{field}"] for r in group]
        _errorbar(axes[0], hs, stats, linestyle=style, label=f"{method}, {label}, n={n}", **look)
      _errorbar(axes[1], hs, [r[f"{method}_train_seconds"] for r in group], label=f"{method}, n={n}", **look)
      if f"{method}_speedup" in group[0]:
        stats = [r[f"{method}_speedup"] for r in group]
        _errorbar(axes[2], hs, stats, label=f"{method} / randomized, n={n}", **look)
  axes[0].set(xscale="log", xlabel="|H|", ylabel="test distortion", title=f"{problem}: test distortion (dashed: Gibbs)")
  axes[1].set(xscale="log", yscale="log", xlabel="|H|", ylabel="seconds", title="training time (no compilation)")
  axes[2].axhline(1.0, color="gray", lw=0.8)
  axes[2].axhline(10.0, color="gray", lw=0.8, ls=":")
  axes[2].set(xscale="log", yscale="log", xlabel="|H|", ylabel="time ratio", title="speed-up of the randomized learner")
  all_hs = sorted({r["num_latents"] for r in problem_rows})
  for ax in axes:
    ax.set_xticks(all_hs, [str(h) for h in all_hs])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.legend(fontsize=6)
  return fig


def problems(rows: Sequence[dict[str, Any]]) -> list[str]:
  """The problems the study's rows cover, in name order."""
  return sorted({r["problem"] for r in rows})


def save_plots(rows: Sequence[dict[str, Any]], out_dir: pathlib.Path) -> list[pathlib.Path]:
  """One PNG per problem (`plot_problem`), out_dir/structured_PROBLEM.png."""
  return [
    save_figure(plot_problem(rows, problem), out_dir / f"structured_{problem}.png", dpi=110)
    for problem in problems(rows)
  ]
