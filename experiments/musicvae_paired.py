"""Is model A's Table 1 accuracy above model B's? A paired bootstrap over held-out windows.

Table 1 gives one number per model; at small scale the differences are a few
points, so this script scores both trained runs on the same test windows, with
several evaluation seeds (z ~ q(z|x) and the decoder's own samples are random),
and bootstraps the difference into a 95% interval, resampling pieces (up to 5
windows of one piece are correlated; pieces are the independent units).

  python experiments/musicvae_paired.py runs/table1-hier/hierdec-mel_16bar_cpu runs/table1-flat/flat-mel_16bar_cpu
"""

from __future__ import annotations

import argparse
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from trajvae.music import commands
from trajvae.music.data.loading import dataset_name, load_window_records
from trajvae.music.objective import reconstruction_logits, split_logits

METRICS = ("accuracy_teacher_forced", "accuracy_sampled", "event_accuracy_teacher_forced", "event_accuracy_sampled")


def per_window_accuracy(
  model, tokens: jax.Array, key: jax.Array, sample_prob: float | None
) -> tuple[jax.Array, jax.Array]:
  """(accuracy over all steps, accuracy over event steps) per window -> two arrays [B] (mean over tracks)."""
  logits = reconstruction_logits(model, tokens, key, sample_prob)
  parts = split_logits(logits, model.config.track_depths)
  hits = jnp.stack([jnp.argmax(part, -1) == tokens[..., i] for i, part in enumerate(parts)], -1)
  events = tokens != 0
  all_steps = jnp.mean(hits, axis=(1, 2))
  event_steps = jnp.sum(hits & events, axis=(1, 2)) / jnp.maximum(jnp.sum(events, axis=(1, 2)), 1)
  return all_steps, event_steps


def score_run(trained, windows: np.ndarray, seeds: int, batch: int) -> dict[str, np.ndarray]:
  """Per-window Table 1 metrics [seeds, N] of a trained run (a commands.MusicVAERun)."""
  fn = jax.jit(
    lambda params, tokens, key, p: per_window_accuracy(nnx.merge(trained.graphdef, params), tokens, key, p),
    static_argnums=3,
  )
  out = {m: np.zeros((seeds, len(windows))) for m in METRICS}
  for s in range(seeds):
    for start in range(0, len(windows), batch):
      tokens = jnp.asarray(windows[start : start + batch])
      key = jax.random.fold_in(jax.random.key(1000 + s), start)
      for p, suffix in ((None, "teacher_forced"), (1.0, "sampled")):
        acc, ev = fn(trained.params, tokens, key, p)
        out[f"accuracy_{suffix}"][s, start : start + len(tokens)] = np.asarray(acc)
        out[f"event_accuracy_{suffix}"][s, start : start + len(tokens)] = np.asarray(ev)
  return out


def paired_bootstrap(
  a: np.ndarray, b: np.ndarray, pieces: np.ndarray, draws: int, seed: int = 0
) -> tuple[float, float, float]:
  """Mean of a - b over windows and its 95% interval; a, b [seeds, N]; pieces [N] labels resampled with replacement."""
  diff = (a - b).mean(axis=0)
  labels, index = np.unique(pieces, return_inverse=True)
  sums, counts = np.bincount(index, diff, len(labels)), np.bincount(index, minlength=len(labels))
  picks = np.random.default_rng(seed).integers(0, len(labels), (draws, len(labels)))
  means = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)
  return float(diff.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument("run_a")
  parser.add_argument("run_b")
  parser.add_argument("--seeds", type=int, default=4, help="evaluation seeds per window")
  parser.add_argument("--max-windows", type=int, default=384)
  parser.add_argument("--batch", type=int, default=128)
  parser.add_argument("--draws", type=int, default=10_000)
  parser.add_argument("--out", help="JSON file for the results (default: next to run_a)")
  args = parser.parse_args()
  trained_a, trained_b = commands.load_run(args.run_a), commands.load_run(args.run_b)
  config, config_b = trained_a.config, trained_b.config
  if dataset_name(config.data) != dataset_name(config_b.data):
    raise ValueError(f"the runs use different data: {dataset_name(config.data)} vs {dataset_name(config_b.data)}")
  tokens, ids = load_window_records(config.data, "test")  # Table 1 scores the first max_windows
  windows, pieces = tokens[: args.max_windows], np.asarray(ids[: args.max_windows])
  a = score_run(trained_a, windows, args.seeds, args.batch)
  b = score_run(trained_b, windows, args.seeds, args.batch)
  results = {
    "run_a": args.run_a,
    "run_b": args.run_b,
    "windows": len(windows),
    "pieces": len(set(pieces)),
    "seeds": args.seeds,
  }
  for m in METRICS:
    diff, lo, hi = paired_bootstrap(a[m], b[m], pieces, args.draws)
    results[m] = {"a": float(a[m].mean()), "b": float(b[m].mean()), "a_minus_b": diff, "ci95": [lo, hi]}
    print(f"{m:32s} A {a[m].mean():.3f}  B {b[m].mean():.3f}  A-B {diff:+.4f}  95% CI [{lo:+.4f}, {hi:+.4f}]")
  out = pathlib.Path(args.out) if args.out else pathlib.Path(args.run_a).parent / "paired.json"
  out.write_text(json.dumps(results, indent=2))
  print(f"wrote {out}")


if __name__ == "__main__":
  main()
