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

from trajvae.core.distributions import gaussian_sample
from trajvae.music import experiment
from trajvae.music.objective import split_logits

METRICS = ("accuracy_teacher_forced", "accuracy_sampled", "event_accuracy_teacher_forced", "event_accuracy_sampled")


def per_window_accuracy(graphdef, params, tokens: jax.Array, key: jax.Array, sample_prob: float, depths):
  """(accuracy over all steps, accuracy over event steps) per window -> two arrays [B] (mean over tracks)."""
  model = nnx.merge(graphdef, params)
  z_key, decode_key = jax.random.split(key)
  mean, std = model.encode(tokens)
  logits, _ = model.decode(gaussian_sample(z_key, mean, std), decode_key, tokens, sample_prob)
  hits = jnp.stack([jnp.argmax(part, -1) == tokens[..., i] for i, part in enumerate(split_logits(logits, depths))], -1)
  events = tokens != 0
  all_steps = jnp.mean(hits, axis=(1, 2))
  event_steps = jnp.sum(hits & events, axis=(1, 2)) / jnp.maximum(jnp.sum(events, axis=(1, 2)), 1)
  return all_steps, event_steps


def score_run(workdir: str, windows: np.ndarray, seeds: int, batch: int) -> dict[str, np.ndarray]:
  """Per-window Table 1 metrics [seeds, N] of a trained run."""
  config, trained, _ = experiment.load_run(workdir)
  depths = config.model.track_depths
  fn = jax.jit(per_window_accuracy, static_argnums=(4, 5))
  out = {m: np.zeros((seeds, len(windows))) for m in METRICS}
  for s in range(seeds):
    for start in range(0, len(windows), batch):
      tokens = jnp.asarray(windows[start : start + batch])
      key = jax.random.fold_in(jax.random.key(1000 + s), start)
      for p, suffix in ((0.0, "teacher_forced"), (1.0, "sampled")):
        acc, ev = fn(trained.graphdef, trained.params, tokens, key, p, depths)
        out[f"accuracy_{suffix}"][s, start : start + len(tokens)] = np.asarray(acc)
        out[f"event_accuracy_{suffix}"][s, start : start + len(tokens)] = np.asarray(ev)
  return out


def paired_bootstrap(a: np.ndarray, b: np.ndarray, pieces: np.ndarray, draws: int,
                     seed: int = 0) -> tuple[float, float, float]:
  """Mean of a - b over windows and its 95% interval; a, b [seeds, N]; pieces [N] labels resampled with replacement."""
  diff = (a - b).mean(axis=0)
  labels, index = np.unique(pieces, return_inverse=True)
  sums, counts = np.bincount(index, diff, len(labels)), np.bincount(index, minlength=len(labels))
  picks = np.random.default_rng(seed).integers(0, len(labels), (draws, len(labels)))
  means = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)
  return float(diff.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def piece_windows(config, max_windows: int) -> tuple[np.ndarray, np.ndarray]:
  """The first max_windows test windows (as Table 1 scores them) and the piece each comes from."""
  from trajvae.music.tfds_notes import load_split_records

  data = config.data
  tokens, ids = load_split_records(experiment.dataset_name(data), data.source, str(pathlib.Path(data.data_dir).expanduser()),
                                   "test", data.max_pieces or None)
  return tokens[:max_windows], np.asarray(ids[:max_windows])


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
  config, _, _ = experiment.load_run(args.run_a)
  config_b, _, _ = experiment.load_run(args.run_b)
  if experiment.dataset_name(config.data) != experiment.dataset_name(config_b.data):
    raise ValueError(f"the runs use different data: {experiment.dataset_name(config.data)} vs "
                     f"{experiment.dataset_name(config_b.data)}")
  windows, pieces = piece_windows(config, args.max_windows)
  a = score_run(args.run_a, windows, args.seeds, args.batch)
  b = score_run(args.run_b, windows, args.seeds, args.batch)
  results = {"run_a": args.run_a, "run_b": args.run_b, "windows": len(windows), "pieces": len(set(pieces)),
             "seeds": args.seeds}
  for m in METRICS:
    diff, lo, hi = paired_bootstrap(a[m], b[m], pieces, args.draws)
    results[m] = {"a": float(a[m].mean()), "b": float(b[m].mean()), "a_minus_b": diff, "ci95": [lo, hi]}
    print(f"{m:32s} A {a[m].mean():.3f}  B {b[m].mean():.3f}  A-B {diff:+.4f}  95% CI [{lo:+.4f}, {hi:+.4f}]")
  out = pathlib.Path(args.out) if args.out else pathlib.Path(args.run_a).parent / "paired.json"
  out.write_text(json.dumps(results, indent=2))
  print(f"wrote {out}")


if __name__ == "__main__":
  main()
