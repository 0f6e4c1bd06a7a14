"""What every benchmark script shares: peak memory, device description, the printed table and the JSON file."""

from __future__ import annotations

import json
import os
import pathlib
import resource
import subprocess
import sys
import time

import jax


def peak_memory_mb() -> float:
  """Peak device memory where the backend reports it (GPU, TPU), else this process's peak resident memory."""
  stats = jax.local_devices()[0].memory_stats() or {}
  if "peak_bytes_in_use" in stats:
    return stats["peak_bytes_in_use"] / 2**20
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# Dense peak TFLOP/s for float32 matmuls as JAX runs them by default (TF32 tensor cores on NVIDIA
# Ampere/Hopper, bf16 passes on TPU); used for MFU when --peak-tflops is not given.
PEAK_TFLOPS = {"H100": 494.7, "H200": 494.7, "A100": 156.0, "L4": 60.0, "TPU v4": 275.0, "TPU v5 lite": 197.0,
               "TPU v5": 459.0}


def peak_tflops(override: float | None = None) -> float | None:
  """The accelerator's peak (all local devices), from override or the table; None on CPU or unknown devices."""
  if override:
    return override * jax.local_device_count()
  kind = jax.devices()[0].device_kind
  for name, value in PEAK_TFLOPS.items():
    if name.lower() in kind.lower():
      return value * jax.local_device_count()
  return None


def mfu(flops_per_s: float, peak_override: float | None = None) -> float | str:
  """Model FLOPs utilisation: achieved / peak, or 'n/a' where the peak is unknown (CPU)."""
  peak = peak_tflops(peak_override)
  return round(flops_per_s / (peak * 1e12), 4) if peak else "n/a"


def time_train_step(step_fn, state, batch, key, steps: int):
  """Compile step_fn for (state, batch, key), warm it up once, then time `steps` calls.

  Returns (compile seconds, seconds for the timed steps, final state).
  """
  start = time.perf_counter()
  compiled = step_fn.lower(state, batch, key).compile()
  compile_s = time.perf_counter() - start
  state, metrics = compiled(state, batch, key)
  jax.block_until_ready(metrics)
  start = time.perf_counter()
  for i in range(steps):
    state, metrics = compiled(state, batch, jax.random.fold_in(key, i))
  jax.block_until_ready(metrics)
  return compile_s, time.perf_counter() - start, state


def device_description() -> str:
  return f"{jax.device_count()} x {jax.devices()[0].device_kind}"


def report(title: str, rows: list[dict], out: str | pathlib.Path) -> None:
  """Print rows as a table under title and write them, with the device and jax version, as JSON."""
  device = device_description()
  print(f"{title} on {device} (jax {jax.__version__})")
  header = list(rows[0])
  width = max(14, *(len(h) for h in header))
  print(" | ".join(f"{h:>{width}}" for h in header))
  for row in rows:
    print(" | ".join(f"{row[h]!s:>{width}}" for h in header))
  out = pathlib.Path(out)
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(json.dumps({"device": device, "jax": jax.__version__, "results": rows}, indent=2))
  print(f"wrote {out}")


def run_with_xla_flags(argv: list[str], flags: str) -> dict:
  """Run `python argv` in a fresh CPU process under these XLA_FLAGS (XLA reads them once, at start-up) and
  return its last line of output, parsed as JSON: how a script times itself under several flag sets."""
  done = subprocess.run([sys.executable, *argv], env=dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu"),
                        capture_output=True, text=True, check=True)
  return json.loads(done.stdout.strip().splitlines()[-1])
