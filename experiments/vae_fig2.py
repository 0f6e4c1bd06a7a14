"""Kingma & Welling's Figure 2: the lower bound against training samples, AEVB vs wake-sleep, seeds as units.

  python experiments/vae_fig2.py --out runs/experiment-vae-fig2 [--latents 3 5 10 20 200]
      [--max-samples 1000000] [--iwae-images 500] [--seeds 0 1 2]
  python experiments/vae_fig2.py --dataset digits --out runs/experiment-vae-digits-fig2 --latents 3 5 10 20
      --max-samples 2000000 --seeds 0 1 2 --levels 2000000

--dataset fashion_mnist (default) is the paper's MNIST set-up on Fashion-MNIST; --dataset digits is the
same comparison on the bundled 8x8 digits (configs.digits_config: 64-200-N_z, Adagrad, minibatch 100;
bounds on all train and test images), which runs in minutes. Seed 0's runs are named {algorithm}-z{N_z},
the others {algorithm}-z{N_z}-s{seed}; the curves drawn are the means over the seeds a run has reached,
and summary.json holds the AEVB - wake-sleep gap per seed.

Set-up as the paper's §5: 784-500-N_z tanh MLPs, Adagrad with the step size picked from {0.01, 0.02, 0.1}
by the train bound after the first 500 iterations (a pilot at N_z = 10, per algorithm), minibatch 100,
L = 1, N(0, 0.01^2) init, weight decay from an N(0, I) prior. Both algorithms' bounds are the same SGVB
estimate (one reparameterised sample, analytic KL), on 5,000 train images (solid) and the 10,000 test
images (dashed). Every run is a normal `trajvae train vae` workdir trained in segments up to log-spaced
sample counts, so the script resumes from the last checkpoint; the budgets grow breadth-first (all runs
to 10^5, then 10^6, ...) so a stopped script leaves every run at comparable sample counts.
After training: Figure 5 (decoder means of prior samples, AEVB, each N_z) and, with --iwae-images,
IWAE (k = 5000) test log-likelihoods of the final models on the first that many test images.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import jax
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from trajvae.config import override
from trajvae.vae import commands
from trajvae.vae.configs import VAEEvalConfig, digits_config, fashion_mnist_config
from trajvae.vae.data import load_dataset
from trajvae.vae.plots import plot_train_test_curves

ALGORITHMS = ("aevb", "wake_sleep")
LABELS = {"aevb": "AEVB", "wake_sleep": "wake-sleep", "mcem": "MCEM (HMC)"}
COLOURS = {"aevb": "tab:red", "wake_sleep": "tab:blue", "mcem": "tab:green"}
LEARNING_RATES = (0.01, 0.02, 0.1)
BATCH = 100


def sample_points(max_samples: int) -> list[int]:
  """Log-spaced sample counts 1, 3 x 10^k from 10^4 up to max_samples (always included)."""
  points = [m * 10**e for e in range(4, 10) for m in (1, 3) if m * 10**e < max_samples]
  return points + [max_samples]


DATASETS = ("fashion_mnist", "digits")
TITLES = {
  "fashion_mnist": "Fashion-MNIST, binarised: lower bound vs samples",
  "digits": "8x8 digits, binarised: lower bound vs samples",
}


def run_config(
  algorithm: str, latent_dim: int, learning_rate: float, steps: int, seed: int = 0, dataset: str = "fashion_mnist"
):
  if dataset == "digits":
    config = override(
      digits_config(latent_dim=latent_dim, steps=steps),
      [f"loss.algorithm={algorithm}", f"optim.learning_rate={learning_rate}", "train.eval_every=0"],
    )
  else:
    config = fashion_mnist_config(latent_dim=latent_dim, algorithm=algorithm, learning_rate=learning_rate, steps=steps)
  return override(config, [f"train.seed={seed}", "train.checkpoint_every=1000000", "train.log_every=1000"])


def run_name(algorithm: str, latent_dim: int, seed: int = 0) -> str:
  """Seed 0 keeps the single-seed name, so earlier runs resume."""
  return f"{algorithm}-z{latent_dim}" + (f"-s{seed}" if seed else "")


def seed_mean_curves(curves: dict, latents: list[int], seeds: list[int]) -> dict:
  """{algorithm-z{N_z}: points} averaged over the seeds, at the sample counts every seed's run has reached."""
  out = {}
  for nz in latents:
    for algorithm in ALGORITHMS:
      runs = [{p["samples"]: p for p in curves.get(run_name(algorithm, nz, s), [])} for s in seeds]
      common = sorted(set.intersection(*(set(r) for r in runs))) if runs else []
      keys = ("train_elbo", "test_elbo")
      out[run_name(algorithm, nz)] = [
        {"samples": n, **{k: float(np.mean([r[n][k] for r in runs])) for k in keys}} for n in common
      ]
  return out


def dedupe(curves: dict) -> dict:
  """One point per (run, sample count), the first recorded, in increasing sample order."""
  out = {}
  for name, points in curves.items():
    seen = {}
    for point in points:
      seen.setdefault(point["samples"], point)
    out[name] = [seen[k] for k in sorted(seen)]
  return out


def bounds(workdir: pathlib.Path, train_images: np.ndarray, test_images: np.ndarray) -> dict[str, float]:
  """The SGVB bound (nats per image) of a run's latest checkpoint on the train subset and the test set."""
  run = commands.load_run(workdir)
  config, graphdef, params, step = run.config, run.graphdef, run.params, run.step
  elbo = lambda images: commands.evaluate_params(graphdef, params, images, 2, config.eval, 0)["elbo"]
  return {"step": step, "samples": step * BATCH, "train_elbo": elbo(train_images), "test_elbo": elbo(test_images)}


def pick_learning_rates(
  out: pathlib.Path, dataset, train_images: np.ndarray, steps: int = 500, data: str = "fashion_mnist"
) -> dict[str, float]:
  """The paper's rule: the Adagrad step size with the best train bound after the first iterations (cached)."""
  path = out / "learning_rates.json"
  if path.exists():
    return json.loads(path.read_text())["chosen"]
  pilot = {}
  for algorithm in ALGORITHMS:
    for lr in LEARNING_RATES:
      workdir = out / "pilot" / f"{algorithm}-lr{lr}"
      commands.train(run_config(algorithm, 10, lr, steps, dataset=data), workdir, verbose=False, dataset=dataset)
      pilot[f"{algorithm}/{lr}"] = bounds(workdir, train_images, train_images[:100])["train_elbo"]
      print(f"pilot {algorithm} lr {lr}: train bound {pilot[f'{algorithm}/{lr}']:.2f}", flush=True)
  chosen = {a: max(LEARNING_RATES, key=lambda lr: pilot[f"{a}/{lr}"]) for a in ALGORITHMS}
  path.write_text(json.dumps({"pilot_steps": steps, "latent_dim": 10, "train_elbo": pilot, "chosen": chosen}, indent=2))
  return chosen


def curve_figure(curves: dict, latents: list[int], algorithms=ALGORITHMS, title: str = "") -> Figure:
  """One panel per N_z: bound vs samples evaluated (log x), train solid, test dashed, one colour per algorithm."""
  panels = {f"N_z = {nz}": {a: curves.get(f"{a}-z{nz}", []) for a in algorithms} for nz in latents}
  return plot_train_test_curves(
    panels,
    train_key="train_elbo",
    test_key="test_elbo",
    ylabel="lower bound (nats / image)",
    colours=COLOURS,
    labels=LABELS,
    focus_after=100_000,
    title=title,
  )


def samples_figure(workdirs: dict[int, pathlib.Path], num: int = 64, seed: int = 0, side_px: int = 28) -> Figure:
  """Figure 5: decoder means of z ~ N(0, I), one 8x8 mosaic per N_z."""
  from flax import nnx

  from trajvae.vae.plots import tile_images

  fig = Figure(figsize=(2.6 * len(workdirs), 2.9), layout="constrained")
  axes = fig.subplots(1, len(workdirs), squeeze=False)[0]
  side = int(np.sqrt(num))
  for ax, (nz, workdir) in zip(axes, workdirs.items()):
    run = commands.load_run(workdir)
    graphdef, params = run.graphdef, run.params
    model = nnx.merge(graphdef, params)
    z = jax.random.normal(jax.random.key(seed), (side * side, nz))
    images = np.asarray(model.decode_mean(z)).reshape(-1, side_px, side_px)
    ax.imshow(tile_images(images, side, side), cmap="gray", vmin=0, vmax=1)
    ax.set_title(f"N_z = {nz}")
    ax.axis("off")
  return fig


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument("--dataset", choices=DATASETS, default="fashion_mnist")
  parser.add_argument("--out", default="runs/experiment-vae-fig2")
  parser.add_argument("--latents", type=int, nargs="+", default=[3, 5, 10, 20, 200])
  parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds per (algorithm, N_z)")
  parser.add_argument("--max-samples", type=int, default=1_000_000)
  parser.add_argument(
    "--levels",
    type=int,
    nargs="+",
    default=[100_000, 1_000_000, 3_000_000, 10_000_000],
    help="breadth-first budgets (samples); those above --max-samples are dropped",
  )
  parser.add_argument("--pilot-steps", type=int, default=500, help="iterations of the step-size pilot")
  parser.add_argument("--iwae-images", type=int, default=0, help="test images for the IWAE k=5000 table (0: none)")
  parser.add_argument("--data-dir", default=None, help="Fashion-MNIST's folder of idx.gz files")
  parser.add_argument(
    "--figure5-only",
    action="store_true",
    help="draw Figure 5 from the existing AEVB runs (training only those that are missing)",
  )
  args = parser.parse_args()
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  data_config = run_config("aevb", 3, 0.02, 1, dataset=args.dataset).data
  if args.data_dir:
    data_config = type(data_config)(**{**data_config.__dict__, "data_dir": args.data_dir})
  dataset = load_dataset(data_config)
  side_px = int(round(np.sqrt(dataset.train_images.shape[-1])))
  train_eval = dataset.train_images[:5000]  # digits: all 1,437 train images
  test_eval = dataset.test_images
  started = time.time()
  rates = pick_learning_rates(out, dataset, train_eval, args.pilot_steps, args.dataset)
  print(f"learning rates: {rates}", flush=True)
  curves_path = out / "curves.json"
  curves = dedupe(json.loads(curves_path.read_text())) if curves_path.exists() else {}
  points = sample_points(args.max_samples)

  def advance(algorithm: str, nz: int, seed: int, level: int) -> None:
    """Train one run through the sample points up to level, recording its bounds at each."""
    name = run_name(algorithm, nz, seed)
    reached = max((p["samples"] for p in curves.get(name, [])), default=0)
    for samples in (p for p in points if reached < p <= level):
      t = time.time()
      config = run_config(algorithm, nz, rates[algorithm], samples // BATCH, seed, args.dataset)
      commands.train(config, out / name, verbose=False, dataset=dataset)
      point = {**bounds(out / name, train_eval, test_eval), "segment_s": time.time() - t}
      curves.setdefault(name, []).append(point)
      curves_path.write_text(json.dumps(curves, indent=2))
      print(
        f"{name} @ {samples:.0e}: train {point['train_elbo']:.2f} test {point['test_elbo']:.2f} "
        f"({point['segment_s']:.0f} s)",
        flush=True,
      )

  if args.figure5_only:  # the AEVB runs of seed 0 only; Figure 2's picture and summary are left alone
    for nz in args.latents:
      if not (out / f"aevb-z{nz}" / "checkpoints").exists():
        advance("aevb", nz, 0, args.max_samples)
    aevb_runs = {nz: out / f"aevb-z{nz}" for nz in args.latents}
    samples_figure(aevb_runs, side_px=side_px).savefig(out / "fig5_samples.png", dpi=110)
    print(f"wrote {out / 'fig5_samples.png'}")
    return

  levels = sorted({min(level, args.max_samples) for level in args.levels} | {args.max_samples})
  for level in levels:
    for seed in args.seeds:
      for nz in args.latents:
        for algorithm in ALGORITHMS:
          advance(algorithm, nz, seed, level)
    title = TITLES[args.dataset] + (
      f" (mean of seeds {', '.join(map(str, args.seeds))})" if len(args.seeds) > 1 else ""
    )
    fig = curve_figure(seed_mean_curves(curves, args.latents, args.seeds), args.latents, title=title)
    fig.savefig(out / "fig2.png", dpi=110)

  summary = summarise(curves, args.latents, args.seeds)
  summary["wall_s_this_invocation"] = time.time() - started
  summary["learning_rates"] = rates
  summary["dataset"] = args.dataset
  aevb_runs = {nz: out / f"aevb-z{nz}" for nz in args.latents if (out / f"aevb-z{nz}").exists()}
  samples_figure(aevb_runs, side_px=side_px).savefig(out / "fig5_samples.png", dpi=110)
  if args.iwae_images:
    summary["iwae_k5000"] = iwae_table(out, args.latents, test_eval[: args.iwae_images])
  (out / "summary.json").write_text(json.dumps(summary, indent=2))
  print(json.dumps(summary, indent=2))
  if len(args.seeds) > 1:
    print(seed_table(summary), flush=True)


def summarise(curves: dict, latents: list[int], seeds: list[int] = (0,)) -> dict:
  """AEVB minus wake-sleep test bound (nats/image) per seed: at 10^6 samples and at the last common count.

  "gaps" keeps seed 0's entry under each N_z (as single-seed summaries had it); "seeds" holds every seed's,
  and "over_seeds" the mean and sample std over the seeds of the bounds and the gap at the largest sample
  count every seed has reached.
  """
  per_seed: dict[str, dict[str, dict]] = {}
  for nz in latents:
    for seed in seeds:
      a = {p["samples"]: p for p in curves.get(run_name("aevb", nz, seed), [])}
      w = {p["samples"]: p for p in curves.get(run_name("wake_sleep", nz, seed), [])}
      common = sorted(set(a) & set(w))
      if not common:
        continue
      last = common[-1]
      per_seed.setdefault(str(nz), {})[str(seed)] = {
        "last_samples": last,
        "aevb_test": a[last]["test_elbo"],
        "wake_sleep_test": w[last]["test_elbo"],
        "gap_at_last": a[last]["test_elbo"] - w[last]["test_elbo"],
        "gap_at_1e6": a[1_000_000]["test_elbo"] - w[1_000_000]["test_elbo"] if 1_000_000 in common else None,
        "aevb_train_seconds": sum(p["segment_s"] for p in a.values()),
        "wake_sleep_train_seconds": sum(p["segment_s"] for p in w.values()),
      }
  over_seeds = {}
  for nz, runs in per_seed.items():
    common = min(r["last_samples"] for r in runs.values())  # the largest count every seed has reached
    at = lambda algorithm, seed, n=nz, c=common: test_bound_at(curves, run_name(algorithm, int(n), int(seed)), c)
    aevb = [at("aevb", seed) for seed in runs]
    wake_sleep = [at("wake_sleep", seed) for seed in runs]
    gaps = [a - w for a, w in zip(aevb, wake_sleep)]
    over_seeds[nz] = {
      "samples": common,
      "seeds": len(runs),
      "aevb_test": mean_std(aevb),
      "wake_sleep_test": mean_std(wake_sleep),
      "gap": mean_std(gaps),
      "gaps": gaps,
      "aevb_above_in_every_seed": all(g > 0 for g in gaps),
    }
  gaps = {nz: runs["0"] for nz, runs in per_seed.items() if "0" in runs}
  return {"gaps": gaps, "seeds": per_seed, "over_seeds": over_seeds}


def test_bound_at(curves: dict, name: str, samples: int) -> float:
  """A run's test bound at a sample count it has reached."""
  return next(p["test_elbo"] for p in curves[name] if p["samples"] == samples)


def mean_std(values: list[float]) -> tuple[float, float]:
  """Mean and sample standard deviation (0 for one value)."""
  return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def seed_table(summary: dict) -> str:
  """The over-seeds rows as a Markdown table (README)."""
  rows = [
    "| N_z | samples | AEVB test bound (mean ± std) | wake-sleep test bound | AEVB - wake-sleep per seed (nats) | seeds above |",
    "|---|---|---|---|---|---|",
  ]
  for nz, r in summary["over_seeds"].items():
    (am, asd), (wm, wsd) = r["aevb_test"], r["wake_sleep_test"]
    above = sum(g > 0 for g in r["gaps"])
    per = ", ".join(f"{g:+.2f}" for g in r["gaps"])
    rows.append(
      f"| {nz} | {r['samples']:.0e} | {am:.2f} ± {asd:.2f} | {wm:.2f} ± {wsd:.2f} | {per} | {above}/{r['seeds']} |"
    )
  return "\n".join(rows)


def iwae_table(out: pathlib.Path, latents: list[int], images: np.ndarray) -> dict:
  """IWAE (k = 5000) test log-likelihood of each final model on the given test images (cached per run)."""
  table = {}
  for nz in latents:
    for algorithm in ALGORITHMS:
      workdir = out / f"{algorithm}-z{nz}"
      cache = workdir / f"iwae5000_{len(images)}.json"
      if not cache.exists():
        run = commands.load_run(workdir)
        graphdef, params, step = run.graphdef, run.params, run.step
        t = time.time()
        metrics = commands.evaluate_params(
          graphdef, params, images, 2, VAEEvalConfig(iwae_chunk=250, batch_size=50), 5000
        )
        cache.write_text(json.dumps({"step": step, "num_images": len(images), **metrics, "seconds": time.time() - t}))
      table[f"{algorithm}-z{nz}"] = json.loads(cache.read_text())
      print(f"{algorithm} z{nz}: IWAE {table[f'{algorithm}-z{nz}']['iwae']:.2f}", flush=True)
  return table


if __name__ == "__main__":
  plt.rcParams.update({"font.size": 8})
  main()
