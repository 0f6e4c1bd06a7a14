"""The accelerator figures in one command (`make bench-gpu`): MusicVAE training steps and SeCTAR planning.

MusicVAE, for cat-mel_2bar_small and hierdec-mel_16bar at batch 512 (teacher-forced steps on random
tokens, the same step as musicvae_vs_torch.py): examples/s, compile time, peak device memory, XLA's
compiled memory estimate and MFU, for float32 and bfloat16 compute and for the scan and the cuDNN
LSTM (`model.rnn_backend`); beside them the PyTorch port (torch_musicvae.py, nn.LSTM = cuDNN on a GPU)
on the same device when --torch-python names a Python with torch. SeCTAR: MPC replans/s (random
shooting) at the authors' K = 2048, H = 10, and waypoint env-steps/s at 4096 parallel envs.

FLOPs: `model_gflop_per_step` counts the step's matmuls from its jaxpr with every scan body counted
once per time step (common.matmul_flops; the same model maths for every variant of a preset), and MFU
divides it by the device's dense peak for the compute dtype (common.PEAK_TFLOPS / PEAK_TFLOPS_BF16, or
--peak-tflops). `xla_cost_gflop_per_step` is the compiled cost_analysis()'s figure, which counts each
while-loop body once (a lower bound; the cuDNN call is not in it at all).

Each MusicVAE row runs in its own process, so its peak memory is its own; --smoke runs tiny shapes in
this process (seconds on a CPU; cuDNN rows are marked unavailable off CUDA) so the script cannot rot
before a GPU appears.

  python benchmarks/bench_gpu.py [--torch-python ../torchvenv/bin/python] [--out benchmarks/results/bench_gpu.json]
  python benchmarks/bench_gpu.py --smoke
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

import jax
import numpy as np

from common import device_description, matmul_flops, mfu, peak_memory_mb

HERE = pathlib.Path(__file__).resolve().parent
PRESETS = ("cat-mel_2bar_small", "hierdec-mel_16bar")
TORCH_SHAPES = {"cat-mel_2bar_small": "flat-2bar-small", "hierdec-mel_16bar": "hier-16bar-reference"}
# --smoke: tiny models of the same structure (and the torch port's smoke shapes, torch_musicvae.SHAPES)
SMOKE_MODEL = {"enc_rnn_sizes": (16,), "dec_rnn_sizes": (16, 16), "z_size": 8, "num_steps": 32}
SMOKE_TORCH_SHAPES = {"cat-mel_2bar_small": "smoke-flat", "hierdec-mel_16bar": "smoke-hier"}


@dataclasses.dataclass(frozen=True)
class Sizes:
  batch: int = 512
  steps: int = 10
  mpc_sequences: int = 2048
  mpc_horizon: int = 10
  envs: int = 4096
  env_steps: int = 100
  smoke: bool = False


SMOKE = Sizes(batch=4, steps=2, mpc_sequences=16, mpc_horizon=2, envs=8, env_steps=5, smoke=True)


def musicvae_model(preset: str, compute: str, backend: str, smoke: bool):
  from trajvae.config import select_preset
  from trajvae.music.configs import PRESETS as MUSIC_PRESETS

  config = select_preset(MUSIC_PRESETS, preset)
  model = dataclasses.replace(
    config.model, compute_dtype=compute, rnn_backend=backend, **(SMOKE_MODEL if smoke else {})
  )
  return config, model


def unavailable(preset: str, compute: str, backend: str) -> str | None:
  """Why this variant cannot run here (None if it can): the cuDNN LSTM off CUDA or in bfloat16."""
  from trajvae.core import recurrent
  from trajvae.core.recurrent import ScanOptions
  from trajvae.errors import ConfigError

  try:
    recurrent.use_cudnn(ScanOptions(compute_dtype=compute, rnn_backend=backend))
  except ConfigError as e:
    return str(e)
  return None


def musicvae_row(preset: str, compute: str, backend: str, sizes: Sizes, peak_tflops: float | None) -> dict:
  """Compile and time one MusicVAE training-step variant; the row of the table."""
  from trajvae.music import objective
  from trajvae.music.model import init_model
  from trajvae.train import sharding
  from trajvae.train.optim import make_optimizer
  from trajvae.train.supervised import init_train_state, jit_data_parallel, make_train_step, replicated_train_state

  row = {"preset": preset, "compute": compute, "rnn_backend": backend, "batch": sizes.batch}
  config, model = musicvae_model(preset, compute, backend, sizes.smoke)
  loss = dataclasses.replace(config.loss, sampling_schedule="teacher_forcing", sampling_rate=0.0)
  tx = make_optimizer(config.optim)
  mesh = sharding.data_mesh()

  def step_for(model_config):
    graphdef, params = init_model(model_config, 0)
    step = make_train_step(graphdef, lambda m, b, k, s: objective.loss_and_metrics(m, b["tokens"], k, s, loss), tx)
    return step, params

  tokens = np.random.default_rng(0).integers(0, 90, (sizes.batch, model.num_steps, 1)).astype(np.int32)
  data = sharding.shard_batch({"tokens": tokens}, mesh)
  key = jax.random.key(0)
  # the model's matmul FLOPs, counted on the scan program (the cuDNN call hides its own from the jaxpr)
  scan_step, params = step_for(dataclasses.replace(model, rnn_backend="scan"))
  shapes = jax.eval_shape(lambda p: init_train_state(p, tx), params)
  del params  # counting needs shapes only: no second state may sit in device memory beside the measured one
  flops = matmul_flops(jax.make_jaxpr(scan_step)(shapes, data, key))
  step, params = step_for(model)
  state = replicated_train_state(params, tx, mesh)
  del params
  start = time.perf_counter()
  compiled = jit_data_parallel(step, mesh).lower(state, data, key).compile()
  row["compile_s"] = round(time.perf_counter() - start, 2)
  memory = compiled.memory_analysis()
  if memory is not None:
    estimate = (
      memory.argument_size_in_bytes
      + memory.output_size_in_bytes
      - memory.alias_size_in_bytes
      + memory.temp_size_in_bytes
    )
    row["compiled_estimate_mb"] = round(estimate / 2**20)
  cost = compiled.cost_analysis() or {}
  cost = cost[0] if isinstance(cost, list) else cost
  state, metrics = compiled(state, data, key)
  jax.block_until_ready(metrics)
  times = []
  for i in range(sizes.steps):
    t = time.perf_counter()
    state, metrics = compiled(state, data, jax.random.fold_in(key, i))
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - t)
  step_s = statistics.median(times)
  row["examples_per_s"] = round(sizes.batch / step_s, 1)
  row["peak_memory_mb"] = round(peak_memory_mb())
  row["model_gflop_per_step"] = round(flops / 1e9, 4)
  row["xla_cost_gflop_per_step"] = round(float(cost.get("flops", float("nan"))) / 1e9, 4)
  row["mfu"] = mfu(flops / step_s, peak_tflops, compute)
  row["loss_finite"] = bool(np.isfinite(float(metrics["loss"])))
  return row


def musicvae_row_in_subprocess(
  preset: str, compute: str, backend: str, sizes: Sizes, peak_tflops: float | None
) -> dict:
  """musicvae_row in a fresh process (its own peak memory; an out-of-memory kills only that row)."""
  request = json.dumps(
    {
      "preset": preset,
      "compute": compute,
      "backend": backend,
      "sizes": dataclasses.asdict(sizes),
      "peak_tflops": peak_tflops,
    }
  )
  done = subprocess.run(
    [sys.executable, str(HERE / "bench_gpu.py"), "--row", request],
    capture_output=True,
    text=True,
    env=dict(os.environ, PYTHONPATH=str(HERE.parent)),
  )
  if done.returncode:
    tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return {
      "preset": preset,
      "compute": compute,
      "rnn_backend": backend,
      "batch": sizes.batch,
      "note": f"failed (exit {done.returncode}): {tail[:200]}",
    }
  return json.loads(done.stdout.strip().splitlines()[-1])


def torch_row(python: str, preset: str, compute: str, sizes: Sizes) -> dict:
  """The PyTorch port's step on this machine's first GPU (CPU in --smoke): examples/s and peak memory."""
  shape = (SMOKE_TORCH_SHAPES if sizes.smoke else TORCH_SHAPES)[preset]
  device = "cpu" if sizes.smoke or jax.devices()[0].platform == "cpu" else "cuda"
  row = {
    "preset": preset,
    "compute": compute,
    "rnn_backend": f"pytorch ({'cuDNN' if device == 'cuda' else 'CPU'})",
    "batch": sizes.batch,
  }
  proc = subprocess.Popen(
    [python, str(HERE / "torch_musicvae.py"), shape, str(sizes.batch), "--device", device, "--dtype", compute],
    stdin=subprocess.PIPE,
    stdout=subprocess.PIPE,
    text=True,
  )
  try:
    ready = json.loads(proc.stdout.readline())
    proc.stdin.write(f"{sizes.steps}\n")
    proc.stdin.flush()
    reply = json.loads(proc.stdout.readline())
  except (json.JSONDecodeError, OSError) as e:
    proc.kill()
    return {**row, "note": f"torch worker failed: {e}"}
  finally:
    if proc.stdin:
      proc.stdin.close()
    proc.wait()
  row["compile_s"] = round(ready["first_step_s"], 2)
  row["examples_per_s"] = round(sizes.batch / statistics.median(reply["step_s"]), 1)
  row["peak_memory_mb"] = round(reply["peak_mb"])
  row["note"] = f"torch {ready['torch']}; compile_s is its first step"
  return row


def sectar_rows(sizes: Sizes) -> list[dict]:
  """MPC replans/s at K sequences x H latents (waypoint, full-size state decoder) and waypoint env-steps/s."""
  import sectar_bench as bench  # benchmarks/ is the script's own folder, first on sys.path

  plan = bench.mpc_latency("waypoint", sizes.mpc_sequences, sizes.mpc_horizon)
  env = bench.env_throughput("waypoint", sizes.envs, sizes.env_steps)
  return [
    {
      "what": "MPC replans/s (random shooting, waypoint)",
      "size": plan["size"],
      "value": round(1.0 / plan["value"], 2),
      "compile_s": plan["compile_s"],
    },
    {"what": "waypoint env-steps/s", "size": env["size"], "value": env["value"], "compile_s": env["compile_s"]},
  ]


def print_table(title: str, rows: list[dict]) -> None:
  keys = list(dict.fromkeys(k for row in rows for k in row))
  print(title)
  print(" | ".join(keys))
  for row in rows:
    print(" | ".join(str(row.get(k, "")) for k in keys), flush=True)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--smoke", action="store_true", help="tiny shapes in this process: checks the script (CPU)")
  parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=list(PRESETS))
  parser.add_argument("--batch", type=int, help="MusicVAE batch (default 512; --smoke: 4)")
  parser.add_argument("--steps", type=int, help="timed MusicVAE steps per row (default 10)")
  parser.add_argument("--torch-python", help="a Python with PyTorch: time the port on the same device")
  parser.add_argument("--peak-tflops", type=float, help="per-device dense peak for MFU (default: common.py's table)")
  parser.add_argument("--no-sectar", action="store_true")
  parser.add_argument("--out", default="benchmarks/results/bench_gpu.json")
  parser.add_argument("--row", help=argparse.SUPPRESS)
  args = parser.parse_args()
  jax.config.update("jax_enable_compilation_cache", False)  # compile_s is a cold compile, not a cache hit
  if args.row:
    request = json.loads(args.row)
    row = musicvae_row(
      request["preset"], request["compute"], request["backend"], Sizes(**request["sizes"]), request["peak_tflops"]
    )
    print(json.dumps(row))
    return
  sizes = SMOKE if args.smoke else Sizes()
  sizes = dataclasses.replace(sizes, **{k: v for k, v in (("batch", args.batch), ("steps", args.steps)) if v})
  if args.torch_python and not pathlib.Path(args.torch_python).exists():
    parser.exit(2, f"--torch-python {args.torch_python}: no such file\n")
  load = os.getloadavg()[0]
  print(f"{device_description()}, jax {jax.__version__}; load average {load:.2f} on {os.cpu_count()} cores", flush=True)
  run_row = musicvae_row if args.smoke else musicvae_row_in_subprocess
  rows = []
  for preset in args.presets:
    for compute in ("float32", "bfloat16"):
      for backend in ("scan", "cudnn"):
        reason = unavailable(preset, compute, backend)
        if reason:
          rows.append(
            {
              "preset": preset,
              "compute": compute,
              "rnn_backend": backend,
              "batch": sizes.batch,
              "note": f"unavailable: {reason}",
            }
          )
        else:
          rows.append(run_row(preset, compute, backend, sizes, args.peak_tflops))
        print(json.dumps(rows[-1]), flush=True)
      if args.torch_python:
        rows.append(torch_row(args.torch_python, preset, compute, sizes))
        print(json.dumps(rows[-1]), flush=True)
  sectar = [] if args.no_sectar else sectar_rows(sizes)
  print_table("MusicVAE training step (teacher-forced)", rows)
  if sectar:
    print_table("SeCTAR", sectar)
  out = pathlib.Path(args.out)
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(
    json.dumps(
      {
        "device": device_description(),
        "jax": jax.__version__,
        "smoke": args.smoke,
        "load_average_start": load,
        "load_average_end": os.getloadavg()[0],
        "sizes": dataclasses.asdict(sizes),
        "musicvae": rows,
        "sectar": sectar,
      },
      indent=2,
    )
  )
  print(f"wrote {out}")


if __name__ == "__main__":
  main()
