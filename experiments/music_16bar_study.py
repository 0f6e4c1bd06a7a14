"""Hierarchical vs flat decoder on 16-bar melodies, with the training seed as the unit (issue 25).

Trains the study presets (configs.study_16bar_cpu: the reference's shapes at reduced width) for several
training seeds per arm, plus a positive control (free bits 0, beta 1: the reference's flat-trio loss) for
fewer seeds and steps; scores every run on the same held-out test windows with the latent-usage measures
(trajvae.music.latent_usage); and writes study.json, table.md and three PNGs into --out.

Every run resumes from its checkpoints and its scores are cached in its workdir, so an interrupted study
continues where it stopped; --report-only rebuilds the outputs from what is there. Runs are interleaved
(seed 0 of every arm and the control first), so a study cut short still has both arms.

Intervals: the difference of the arms' means over seeds with Welch's t 95% interval (seeds are the units);
beside it a nested bootstrap that resamples seeds within each arm and the held-out pieces within seeds.

  python experiments/music_16bar_study.py --out runs/music-16bar-study [--width 64 --steps 1500]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import sys
import time
from typing import Any

import jax
import numpy as np
from scipy import stats

from trajvae.config import override
from trajvae.errors import UserError
from trajvae.music import commands, latent_usage, study_plots
from trajvae.music.configs import MusicVAEConfig, study_16bar_cpu
from trajvae.music.data.loading import load_window_records

ARMS = ("hierarchical", "flat")
PER_WINDOW = (
  "latent_use_bits",
  "kl_bits",
  "own/tf_accuracy",
  "own/sampled_accuracy",
  "own/sampled_event_hits",
  "own/tf_event_hits",
  "events",
  "own/sampled_bar_accuracy",
)
# Table 1 of Roberts et al. (2018) as recalled in ../shared/research/musicvae.md (unverified against the PDF).
PAPER = {"hierarchical": (0.919, 0.812), "flat": (0.883, 0.620)}


@dataclasses.dataclass(frozen=True)
class Run:
  group: str  # "main" or "control"
  arm: str
  seed: int

  @property
  def name(self) -> str:
    return f"{self.group}-{self.arm}-s{self.seed}"


def run_config(run: Run, args: argparse.Namespace) -> MusicVAEConfig:
  """The study preset of the run's arm at the study's width and length, with its training seed."""
  control = run.group == "control"
  steps = args.control_steps if control else args.steps
  loss = dict(free_bits=0.0, max_beta=1.0) if control else {}
  config = study_16bar_cpu(run.arm, width=args.width, steps=steps, **loss)
  config = dataclasses.replace(
    config,
    train=dataclasses.replace(
      config.train, seed=run.seed, log_every=args.log_every, checkpoint_every=min(args.checkpoint_every, steps)
    ),
  )
  return override(config, args.set)


def schedule(args: argparse.Namespace) -> list[Run]:
  """Runs interleaved by seed: main seed s of both arms, then control seed s, for s = 0, 1, ..."""
  runs = []
  for seed in range(max(args.seeds, args.control_seeds)):
    if seed < args.seeds:
      runs += [Run("main", arm, seed) for arm in ARMS]
    if seed < args.control_seeds:
      runs += [Run("control", arm, seed) for arm in ARMS]
  return runs


def train_and_score(
  run: Run, config: MusicVAEConfig, workdir: pathlib.Path, windows: np.ndarray, train: bool
) -> dict[str, Any] | None:
  """Train (resuming) and score a run, caching its summary (scores.json) and per-window arrays (scores.npz)."""
  scores = workdir / "scores.json"
  if scores.exists() and json.loads(scores.read_text())["step"] == config.train.steps:
    return json.loads(scores.read_text())
  if not train:
    return None
  started, load = time.time(), os.getloadavg()[0]
  commands.train(config, workdir)
  train_seconds = time.time() - started
  trained = commands.load_run(workdir)
  model, step = trained.api, trained.step
  started = time.time()
  measures = latent_usage.latent_usage(model.graphdef, model.params, windows, jax.random.key(1234))
  summary = {
    **latent_usage.summarize(measures),
    "run": run.name,
    "arm": run.arm,
    "seed": run.seed,
    "step": step,
    "train_seconds": round(train_seconds),
    "eval_seconds": round(time.time() - started),
    "load_average_at_start": round(load, 2),
    "load_average_at_end": round(os.getloadavg()[0], 2),
  }
  np.savez_compressed(workdir / "scores.npz", **{k.replace("/", "__"): measures[k] for k in PER_WINDOW})
  scores.write_text(json.dumps(summary, indent=2))
  return summary


def kl_curve(workdir: pathlib.Path) -> dict[str, list[float]]:
  """Training-batch KL (bits) against step from the run's metrics.jsonl."""
  steps, kl = [], []
  for line in (workdir / "metrics.jsonl").read_text().splitlines():
    row = json.loads(line)
    if row.get("split", "train") == "train" and "kl_bits" in row:
      steps.append(row["step"])
      kl.append(row["kl_bits"])
  return {"step": steps, "kl_bits": kl}


def welch_interval(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
  """mean(a) - mean(b) with Welch's t 95% interval; a, b: one value per training seed."""
  a, b = np.asarray(a, float), np.asarray(b, float)
  diff = float(a.mean() - b.mean())
  if len(a) < 2 or len(b) < 2:
    return {"difference": diff, "lo": float("nan"), "hi": float("nan")}
  va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
  se = np.sqrt(va + vb)
  df = (va + vb) ** 2 / max(va**2 / (len(a) - 1) + vb**2 / (len(b) - 1), 1e-300)
  half = float(stats.t.ppf(0.975, df) * se) if se > 0 else 0.0
  return {"difference": diff, "lo": diff - half, "hi": diff + half, "df": float(df)}


def seed_values(arrays: list[dict[str, np.ndarray]], metric: str, rows: np.ndarray | None = None) -> np.ndarray:
  """One value per seed of a metric over windows `rows` (all by default); event accuracies as hits / events."""
  out = []
  for a in arrays:
    take = slice(None) if rows is None else rows
    if metric.endswith("event_accuracy"):
      hits = a[metric.replace("event_accuracy", "event_hits").replace("own/", "own__")][take]
      out.append(hits.sum() / max(a["events"][take].sum(), 1))
    else:
      out.append(a[metric.replace("/", "__")][take].mean())
  return np.asarray(out)


def nested_bootstrap(arrays_a, arrays_b, metric: str, pieces: np.ndarray, draws: int, seed: int = 0):
  """95% interval of mean_a - mean_b resampling seeds within each arm, then held-out pieces (shared by both)."""
  rng = np.random.default_rng(seed)
  labels, index = np.unique(pieces, return_inverse=True)
  members = [np.flatnonzero(index == i) for i in range(len(labels))]
  diffs = np.empty(draws)
  for d in range(draws):
    rows = np.concatenate([members[i] for i in rng.integers(0, len(labels), len(labels))])
    a = seed_values([arrays_a[i] for i in rng.integers(0, len(arrays_a), len(arrays_a))], metric, rows)
    b = seed_values([arrays_b[i] for i in rng.integers(0, len(arrays_b), len(arrays_b))], metric, rows)
    diffs[d] = a.mean() - b.mean()
  return [float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))]


def bar_slope(curve) -> float:
  """Least-squares slope of accuracy against bar number (accuracy per bar)."""
  curve = np.asarray(curve, float)
  return float(np.polyfit(np.arange(1, len(curve) + 1), curve, 1)[0])


METRICS = {  # name in the table -> (per-seed value from a summary, per-window key for the bootstrap or None)
  "teacher-forced accuracy": (lambda s: s["own"]["tf_accuracy"], "own/tf_accuracy"),
  "sampled accuracy": (lambda s: s["own"]["sampled_accuracy"], "own/sampled_accuracy"),
  "teacher-forced event accuracy": (lambda s: s["own"]["tf_event_accuracy"], "own/tf_event_accuracy"),
  "sampled event accuracy": (lambda s: s["own"]["sampled_event_accuracy"], "own/sampled_event_accuracy"),
  "KL (bits)": (lambda s: s["kl_bits"], "kl_bits"),
  "latent use (bits)": (lambda s: s["latent_use_bits"], "latent_use_bits"),
  "sampled accuracy, other window's z": (lambda s: s["other"]["sampled_accuracy"], None),
  "sampled accuracy, prior z": (lambda s: s["prior"]["sampled_accuracy"], None),
  "per-bar slope of sampled accuracy": (lambda s: bar_slope(s["own"]["sampled_bar_accuracy"]), None),
}


def report(
  out: pathlib.Path, results: dict[str, dict[str, list[dict]]], pieces: np.ndarray, draws: int, meta: dict[str, Any]
) -> dict[str, Any]:
  """study.json, table.md and the figures from the scored runs."""
  study: dict[str, Any] = {**meta, "groups": {}}
  lines = []
  for group, by_arm in results.items():
    if not all(by_arm.get(arm) for arm in ARMS):
      continue
    arrays = {arm: [dict(np.load(out / group / s["run"] / "scores.npz")) for s in by_arm[arm]] for arm in ARMS}
    table: dict[str, Any] = {}
    lines += [
      f"### {group} ({', '.join(f'{arm}: {len(by_arm[arm])} seeds' for arm in ARMS)})",
      "",
      "| metric | hierarchical mean ± sd [min, max] | flat mean ± sd [min, max] | hier - flat [Welch 95%] "
      "| nested bootstrap 95% |",
      "|---|---|---|---|---|",
    ]
    for name, (value, key) in METRICS.items():
      per_arm = {arm: np.array([value(s) for s in by_arm[arm]]) for arm in ARMS}
      welch = welch_interval(per_arm["hierarchical"], per_arm["flat"])
      boot = nested_bootstrap(arrays["hierarchical"], arrays["flat"], key, pieces, draws) if key else None
      table[name] = {**{arm: v.tolist() for arm, v in per_arm.items()}, "welch": welch, "bootstrap95": boot}
      cells = [
        f"{v.mean():.3f} ± {v.std(ddof=1) if len(v) > 1 else 0:.3f} [{v.min():.3f}, {v.max():.3f}]"
        for v in per_arm.values()
      ]
      boot_cell = f"[{boot[0]:+.3f}, {boot[1]:+.3f}]" if boot else ""
      lines.append(
        f"| {name} | {cells[0]} | {cells[1]} | {welch['difference']:+.3f} "
        f"[{welch['lo']:+.3f}, {welch['hi']:+.3f}] | {boot_cell} |"
      )
    hold = by_arm["hierarchical"][0]
    lines += [
      "",
      f"Always-hold baseline on the same windows: accuracy {hold['hold_accuracy']:.3f}, event accuracy 0.",
      "",
    ]
    use = {arm: [s["latent_use_bits"] for s in by_arm[arm]] for arm in ARMS}
    table["hierarchical latent use above every flat seed"] = bool(min(use["hierarchical"]) > max(use["flat"]))
    study["groups"][group] = {"runs": by_arm, "table": table}
    if group == "main":
      study_plots.latent_use_figure(by_arm).savefig(out / "latent_use.png", dpi=110)
      study_plots.per_bar_figure(by_arm, hold["hold_bar_accuracy"]).savefig(out / "per_bar_accuracy.png", dpi=110)
    if group == "control":
      curves = {arm: [{"seed": s["seed"], **kl_curve(out / group / s["run"])} for s in by_arm[arm]] for arm in ARMS}
      study["groups"][group]["kl_curves"] = curves
      study_plots.kl_curve_figure(curves).savefig(out / "control_kl.png", dpi=110)
  (out / "study.json").write_text(json.dumps(study, indent=2))
  (out / "table.md").write_text("\n".join(lines) + "\n")
  print("\n".join(lines))
  return study


def parse_args(argv=None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--out", default="runs/music-16bar-study")
  parser.add_argument("--width", type=int, default=64, help="hierarchical decoder width w (flat: 2w, encoder: 2w)")
  parser.add_argument("--steps", type=int, default=1500, help="training steps of the main runs")
  parser.add_argument("--control-steps", type=int, default=600, help="training steps of the positive control")
  parser.add_argument("--seeds", type=int, default=3, help="training seeds per arm (main)")
  parser.add_argument("--control-seeds", type=int, default=2, help="training seeds per arm (control)")
  parser.add_argument(
    "--eval-windows", type=int, default=0, help="held-out test windows scored, evenly spaced over the split (0: all)"
  )
  parser.add_argument("--log-every", type=int, default=25)
  parser.add_argument("--checkpoint-every", type=int, default=250)
  parser.add_argument("--draws", type=int, default=2000, help="nested-bootstrap draws")
  parser.add_argument("--set", nargs="*", default=[], help="overrides for every run (key=value)")
  parser.add_argument("--report-only", action="store_true", help="rebuild the outputs from the scored runs")
  args = parser.parse_args(argv)
  if args.width < 1 or args.steps < 1 or args.control_steps < 1 or args.seeds < 1 or args.control_seeds < 0:
    parser.error("--width, --steps, --control-steps and --seeds must be positive, --control-seeds >= 0")
  return args


def main(argv=None) -> None:
  args = parse_args(argv)
  out = pathlib.Path(args.out)
  try:
    data = run_config(Run("main", "hierarchical", 0), args).data
  except UserError as error:
    print(f"error: {error}", file=sys.stderr)
    sys.exit(2)
  tokens, ids = load_window_records(data, "test")
  if args.eval_windows and args.eval_windows < len(tokens):  # evenly spaced, so that they span the test pieces
    keep = np.round(np.linspace(0, len(tokens) - 1, args.eval_windows)).astype(np.int64)
    tokens, ids = tokens[keep], [ids[i] for i in keep]
  pieces = np.asarray(ids)
  results: dict[str, dict[str, list[dict]]] = {"main": {}, "control": {}}
  started = time.time()
  for run in schedule(args):
    config = run_config(run, args)
    summary = train_and_score(run, config, out / run.group / run.name, tokens, train=not args.report_only)
    if summary is None:
      continue
    results[run.group].setdefault(run.arm, []).append(summary)
    print(
      f"{run.name}: step {summary['step']}, train {summary['train_seconds']} s, eval {summary['eval_seconds']} s, "
      f"KL {summary['kl_bits']:.1f} bits, latent use {summary['latent_use_bits']:.2f} bits, "
      f"sampled acc {summary['own']['sampled_accuracy']:.3f}",
      flush=True,
    )
  meta = {
    "width": args.width,
    "steps": args.steps,
    "control_steps": args.control_steps,
    "windows": len(tokens),
    "pieces": int(len(set(ids))),
    "overrides": args.set,
    "wall_seconds_this_call": round(time.time() - started),
    "paper_recalled_tf_sampled": PAPER,
  }
  report(out, results, pieces, args.draws, meta)


if __name__ == "__main__":
  main()
