"""Examples/s of the AEVB and wake-sleep training steps at the paper's 784-500-N_z, beside the machine's matmul rate.

Both steps are the shared data-parallel supervised step (`trajvae.train.supervised`) on random binary
images, batch 100, Adagrad; wake-sleep does one wake and one sleep pass per step. The matmul rate is a
jitted float32 [100, 784] x [784, 500] product (the layer both steps are made of) and a 1024^3 one.

  python benchmarks/vae_baselines.py [--latents 3 20 200] [--steps 300] [--out benchmarks/results/vae_baselines.json]
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from trajvae.config import override
from trajvae.train import sharding
from trajvae.train.optim import make_optimizer
from trajvae.train.supervised import init_train_state, jit_data_parallel, make_train_step
from trajvae.vae import commands
from trajvae.vae.configs import fashion_mnist_config
from trajvae.vae.model import init_model

from common import report, time_train_step


def matmul_gflops(m: int, k: int, n: int, repeats: int) -> float:
  """GFLOP/s of a jitted float32 [m, k] x [k, n] matmul, `repeats` products chained in one program."""
  a = jnp.asarray(np.random.default_rng(0).standard_normal((m, k)), jnp.float32)
  b = jnp.asarray(np.random.default_rng(1).standard_normal((k, n)), jnp.float32) / np.sqrt(k)

  @jax.jit
  def chain(a, b):
    return jax.lax.fori_loop(0, repeats, lambda i, acc: acc + (a + i * 1e-6) @ b, jnp.zeros((m, n), jnp.float32))

  jax.block_until_ready(chain(a, b))
  start = time.perf_counter()
  jax.block_until_ready(chain(a, b))
  return 2 * m * k * n * repeats / (time.perf_counter() - start) / 1e9


def bench(algorithm: str, latent_dim: int, steps: int) -> dict:
  config = override(fashion_mnist_config(latent_dim=latent_dim, algorithm=algorithm), ["train.batch_size=100"])
  graphdef, params = init_model(config.model, 0)
  tx = make_optimizer(config.optim)
  mesh = sharding.data_mesh()
  state = sharding.replicate(init_train_state(params, tx), mesh)
  step_fn = jit_data_parallel(make_train_step(graphdef, commands.make_loss_fn(config, 2), tx), mesh)
  batch = sharding.shard_batch({"image": (np.random.default_rng(0).random((100, 784)) < 0.3).astype(np.float32)}, mesh)
  compile_s, elapsed, _ = time_train_step(step_fn, state, batch, jax.random.key(0), steps)
  return {
    "algorithm": algorithm,
    "latent_dim": latent_dim,
    "compile_s": round(compile_s, 2),
    "steps_per_s": round(steps / elapsed, 1),
    "examples_per_s": round(steps * 100 / elapsed),
  }


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--latents", type=int, nargs="+", default=[3, 20, 200])
  parser.add_argument("--steps", type=int, default=300)
  parser.add_argument("--out", default="benchmarks/results/vae_baselines.json")
  args = parser.parse_args()
  load = os.getloadavg()[0]
  layer = matmul_gflops(100, 784, 500, 2000)
  square = matmul_gflops(1024, 1024, 1024, 20)
  rows = [bench(a, nz, args.steps) for nz in args.latents for a in ("aevb", "wake_sleep")]
  for row in rows:
    row.update(
      {
        "matmul_100x784x500_gflops": round(layer, 1),
        "matmul_1024^3_gflops": round(square, 1),
        "load_avg_start": round(load, 1),
        "load_avg_end": round(os.getloadavg()[0], 1),
      }
    )
  report("AEVB vs wake-sleep steps, 784-500-N_z Bernoulli, batch 100, Adagrad", rows, args.out)


if __name__ == "__main__":
  main()
