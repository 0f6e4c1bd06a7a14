"""MusicVAE training steps, trajvae beside a plain PyTorch port of the same shapes, alternating on one machine.

Each side runs in its own worker process (its own peak memory), compiled /
warmed up first; then rounds alternate: trajvae times `--steps` steps, then
PyTorch does, and so on. The ratio is trajvae's examples/s over PyTorch's,
from the medians of all timed steps, with the range of per-round ratios (the
machine may be shared, so both sides see the same load).

One step = teacher-forced forward + backward + clip + Adam on random tokens.
PyTorch is never a trajvae dependency: name a Python that has it.

  python benchmarks/musicvae_vs_torch.py --torch-python ../torchvenv/bin/python
  python benchmarks/musicvae_vs_torch.py --torch-python ... --shape hier-16bar-reference=4 --rounds 2 --steps 2
  # also time another trajvae checkout (e.g. an older commit) in the same alternation:
  python benchmarks/musicvae_vs_torch.py --torch-python ... --baseline /tmp/trajvae-old
  # and this tree under other XLA:CPU flags:
  python benchmarks/musicvae_vs_torch.py --torch-python ... --xla-variant one_thread=--xla_cpu_multi_thread_eigen=false
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
# shape name -> (trajvae preset, model overrides, default batch); sizes as torch_musicvae.SHAPES
SHAPES = {
  "flat-2bar-small": ("cat-mel_2bar_small", {}, 64),
  "hier-16bar-quarter": (
    "hierdec-mel_16bar",
    {"enc_rnn_sizes": (512,), "dec_rnn_sizes": (256, 256), "z_size": 256},
    16,
  ),
  "hier-16bar-reference": ("hierdec-mel_16bar", {}, 4),
}


def jax_worker(shape: str, batch: int, model_overrides: dict) -> None:
  """Build the trajvae train step for shape, compile it, then answer timing requests on stdin."""
  import jax
  import numpy as np

  from trajvae.config import select_preset
  from trajvae.music import objective
  from trajvae.music.configs import PRESETS
  from trajvae.music.model import init_model
  from trajvae.train import host_memory, sharding
  from trajvae.train.optim import make_optimizer
  from trajvae.train.supervised import jit_data_parallel, make_train_step, replicated_train_state

  preset, overrides, _ = SHAPES[shape]
  config = select_preset(PRESETS, preset)
  model = dataclasses.replace(config.model, **overrides, **model_overrides)
  loss = dataclasses.replace(config.loss, sampling_schedule="teacher_forcing", sampling_rate=0.0)
  graphdef, params = init_model(model, 0)
  tx = make_optimizer(config.optim)
  mesh = sharding.data_mesh()
  state = replicated_train_state(params, tx, mesh)
  del params  # the step owns its (donated) state; the initial parameters are not kept beside it
  step_fn = jit_data_parallel(
    make_train_step(graphdef, lambda m, b, k, s: objective.loss_and_metrics(m, b["tokens"], k, s, loss), tx), mesh
  )
  rng = np.random.default_rng(0)
  tokens = rng.integers(0, 90, (batch, model.num_steps, 1)).astype(np.int32)
  data = sharding.shard_batch({"tokens": tokens}, mesh)
  key = jax.random.key(0)
  start = time.perf_counter()
  compiled = step_fn.lower(state, data, key).compile()
  compile_s = time.perf_counter() - start
  host_memory.release_freed_heap()  # as the training driver does (supervised.compiled_at_first_call)
  state, metrics = compiled(state, data, key)
  jax.block_until_ready(metrics)
  print(json.dumps({"ready": True, "compile_s": compile_s, "jax": jax.__version__}), flush=True)
  for line in sys.stdin:
    times = []
    for _ in range(int(line)):
      t = time.perf_counter()
      state, metrics = compiled(state, data, key)
      jax.block_until_ready(metrics)
      times.append(time.perf_counter() - t)
    print(json.dumps({"step_s": times, "peak_rss_mb": peak_rss_mb()}), flush=True)


def peak_rss_mb() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Worker:
  """A timing worker process speaking one JSON line per request."""

  def __init__(self, name: str, argv: list[str], env: dict | None = None):
    self.name = name
    self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    self.ready = self._read()
    self.times: list[float] = []
    self.peak_rss_mb = 0.0

  def _read(self) -> dict:
    line = self.proc.stdout.readline()
    if not line:
      raise RuntimeError(f"{self.name} worker exited (code {self.proc.wait()})")
    return json.loads(line)

  def time(self, steps: int) -> float:
    self.proc.stdin.write(f"{steps}\n")
    self.proc.stdin.flush()
    reply = self._read()
    self.times += reply["step_s"]
    self.peak_rss_mb = max(self.peak_rss_mb, reply.get("peak_rss_mb", 0.0))
    return statistics.median(reply["step_s"])

  def close(self) -> None:
    self.proc.stdin.close()
    self.proc.wait()


def torch_peak_rss(worker: Worker) -> float:
  """The torch worker's peak resident memory, read from /proc before it exits (Linux)."""
  try:
    for line in pathlib.Path(f"/proc/{worker.proc.pid}/status").read_text().splitlines():
      if line.startswith("VmHWM:"):
        return int(line.split()[1]) / 1024
  except OSError:
    pass
  return float("nan")


def compare(shape: str, batch: int, args) -> dict:
  here = [sys.executable, str(HERE / "musicvae_vs_torch.py"), "--worker", shape, str(batch)]
  overrides = json.dumps(dict(kv.split("=") for kv in args.model_set))
  workers = [Worker("trajvae", here + ["--model-overrides", overrides], dict(os.environ, PYTHONPATH=str(HERE.parent)))]
  if args.baseline:
    workers.append(Worker("baseline", here, dict(os.environ, PYTHONPATH=str(pathlib.Path(args.baseline).resolve()))))
  for variant in args.xla_variant:  # this tree again, under other XLA flags
    name, flags = variant.split("=", 1)
    workers.append(
      Worker(
        f"xla:{name}",
        here + ["--model-overrides", overrides],
        dict(os.environ, PYTHONPATH=str(HERE.parent), XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()),
      )
    )
  workers.append(Worker("torch", [args.torch_python, str(HERE / "torch_musicvae.py"), shape, str(batch)]))
  per_round = []
  for r in range(args.rounds):
    medians = {w.name: w.time(args.steps) for w in workers}
    per_round.append(medians["torch"] / medians["trajvae"])
    print(f"  {shape} round {r + 1}: " + ", ".join(f"{n} {batch / s:.2f} ex/s" for n, s in medians.items()), flush=True)
  torch_rss = torch_peak_rss(workers[-1])
  row = {"shape": shape, "batch": batch}
  for w in workers:
    row[f"{w.name}_ex_per_s"] = round(batch / statistics.median(w.times), 2)
  row["ratio"] = round(row["trajvae_ex_per_s"] / row["torch_ex_per_s"], 2)
  row["ratio_range"] = f"{min(per_round):.2f}-{max(per_round):.2f}"
  if args.baseline:
    row["vs_baseline"] = round(row["trajvae_ex_per_s"] / row["baseline_ex_per_s"], 1)
  row["compile_s"] = round(workers[0].ready["compile_s"], 1)
  if args.baseline:
    row["baseline_compile_s"] = round(workers[1].ready["compile_s"], 1)
  row["peak_rss_mb"] = round(workers[0].peak_rss_mb)
  row["torch_peak_rss_mb"] = round(torch_rss)
  for w in workers:
    w.close()
  return row


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument(
    "--torch-python", default=os.environ.get("TORCH_PYTHON"), help="a Python with PyTorch installed (or $TORCH_PYTHON)"
  )
  parser.add_argument(
    "--shape",
    action="append",
    default=[],
    metavar="NAME=BATCH",
    help=f"repeatable; names: {', '.join(SHAPES)} (default: the first two at their batch)",
  )
  parser.add_argument("--rounds", type=int, default=5)
  parser.add_argument("--steps", type=int, default=4, help="timed steps per side per round")
  parser.add_argument("--baseline", help="another trajvae checkout to time in the same alternation")
  parser.add_argument(
    "--model-set",
    action="append",
    default=[],
    metavar="FIELD=VALUE",
    help="MusicModelConfig field for trajvae's side, e.g. scan_unroll=2 (JSON value)",
  )
  parser.add_argument(
    "--xla-variant",
    action="append",
    default=[],
    metavar="NAME=FLAGS",
    help="repeatable: also time this tree with these XLA_FLAGS, e.g. xnnpack=--xla_cpu_use_xnnpack=true",
  )
  parser.add_argument("--out", default="benchmarks/results/musicvae_vs_torch.json")
  parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
  parser.add_argument("--model-overrides", default="{}", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.worker:
    overrides = {
      k: json.loads(v) if v[:1] in "[{0123456789-tf" else v for k, v in json.loads(args.model_overrides).items()
    }
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    jax_worker(args.worker[0], int(args.worker[1]), overrides)
    return
  if not args.torch_python or not pathlib.Path(args.torch_python).exists():
    parser.exit(
      2,
      "no PyTorch to compare with: pass --torch-python /path/to/venv/bin/python (a venv with a CPU "
      "build of torch; e.g. python3 -m venv ../torchvenv && ../torchvenv/bin/pip install torch)\n",
    )
  check = subprocess.run([args.torch_python, "-c", "import torch"], capture_output=True)
  if check.returncode:
    parser.exit(2, f"{args.torch_python} cannot import torch: install it in that venv (pip install torch)\n")
  pairs = [(s.split("=")[0], int(s.split("=")[1])) for s in args.shape] or [
    (name, SHAPES[name][2]) for name in ("flat-2bar-small", "hier-16bar-quarter")
  ]
  for name, _ in pairs:
    if name not in SHAPES:
      parser.exit(2, f"unknown shape {name!r} (known: {', '.join(SHAPES)})\n")
  load = os.getloadavg()[0]
  print(f"load average at start: {load:.2f} on {os.cpu_count()} cores", flush=True)
  rows = [compare(name, batch, args) for name, batch in pairs]
  keys = list(dict.fromkeys(k for row in rows for k in row))
  print(" | ".join(keys))
  for row in rows:
    print(" | ".join(str(row.get(k, "")) for k in keys))
  out = pathlib.Path(args.out)
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(
    json.dumps(
      {"load_average_start": load, "load_average_end": os.getloadavg()[0], "model_set": args.model_set, "rows": rows},
      indent=2,
    )
  )
  print(f"load average at end: {os.getloadavg()[0]:.2f}; wrote {out}")


if __name__ == "__main__":
  main()
