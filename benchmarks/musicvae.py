"""MusicVAE training and sampling throughput, compile time and peak memory.

Runs unchanged on CPU and accelerators; random tokens stand in for data (the
network's cost does not depend on their values).

  python benchmarks/musicvae.py                                   # CPU-sized batches
  python benchmarks/musicvae.py --batch cat-mel_2bar_small=512 --batch hierdec-mel_16bar=512   # the reference's, on a GPU
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from trajvae.config import override, select_preset
from trajvae.music import objective
from trajvae.music.api import _decode
from trajvae.music.configs import PRESETS
from trajvae.music.model import init_model
from trajvae.train import sharding
from trajvae.train.optim import make_optimizer
from trajvae.train.supervised import init_train_state, jit_data_parallel, make_train_step

from common import mfu, peak_memory_mb, report, time_train_step

CPU_BATCHES = {
  "cat-mel_2bar_small": 64,
  "hierdec-mel_16bar": 4,
  "cat-mel_2bar_cpu": 64,
  "hierdec-mel_16bar_cpu": 32,
  "flat-mel_16bar_cpu": 32,
}


def lstm_flops(input_dim: int, hidden: int) -> int:
  """Multiply-adds x 2 of one LSTM step for one example (the four gates' input and recurrent matmuls)."""
  return 2 * 4 * (input_dim + hidden) * hidden


def training_flops_per_example(model) -> float:
  """Approximate FLOPs of one training example: 3 x the forward LSTM and output-layer matmuls."""
  steps, depths = model.num_steps, model.track_depths
  enc_in = sum(10 if d == 512 and model.drum_roll_input else d for d in depths)
  forward = 0
  dims = [enc_in] + [2 * h for h in model.enc_rnn_sizes[:-1]]
  for d, h in zip(dims, model.enc_rnn_sizes):
    forward += 2 * steps * lstm_flops(d, h)
  sizes = model.dec_rnn_sizes
  if model.decoder == "flat":
    dims = [sum(depths) + model.z_size] + list(sizes[:-1])
    forward += steps * (sum(lstm_flops(d, h) for d, h in zip(dims, sizes)) + 2 * sizes[-1] * sum(depths))
  else:
    dims = [1] + list(sizes[:-1])
    forward += model.num_bars * sum(lstm_flops(d, h) for d, h in zip(dims, sizes))
    for depth in depths:
      dims = [depth + sizes[-1]] + list(sizes[:-1])
      forward += steps * (sum(lstm_flops(d, h) for d, h in zip(dims, sizes)) + 2 * sizes[-1] * depth)
  return 3.0 * forward


def bench(preset: str, batch_size: int, steps: int, sample_batch: int, peak: float | None = None) -> dict:
  config = override(select_preset(PRESETS, preset), [f"train.batch_size={batch_size}"])
  graphdef, params = init_model(config.model, 0)
  tx = make_optimizer(config.optim)
  mesh = sharding.data_mesh()
  state = sharding.replicate(init_train_state(params, tx), mesh)
  loss_config = config.loss
  step_fn = jit_data_parallel(
    make_train_step(graphdef, lambda m, b, k, s: objective.loss_and_metrics(m, b["tokens"], k, s, loss_config), tx),
    mesh,
  )
  rng = np.random.default_rng(0)
  tokens = np.stack([rng.integers(0, d, (batch_size, config.model.num_steps)) for d in config.model.track_depths], -1)
  batch = sharding.shard_batch({"tokens": tokens.astype(np.int32)}, mesh)
  key = jax.random.key(0)
  compile_s, train_s, state = time_train_step(step_fn, state, batch, key, steps)

  z = jax.random.normal(key, (sample_batch, config.model.z_size))
  jax.block_until_ready(_decode(graphdef, state.params, z, key, 1.0))
  start = time.perf_counter()
  for i in range(3):
    out = _decode(graphdef, state.params, z, jax.random.fold_in(key, i), 1.0)
  jax.block_until_ready(out)
  sample_s = (time.perf_counter() - start) / 3
  return {
    "preset": preset,
    "batch_size": batch_size,
    "compile_s": round(compile_s, 2),
    "train_steps_per_s": round(steps / train_s, 3),
    "train_examples_per_s": round(steps * batch_size / train_s, 1),
    "sample_sequences_per_s": round(sample_batch / sample_s, 1),
    "train_gflops_per_s": round(steps * batch_size * training_flops_per_example(config.model) / train_s / 1e9, 2),
    "mfu": mfu(steps * batch_size * training_flops_per_example(config.model) / train_s, peak),
    "peak_memory_mb": round(peak_memory_mb(), 0),
  }


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument(
    "--batch",
    action="append",
    default=[],
    metavar="PRESET=N",
    help="preset and batch size (repeatable); default: CPU-sized batches",
  )
  parser.add_argument("--steps", type=int, default=5)
  parser.add_argument("--sample-batch", type=int, default=64)
  parser.add_argument("--out", default="benchmarks/results/musicvae.json")
  parser.add_argument(
    "--peak-tflops", type=float, help="per-device peak for MFU (default: a table of known accelerators)"
  )
  args = parser.parse_args()
  pairs = [(p, int(n)) for p, n in (b.split("=") for b in args.batch)] or [
    ("cat-mel_2bar_small", CPU_BATCHES["cat-mel_2bar_small"]),
    ("hierdec-mel_16bar", CPU_BATCHES["hierdec-mel_16bar"]),
  ]
  rows = [bench(p, n, args.steps, args.sample_batch, args.peak_tflops) for p, n in pairs]
  report("MusicVAE", rows, args.out)


if __name__ == "__main__":
  main()
