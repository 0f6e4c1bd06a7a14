"""MusicVAE's latent-space studies (Roberts et al. 2018, §5) on a trained melody run.

1. Interpolation: >= 100 pairs of held-out windows, latent-space (slerp between
   posterior means, decoded) vs data-space (tokens switched in proportion);
   Hamming distance to start and end and ELBO of every interpolant.
2. Attribute vectors: the five melody attributes, one vector each (top minus
   bottom quartile of the training windows' posterior means), added to
   held-out encodings -> 5 x 5 relative-change matrix; and a magnitude sweep
   of one vector.

Writes interpolation.png, attribute_matrix.png, attribute_sweep.png,
interpolation_example.png and latent_studies.json into --out (default
WORKDIR/latent_studies), and prints a summary.

  python experiments/musicvae_latent_studies.py runs/latent-2bar [--pairs 128] [--temperature 0.5]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import jax
import numpy as np

from trajvae.music import commands, latent_plots, latent_studies
from trajvae.music.attributes import ATTRIBUTES, LABELS
from trajvae.music.data.loading import load_windows


def parse_args(argv=None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("workdir", help="a trained melody MusicVAE run (trajvae train musicvae ...)")
  parser.add_argument("--out", help="output folder (default WORKDIR/latent_studies)")
  parser.add_argument("--pairs", type=int, default=128, help="held-out interpolation pairs")
  parser.add_argument("--amounts", type=int, default=11, help="interpolation amounts, evenly from 0 to 1")
  parser.add_argument("--heldout", type=int, default=512, help="held-out windows the attribute vectors are added to")
  parser.add_argument("--max-train", type=int, default=0, help="training windows for the vectors (0: all)")
  parser.add_argument("--temperature", type=float, default=0.5, help="decoder sampling temperature")
  parser.add_argument("--elbo-samples", type=int, default=4, help="z samples per ELBO estimate")
  parser.add_argument("--scale", type=float, default=1.0, help="multiple of each vector for the 5 x 5 matrix")
  parser.add_argument("--sweep", default="note_density", choices=list(ATTRIBUTES), help="attribute to sweep")
  parser.add_argument("--magnitudes", default="-2,-1.5,-1,-0.5,0,0.5,1,1.5,2", help="comma-separated sweep")
  parser.add_argument("--batch", type=int, default=256)
  parser.add_argument("--seed", type=int, default=0)
  return parser.parse_args(argv)


def finite_or_none(value):
  """The same nested lists and dicts with NaN / inf numbers as None (strict JSON)."""
  if isinstance(value, dict):
    return {k: finite_or_none(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [finite_or_none(v) for v in value]
  if isinstance(value, float) and not np.isfinite(value):
    return None
  return value


def summarise(values: np.ndarray) -> dict[str, list[float]]:
  """Mean and standard deviation over the first axis of [P, A] -> lists per amount."""
  return {"mean": np.nanmean(values, 0).round(5).tolist(), "std": np.nanstd(values, 0).round(5).tolist()}


def main(argv=None) -> dict:
  args = parse_args(argv)
  started = time.time()
  run = commands.load_run(args.workdir)
  config, trained, step = run.config, run.api, run.step
  if config.data.encoding != "melody":
    raise ValueError(f"the latent studies use the melody attributes; this run's data is {config.data.encoding!r}")
  out = pathlib.Path(args.out) if args.out else pathlib.Path(args.workdir) / "latent_studies"
  out.mkdir(parents=True, exist_ok=True)
  rng = np.random.default_rng(args.seed)
  key = jax.random.key(args.seed)
  interp_key, attr_key, sweep_key = jax.random.split(key, 3)
  heldout = load_windows(config.data, config.eval.split)
  train = load_windows(config.data, "train")
  if args.max_train and len(train) > args.max_train:
    train = train[rng.choice(len(train), args.max_train, replace=False)]
  names = tuple(ATTRIBUTES)
  labels = [LABELS[n] for n in names]

  # 1. Interpolation.
  amounts = np.linspace(0.0, 1.0, args.amounts)
  starts, ends = latent_studies.pick_pairs(heldout, args.pairs, rng)
  interp = latent_studies.interpolation_study(
    trained, starts, ends, amounts, interp_key, args.temperature, args.elbo_samples, args.seed, args.batch
  )
  latent_plots.save_interpolation(
    amounts,
    interp,
    out / "interpolation.png",
    f"{args.pairs} held-out pairs, model at step {step}, decoder T={args.temperature} (mean, band = +-1 s.d.)",
  )
  _example_strip(config, interp, amounts, out / "interpolation_example.png")

  # 2. Attribute vectors and the 5 x 5 matrix.
  chosen = heldout[rng.choice(len(heldout), min(args.heldout, len(heldout)), replace=False)]
  attr = latent_studies.attribute_study(
    trained, train, chosen, attr_key, args.temperature, args.scale, seed=args.seed, batch=args.batch, names=names
  )
  latent_plots.save_attribute_matrix(
    attr["change"],
    labels,
    out / "attribute_matrix.png",
    f"vector x {args.scale:g} added to {len(chosen)} held-out encodings (step {step}, T={args.temperature})",
  )

  # 3. Magnitude sweep of one vector.
  magnitudes = np.array([float(m) for m in args.magnitudes.split(",")])
  swept = names.index(args.sweep)
  if np.isnan(attr["vectors"][swept]).any():
    raise ValueError(f"{args.sweep} does not vary over the training windows; sweep another attribute")
  sweep = latent_studies.shifted_attributes(
    trained, attr["heldout_mu"], attr["vectors"][swept], magnitudes, sweep_key, args.temperature, args.batch, names
  )
  latent_plots.save_sweep(
    magnitudes,
    sweep,
    labels,
    swept,
    out / "attribute_sweep.png",
    f"{LABELS[args.sweep]} vector, {len(chosen)} held-out encodings (step {step})",
  )

  results = {
    "workdir": str(args.workdir),
    "step": step,
    "model": {"z_size": trained.config.z_size, "decoder": trained.config.decoder},
    "temperature": args.temperature,
    "seed": args.seed,
    "heldout_split": config.eval.split,
    "interpolation": {
      "pairs": args.pairs,
      "amounts": amounts.round(5).tolist(),
      "elbo_samples": args.elbo_samples,
      **{
        method: {key: summarise(interp[method][key]) for key in ("distance_to_start", "distance_to_end", "elbo")}
        for method in ("latent", "data")
      },
      "heldout_elbo": summarise(interp["data"]["elbo"][:, :1])["mean"][0],
    },
    "attributes": {
      "names": list(names),
      "train_windows": len(train),
      "heldout_windows": len(chosen),
      "scale": args.scale,
      "train_mean": np.nanmean(attr["train_values"], 0).round(5).tolist(),
      "heldout_input_mean": np.nanmean(attr["inputs"], 0).round(5).tolist(),
      "decoded_mean": np.nanmean(attr["decoded"], 0).round(5).tolist(),
      "vector_norms": np.linalg.norm(attr["vectors"], axis=1).round(4).tolist(),
      "relative_change": np.round(attr["change"], 5).tolist(),
    },
    "sweep": {
      "attribute": args.sweep,
      "magnitudes": magnitudes.tolist(),
      "mean": np.nanmean(sweep, 1).round(5).tolist(),
      "std": np.nanstd(sweep, 1).round(5).tolist(),
    },
    "wall_seconds": round(time.time() - started, 1),
  }
  (out / "latent_studies.json").write_text(json.dumps(finite_or_none(results), indent=2, allow_nan=False))
  _print_summary(results, labels, out)
  return results


def _example_strip(config, interp: dict, amounts: np.ndarray, path: pathlib.Path) -> None:
  """Piano rolls of the first pair's two paths: latent row above, data row below."""
  from trajvae.music import plots
  from trajvae.music.data.encodings import get_converter

  converter = get_converter(config.data.encoding, config.data.num_bars)
  picks = np.unique(np.linspace(0, len(amounts) - 1, min(len(amounts), 6)).round().astype(int))
  seqs, titles = [], []
  for method in ("latent", "data"):
    for i in picks:
      seqs.append(converter.from_tensors(interp[method]["tokens"][0, i]))
      titles.append(f"{method} t={amounts[i]:.2f}")
  plots.save_piano_rolls(seqs, path, titles, columns=len(picks))


def _print_summary(results: dict, labels: list[str], out: pathlib.Path) -> None:
  interp = results["interpolation"]
  mid = len(interp["amounts"]) // 2
  print(
    f"model step {results['step']}, T={results['temperature']}, {interp['pairs']} pairs; at amount "
    f"{interp['amounts'][mid]:.2f}:"
  )
  for method in ("latent", "data"):
    m = interp[method]
    print(
      f"  {method:6s} Hamming to start {m['distance_to_start']['mean'][mid]:.3f} "
      f"(ends {m['distance_to_start']['mean'][0]:.3f} -> {m['distance_to_start']['mean'][-1]:.3f}), "
      f"ELBO {m['elbo']['mean'][mid]:.1f} nats (ends {m['elbo']['mean'][0]:.1f} / {m['elbo']['mean'][-1]:.1f})"
    )
  change = np.array(results["attributes"]["relative_change"])
  print("attribute vectors, relative change of the mean (row: vector added, column: attribute measured):")
  print("  " + " ".join(f"{name[:12]:>12s}" for name in labels))
  for name, row in zip(labels, change):
    print(f"  {name[:18]:18s} " + " ".join(f"{v * 100:+11.0f}%" for v in row))
  sweep = results["sweep"]
  k = results["attributes"]["names"].index(sweep["attribute"])
  print(
    f"sweep of {sweep['attribute']}: "
    + ", ".join(f"{m:+g}: {row[k]:.3f}" for m, row in zip(sweep["magnitudes"], sweep["mean"]))
  )
  print(f"wrote {out} ({results['wall_seconds']} s)")


if __name__ == "__main__":
  main()
