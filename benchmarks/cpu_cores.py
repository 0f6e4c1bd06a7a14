"""How much do this machine's CPU cores add to XLA's matmuls? One thread against all, and two devices at once.

Speed claims on the 2-core development machine depend on it: if a second
thread does not raise the matmul rate, the cores share one core's FMA units
(SMT siblings, or a CPU quota), and the attainable rate for the whole machine
is one core's. Prints GFLOP/s of

- one large matmul [2048, 2048] x [2048, 2048] and the MusicVAE encoder's
  recurrent matmul [64, 512] x [512, 2048] in a loop (each in its own process,
  with XLA's Eigen thread pool on and off);
- one LSTM layer's gradient (T=32, B=64, H=512) on one fake CPU device, and two
  of them dispatched at once to two devices (with perfect overlap the pair
  takes as long as one).

  python benchmarks/cpu_cores.py
"""

from __future__ import annotations

import json
import os
import sys
import time

from common import run_with_xla_flags

MATMULS = ((2048, 2048, 2048, 3), (64, 512, 2048, 300))  # m, k, n, repetitions per call


def _median_seconds(fn, repeats: int = 7) -> float:
  fn()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return sorted(times)[len(times) // 2]


def matmul_worker() -> dict:
  """GFLOP/s of each MATMULS shape, the product fed back so that XLA cannot hoist it out of the loop."""
  import jax
  import jax.numpy as jnp
  import numpy as np

  out = {}
  for m, k, n, reps in MATMULS:
    a = jnp.asarray(np.random.default_rng(0).normal(size=(m, k)) * 0.01, jnp.float32)
    b = jnp.asarray(np.random.default_rng(1).normal(size=(k, n)) * 0.01, jnp.float32)
    loop = jax.jit(lambda a, b, reps=reps, k=k: jax.lax.fori_loop(0, reps, lambda i, c: c + (c @ b)[:, :k] * 1e-3, a))
    seconds = _median_seconds(lambda loop=loop, a=a, b=b: loop(a, b).block_until_ready())
    out[f"{m}x{k}x{n}"] = round(2 * m * k * n * reps / seconds / 1e9, 1)
  return out


def overlap_worker() -> dict:
  """ms of one LSTM layer gradient on device 0, twice on device 0, and once on each of two devices at once."""
  import functools

  import jax
  import numpy as np

  from trajvae.core import recurrent

  batch, steps, hidden = 64, 32, 512
  scan = functools.partial(recurrent.lstm_scan, 1, "float32", False, 1.0)
  h0 = np.zeros((batch, hidden), np.float32)
  grad = jax.jit(jax.grad(lambda w, x: scan(w, x, h0, h0)[0].sum()))
  w = np.random.default_rng(0).normal(size=(hidden, 4 * hidden)).astype(np.float32) * 0.03
  x = np.random.default_rng(1).normal(size=(steps, batch, 4 * hidden)).astype(np.float32)
  devices = jax.devices()
  on = [(jax.device_put(w, d), jax.device_put(x, d)) for d in (devices[0], devices[-1])]
  one = _median_seconds(lambda: grad(*on[0]).block_until_ready())
  same = _median_seconds(lambda: jax.block_until_ready((grad(*on[0]), grad(*on[0]))))
  both = _median_seconds(lambda: jax.block_until_ready((grad(*on[0]), grad(*on[1]))))
  return {
    "one_ms": round(one * 1e3, 1),
    "two_on_one_device_ms": round(same * 1e3, 1),
    "one_on_each_of_two_devices_ms": round(both * 1e3, 1),
    "overlap": round(2 * one / both, 2),
  }


def run(worker: str, flags: str) -> dict:
  return run_with_xla_flags([__file__, "--worker", worker], flags)


def main() -> None:
  if sys.argv[1:2] == ["--worker"]:
    print(json.dumps(matmul_worker() if sys.argv[2] == "matmul" else overlap_worker()))
    return
  print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}", flush=True)
  for name, flags in (("all threads", ""), ("one thread", "--xla_cpu_multi_thread_eigen=false")):
    print(f"matmul GFLOP/s, {name}: {run('matmul', flags)}", flush=True)
  print(
    "LSTM layer gradient on 2 fake devices:", run("overlap", "--xla_force_host_platform_device_count=2"), flush=True
  )
  print(f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
  main()
