"""Kingma & Welling's Figure 3 on Fashion-MNIST: marginal likelihood vs training samples, AEVB / wake-sleep / MCEM.

  python experiments/vae_fig3.py --out runs/experiment-vae-fig3 [--train-sizes 1000 50000]
      [--max-samples 1000000] [--eval-images 50]

N_z = 3 and 100 hidden units, as the paper's Figure 3; Adagrad, minibatch 100, weight decay 1/N_train.
AEVB and wake-sleep use the step sizes chosen by the Figure 2 pilot (runs/experiment-vae-fig2/
learning_rates.json, else 0.02); MCEM 0.02. MCEM: HMC with 10 leapfrog steps, step size adapted to 90%
acceptance, 5 decoder updates a minibatch (trajvae.vae.mcem).

The marginal likelihood of every method's decoder is one estimator (so that wake-sleep is not judged by
its encoder): HMC samples of each image's posterior (--hmc-burn 30 burn-in + 2 x --hmc-samples 30
transitions, 10 leapfrog steps),
a widened Gaussian fitted to half of them, and importance sampling with k = 5000 from it; the log of
the reciprocal estimator (1/p(x) ≈ mean r(z)/p(x,z) over the other half, our reading of the paper's
appendix D) is recorded beside it. For AEVB and wake-sleep the encoder-proposal IWAE (k = 5000) is
recorded too. Everything on the first --eval-images train and test images. Runs train in segments to
log-spaced sample counts and resume from their checkpoints.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import jax
from matplotlib.figure import Figure
from vae_fig2 import BATCH, COLOURS, LABELS

from trajvae.config import override
from trajvae.vae import commands, mcem
from trajvae.vae.configs import fashion_mnist_config
from trajvae.vae.data import load_dataset
from trajvae.vae.plots import plot_train_test_curves

METHODS = ("aevb", "wake_sleep", "mcem")


def sample_points(max_samples: int) -> list[int]:
  """Powers of ten from 10^4 below max_samples, then max_samples (the HMC estimator makes each point costly)."""
  return [10**e for e in range(4, 10) if 10**e < max_samples] + [max_samples]


def run_config(method: str, train_size: int, learning_rate: float, steps: int):
  config = fashion_mnist_config(
    latent_dim=3, hidden_dim=100, algorithm=method, learning_rate=learning_rate, train_size=train_size, steps=steps
  )
  return override(config, ["train.checkpoint_every=1000000", "train.log_every=1000"])


def marginal_likelihoods(
  method: str, config, workdir: pathlib.Path, num_train: int, images: dict, num_burn: int, num_samples: int
) -> dict:
  """The HMC-fitted importance estimate (and the reciprocal and encoder IWAE ones) on each split's images."""
  if method == "mcem":
    graphdef, params, step = mcem.load_params(config, workdir, num_train)
  else:
    run = commands.load_run(workdir)
    _, graphdef, params, step = run.config, run.graphdef, run.params, run.step
  out = {"step": step, "samples": step * BATCH}
  for split, x in images.items():
    est = mcem.hmc_importance_log_likelihood(
      graphdef, params, x, jax.random.key(7), num_burn=num_burn, num_samples=num_samples, k=5000, batch_size=100
    )
    out[f"{split}_log_px"] = est["importance"]
    out[f"{split}_reciprocal"] = est["reciprocal"]
    out[f"{split}_acceptance"] = est["acceptance"]
    if method != "mcem":
      iwae = commands.evaluate_params(graphdef, params, x, 2, config.eval, 5000)
      out[f"{split}_iwae_encoder"] = iwae["iwae"]
      out[f"{split}_elbo"] = iwae["elbo"]
  return out


def figure(curves: dict, train_sizes: list[int]) -> Figure:
  """Figure 3: marginal log-likelihood vs samples evaluated, one panel per training-set size."""
  panels = {f"N_train = {n:,}, N_z = 3": {m: curves.get(f"{m}-n{n}", []) for m in METHODS} for n in train_sizes}
  return plot_train_test_curves(
    panels,
    train_key="train_log_px",
    test_key="test_log_px",
    ylabel="marginal log-likelihood (nats / image)",
    colours=COLOURS,
    labels=LABELS,
    panel_width=3.6,
  )


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument("--out", default="runs/experiment-vae-fig3")
  parser.add_argument("--train-sizes", type=int, nargs="+", default=[1000, 50000])
  parser.add_argument("--max-samples", type=int, default=1_000_000)
  parser.add_argument("--levels", type=int, nargs="+", default=[100_000, 300_000, 1_000_000, 10_000_000])
  parser.add_argument("--eval-images", type=int, default=50)
  parser.add_argument("--hmc-burn", type=int, default=30, help="HMC burn-in transitions of the estimator")
  parser.add_argument(
    "--hmc-samples", type=int, default=30, help="HMC samples for the fit (and as many for the reciprocal)"
  )
  parser.add_argument("--data-dir", default=None)
  parser.add_argument("--rates", default="runs/experiment-vae-fig2/learning_rates.json")
  args = parser.parse_args()
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  rates = {"aevb": 0.02, "wake_sleep": 0.02, "mcem": 0.02}
  if pathlib.Path(args.rates).exists():
    rates.update(json.loads(pathlib.Path(args.rates).read_text())["chosen"])
  print(f"learning rates: {rates}", flush=True)

  def data_config(size):
    config = run_config("aevb", size, 0.02, 1).data
    return type(config)(**{**config.__dict__, "data_dir": args.data_dir}) if args.data_dir else config

  datasets = {size: load_dataset(data_config(size)) for size in args.train_sizes}
  curves_path = out / "curves.json"
  curves = json.loads(curves_path.read_text()) if curves_path.exists() else {}
  points = sample_points(args.max_samples)
  started = time.time()
  for level in sorted({min(v, args.max_samples) for v in args.levels} | {args.max_samples}):
    for size in args.train_sizes:
      dataset = datasets[size]
      images = {"train": dataset.train_images[: args.eval_images], "test": dataset.test_images[: args.eval_images]}
      for method in METHODS:
        name = f"{method}-n{size}"
        reached = max((p["samples"] for p in curves.get(name, [])), default=0)
        for samples in (p for p in points if reached < p <= level):
          t = time.time()
          config = run_config(method, size, rates[method], samples // BATCH)
          commands.train(config, out / name, verbose=False, dataset=dataset)  # MCEM by loss.algorithm
          train_s = time.time() - t
          estimates = marginal_likelihoods(method, config, out / name, size, images, args.hmc_burn, args.hmc_samples)
          point = {**estimates, "segment_s": train_s, "eval_s": time.time() - t - train_s}
          curves.setdefault(name, []).append(point)
          curves_path.write_text(json.dumps(curves, indent=2))
          print(
            f"{name} @ {samples:.0e}: train {point['train_log_px']:.2f} test {point['test_log_px']:.2f} "
            f"(train {train_s:.0f} s, eval {point['eval_s']:.0f} s)",
            flush=True,
          )
    figure(curves, args.train_sizes).savefig(out / "fig3.png", dpi=110)
  summary = {name: points[-1] for name, points in curves.items()}
  (out / "summary.json").write_text(
    json.dumps({"final": summary, "learning_rates": rates, "wall_s_this_invocation": time.time() - started}, indent=2)
  )
  print(json.dumps(summary, indent=2))


if __name__ == "__main__":
  main()
