"""XLA's compiled memory estimate of MusicVAE training steps, without allocating the model.

The step (teacher-forced forward + backward + clip + Adam, the state donated as in training) is
lowered on abstract shapes (nnx.eval_shape: no parameters are created) and compiled for this
machine's default backend; `memory_analysis()` then gives the arguments, outputs, aliased (donated)
bytes and temporaries XLA plans for. The total, arguments + outputs - aliased + temporaries, is what
the step needs on one device besides the runtime's own overhead. Compiled for the CPU, the figure is
an estimate for a GPU (fusion and scheduling differ by backend).

  python benchmarks/musicvae_memory.py                       # batch 512: both presets, f32/bf16, remat off/on
  python benchmarks/musicvae_memory.py --batch 4 --presets hierdec-mel_16bar
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import time

import jax
import numpy as np
from flax import nnx

# An "80 GB" H100/A100 reports 79.6 GiB; allow 95 % of it (XLA_PYTHON_CLIENT_MEM_FRACTION=0.95; cuDNN/cuBLAS
# workspaces take some of the rest). JAX's default pool is 75 % of the card.
CARD_GIB = 79.6
USABLE_GIB = 0.95 * CARD_GIB
DEFAULT_POOL_GIB = 0.75 * CARD_GIB


def step_memory(preset: str, batch: int, compute: str, remat: bool) -> dict:
  """The compiled step's planned memory for preset at batch, compute dtype and remat setting."""
  from trajvae.config import select_preset
  from trajvae.music import objective
  from trajvae.music.configs import PRESETS
  from trajvae.music.model import MusicVAE
  from trajvae.train import sharding
  from trajvae.train.optim import make_optimizer
  from trajvae.train.supervised import init_train_state, jit_data_parallel, make_train_step

  config = select_preset(PRESETS, preset)
  model = dataclasses.replace(config.model, compute_dtype=compute, remat=remat, rnn_backend="scan")
  loss = dataclasses.replace(config.loss, sampling_schedule="teacher_forcing", sampling_rate=0.0)
  abstract = nnx.eval_shape(lambda: MusicVAE(model, rngs=nnx.Rngs(0)))
  graphdef, params = nnx.split(abstract, nnx.Param)
  tx = make_optimizer(config.optim)
  mesh = sharding.data_mesh()
  state = jax.eval_shape(lambda p: init_train_state(p, tx), params)
  step = jit_data_parallel(
    make_train_step(graphdef, lambda m, b, k, s: objective.loss_and_metrics(m, b["tokens"], k, s, loss), tx), mesh
  )
  tokens = jax.ShapeDtypeStruct((batch, model.num_steps, 1), np.int32)
  key = jax.eval_shape(lambda: jax.random.key(0))
  start = time.perf_counter()
  compiled = step.lower(state, {"tokens": tokens}, key).compile()
  compile_s = time.perf_counter() - start
  m = compiled.memory_analysis()
  mb = lambda n: round(n / 2**20)  # noqa: E731
  total = m.argument_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes + m.temp_size_in_bytes
  return {
    "preset": preset,
    "batch": batch,
    "compute": compute,
    "remat": remat,
    "arguments_mb": mb(m.argument_size_in_bytes),
    "outputs_mb": mb(m.output_size_in_bytes),
    "aliased_mb": mb(m.alias_size_in_bytes),
    "temp_mb": mb(m.temp_size_in_bytes),
    "total_gib": round(total / 2**30, 2),
    "fits_80gb_card_at_mem_fraction_0.95": total / 2**30 <= USABLE_GIB,
    "fits_jax_default_pool_0.75": total / 2**30 <= DEFAULT_POOL_GIB,
    "compile_s": round(compile_s, 1),
  }


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--presets", nargs="+", default=["cat-mel_2bar_small", "hierdec-mel_16bar"])
  parser.add_argument("--batch", type=int, default=512)
  parser.add_argument("--compute", nargs="+", default=["float32", "bfloat16"])
  parser.add_argument("--remat", nargs="+", default=["false", "true"])
  parser.add_argument("--out", default="benchmarks/results/musicvae_memory.json")
  args = parser.parse_args()
  jax.config.update("jax_enable_compilation_cache", False)
  print(f"{jax.devices()[0].device_kind}, jax {jax.__version__}; load average {os.getloadavg()[0]:.2f}", flush=True)
  rows = []
  for preset in args.presets:
    for compute in args.compute:
      for remat in args.remat:
        rows.append(step_memory(preset, args.batch, compute, remat == "true"))
        print(json.dumps(rows[-1]), flush=True)
  out = pathlib.Path(args.out)
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(json.dumps({"device": jax.devices()[0].device_kind, "jax": jax.__version__, "rows": rows}, indent=2))
  print(f"wrote {out}")


if __name__ == "__main__":
  main()
