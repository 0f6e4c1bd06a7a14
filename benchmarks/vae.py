"""VAE training throughput and compile time for the MNIST-size model (784-500-20, Bernoulli).

Runs unchanged on CPU, GPU or TPU and on any number of local devices (the step
is the shared data-parallel one). Prints a table and writes JSON.

  python benchmarks/vae.py [--batch-sizes 100 1024] [--steps 200] [--out benchmarks/results/vae.json]
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

from trajvae.config import override
from trajvae.train import sharding
from trajvae.train.optim import make_optimizer
from trajvae.train.supervised import init_train_state, jit_data_parallel, make_train_step
from trajvae.vae import commands
from trajvae.vae.model import init_model

from common import mfu, peak_memory_mb, report, time_train_step


def bench(batch_size: int, steps: int, peak: float | None = None) -> dict:
  config = override(commands.PRESETS["binarized_mnist"](), [f"train.batch_size={batch_size}"])
  graphdef, params = init_model(config.model, 0)
  tx = make_optimizer(config.optim)
  mesh = sharding.data_mesh()
  state = sharding.replicate(init_train_state(params, tx), mesh)
  step_fn = jit_data_parallel(make_train_step(graphdef, commands.make_loss_fn(config, 2), tx), mesh)
  rng = np.random.default_rng(0)
  batch = sharding.shard_batch({"image": (rng.random((batch_size, 784)) < 0.13).astype(np.float32)}, mesh)
  key = jax.random.key(0)

  compile_s, elapsed, state = time_train_step(step_fn, state, batch, key, steps)
  # Forward + backward of the two MLPs: ~3 x 2 x (784*500 + 500*40 + 20*500 + 500*784) FLOPs per example.
  flops_per_example = 6 * (784 * 500 + 500 * 40 + 20 * 500 + 500 * 784)
  return {
    "batch_size": batch_size,
    "compile_s": round(compile_s, 3),
    "steps_per_s": round(steps / elapsed, 1),
    "examples_per_s": round(steps * batch_size / elapsed, 0),
    "gflops_per_s": round(steps * batch_size * flops_per_example / elapsed / 1e9, 2),
    "mfu": mfu(steps * batch_size * flops_per_example / elapsed, peak),
    "peak_memory_mb": round(peak_memory_mb(), 1),
  }


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--batch-sizes", type=int, nargs="+", default=[100, 1024])
  parser.add_argument("--steps", type=int, default=200)
  parser.add_argument("--out", default="benchmarks/results/vae.json")
  parser.add_argument(
    "--peak-tflops", type=float, help="per-device peak for MFU (default: a table of known accelerators)"
  )
  args = parser.parse_args()
  rows = [bench(b, args.steps, args.peak_tflops) for b in args.batch_sizes]
  report("VAE 784-500-20 Bernoulli, Adagrad", rows, args.out)


if __name__ == "__main__":
  main()
