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
PEAK_TFLOPS = {
  "H100": 494.7,
  "H200": 494.7,
  "A100": 156.0,
  "L4": 60.0,
  "TPU v4": 275.0,
  "TPU v5 lite": 197.0,
  "TPU v5": 459.0,
}


# Dense peak TFLOP/s for bfloat16 matmuls (tensor cores / MXU), for bfloat16-compute MFU.
PEAK_TFLOPS_BF16 = {
  "H100": 989.4,
  "H200": 989.4,
  "A100": 312.0,
  "L4": 121.0,
  "TPU v4": 275.0,
  "TPU v5 lite": 197.0,
  "TPU v5": 459.0,
}


def peak_tflops(override: float | None = None, dtype: str = "float32") -> float | None:
  """The accelerator's peak (all local devices), from override or the dtype's table; None on CPU or unknown devices."""
  if override:
    return override * jax.local_device_count()
  kind = jax.devices()[0].device_kind
  table = PEAK_TFLOPS_BF16 if dtype == "bfloat16" else PEAK_TFLOPS
  for name, value in table.items():
    if name.lower() in kind.lower():
      return value * jax.local_device_count()
  return None


def mfu(flops_per_s: float, peak_override: float | None = None, dtype: str = "float32") -> float | str:
  """Model FLOPs utilisation: achieved / peak, or 'n/a' where the peak is unknown (CPU)."""
  peak = peak_tflops(peak_override, dtype)
  return round(flops_per_s / (peak * 1e12), 4) if peak else "n/a"


def matmul_flops(jaxpr) -> float:
  """FLOPs of the dot_generals in a (closed) jaxpr, each scan body counted `length` times.

  XLA's compiled cost_analysis counts a while loop's body once, so for scanned recurrences it is a
  lower bound by the number of time steps; this count is the model's matmul work, whatever runs it.
  """
  jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
  total = 0.0
  for eqn in jaxpr.eqns:
    if eqn.primitive.name == "dot_general":
      (lhs_contract, _), _ = eqn.params["dimension_numbers"]
      lhs = eqn.invars[0].aval.shape
      out = eqn.outvars[0].aval.shape
      k = 1
      for axis in lhs_contract:
        k *= lhs[axis]
      size = 1
      for d in out:
        size *= d
      total += 2.0 * size * k
      continue
    subs = [v for v in eqn.params.values() if hasattr(v, "eqns") or hasattr(v, "jaxpr")]
    subs += [b for v in eqn.params.values() if isinstance(v, tuple) for b in v if hasattr(b, "jaxpr")]
    inner = sum(matmul_flops(sub) for sub in subs)
    if eqn.primitive.name == "scan":
      inner *= eqn.params["length"]
    elif eqn.primitive.name == "cond":
      inner = max((matmul_flops(b) for b in eqn.params["branches"]), default=0.0)
    total += inner
  return total


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
  done = subprocess.run(
    [sys.executable, *argv],
    env=dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu"),
    capture_output=True,
    text=True,
    check=True,
  )
  return json.loads(done.stdout.strip().splitlines()[-1])
