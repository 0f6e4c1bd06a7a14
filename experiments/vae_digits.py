"""The README's digits table: test ELBO and IWAE (k=5000) per latent size and likelihood, over seeds.

  python experiments/vae_digits.py --out runs/experiment-vae [--seeds 0 1 2] [--steps 20000]

Each run is a normal `trajvae train vae` run in its own workdir (so it resumes
if interrupted); the script then evaluates each and writes results.json and a
markdown table.
"""

from __future__ import annotations

import argparse
import json
import pathlib

import numpy as np

from trajvae.config import override
from trajvae.vae import commands

SETTINGS = [
  ("digits-2d", "binarized, Bernoulli, z=2"),
  ("digits", "binarized, Bernoulli, z=10"),
  ("digits-20", "binarized, Bernoulli, z=20"),
  ("digits-gaussian", "continuous, Gaussian, z=10"),
]


def config_for(name: str, seed: int, steps: int):
  base = commands.PRESETS["digits" if name == "digits-20" else name]()
  sets = [f"train.seed={seed}", f"train.steps={steps}", "train.eval_every=0"]
  if name == "digits-20":
    sets.append("model.latent_dim=20")
  return override(base, sets)


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument("--out", default="runs/experiment-vae")
  parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
  parser.add_argument("--steps", type=int, default=20_000)
  parser.add_argument("--iwae-samples", type=int, default=5000)
  args = parser.parse_args()
  out = pathlib.Path(args.out)
  results = {}
  for name, _ in SETTINGS:
    for seed in args.seeds:
      workdir = out / f"{name}-seed{seed}"
      commands.train(config_for(name, seed, args.steps), workdir, verbose=False)
      metrics = commands.evaluate(workdir, [f"eval.iwae_samples={args.iwae_samples}"])
      results.setdefault(name, []).append(metrics)
      print(f"{name} seed {seed}: ELBO {metrics['elbo']:.2f} IWAE {metrics['iwae']:.2f}", flush=True)
  (out / "results.json").write_text(json.dumps(results, indent=2))
  lines = [
    f"| data / model | test ELBO (nats) | test log p(x), IWAE k={args.iwae_samples} (nats) |",
    "|---|---|---|",
  ]
  for name, description in SETTINGS:
    elbo = np.array([m["elbo"] for m in results[name]])
    iwae = np.array([m["iwae"] for m in results[name]])
    lines.append(f"| {description} | {elbo.mean():.2f} ± {elbo.std():.2f} | {iwae.mean():.2f} ± {iwae.std():.2f} |")
  table = "\n".join(lines)
  (out / "table.md").write_text(table + "\n")
  print(table)


if __name__ == "__main__":
  main()
