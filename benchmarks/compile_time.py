"""Cold compile time of a MusicVAE training step, this checkout beside others, alternating in fresh processes.

Each measurement is a fresh interpreter with the persistent compilation cache off that lowers and compiles
the teacher-forced step (as musicvae_vs_torch.py's worker builds it) on abstract shapes, so nothing but the
trace and XLA's compile is timed. Rounds alternate between the trees, so a shared machine's load falls on
all of them alike.

  python benchmarks/compile_time.py --tree main=/path/to/other/checkout --rounds 3
  python benchmarks/compile_time.py --preset cat-mel_2bar_small --batch 64
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent

WORKER = """
import dataclasses, json, time
import jax, numpy as np
from flax import nnx
jax.config.update("jax_enable_compilation_cache", False)
from trajvae.config import select_preset
from trajvae.music import objective
from trajvae.music.configs import PRESETS
from trajvae.music.model import MusicVAE
from trajvae.train import sharding
from trajvae.train.optim import make_optimizer
from trajvae.train.supervised import init_train_state, jit_data_parallel, make_train_step
config = select_preset(PRESETS, {preset!r})
model = config.model
loss = dataclasses.replace(config.loss, sampling_schedule="teacher_forcing", sampling_rate=0.0)
start = time.perf_counter()
graphdef, params = nnx.split(nnx.eval_shape(lambda: MusicVAE(model, rngs=nnx.Rngs(0))), nnx.Param)
tx = make_optimizer(config.optim)
state = jax.eval_shape(lambda p: init_train_state(p, tx), params)
step = jit_data_parallel(make_train_step(graphdef, lambda m, b, k, s: objective.loss_and_metrics(
    m, b["tokens"], k, s, loss), tx), sharding.data_mesh())
tokens = jax.ShapeDtypeStruct(({batch}, model.num_steps, 1), np.int32)
key = jax.eval_shape(lambda: jax.random.key(0))
lowered = step.lower(state, {{"tokens": tokens}}, key)
traced = time.perf_counter()
lowered.compile()
done = time.perf_counter()
print(json.dumps({{"trace_s": traced - start, "compile_s": done - traced, "total_s": done - start}}))
"""


def measure(tree: pathlib.Path, preset: str, batch: int) -> dict:
  done = subprocess.run(
    [sys.executable, "-c", WORKER.format(preset=preset, batch=batch)],
    capture_output=True,
    text=True,
    check=True,
    env=dict(os.environ, PYTHONPATH=str(tree)),
  )
  return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--tree", action="append", default=[], metavar="NAME=PATH", help="another checkout to time")
  parser.add_argument("--preset", default="hierdec-mel_16bar")
  parser.add_argument("--batch", type=int, default=4)
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--out", default="benchmarks/results/compile_time.json")
  args = parser.parse_args()
  trees = {"this": HERE.parent} | {n: pathlib.Path(p).resolve() for n, p in (t.split("=", 1) for t in args.tree)}
  load = os.getloadavg()[0]
  print(f"{args.preset} at batch {args.batch}; load average {load:.2f} on {os.cpu_count()} cores", flush=True)
  times: dict[str, list[dict]] = {name: [] for name in trees}
  for r in range(args.rounds):
    for name, tree in trees.items():
      times[name].append(measure(tree, args.preset, args.batch))
      print(f"  round {r + 1} {name}: {json.dumps(times[name][-1])}", flush=True)
  rows = [
    {
      "tree": name,
      **{k: round(statistics.median(t[k] for t in ts), 2) for k in ("trace_s", "compile_s", "total_s")},
      "compile_s_range": f"{min(t['compile_s'] for t in ts):.1f}-{max(t['compile_s'] for t in ts):.1f}",
    }
    for name, ts in times.items()
  ]
  for row in rows:
    print(json.dumps(row))
  out = pathlib.Path(args.out)
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(
    json.dumps(
      {
        "preset": args.preset,
        "batch": args.batch,
        "load_average_start": load,
        "load_average_end": os.getloadavg()[0],
        "rows": rows,
        "all": times,
      },
      indent=2,
    )
  )
  print(f"load average at end: {os.getloadavg()[0]:.2f}; wrote {out}")


if __name__ == "__main__":
  main()
