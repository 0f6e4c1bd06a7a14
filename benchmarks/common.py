"""What every benchmark script shares: peak memory, device description, the printed table and the JSON file."""

from __future__ import annotations

import json
import pathlib
import resource

import jax


def peak_memory_mb() -> float:
  """Peak device memory where the backend reports it (GPU, TPU), else this process's peak resident memory."""
  stats = jax.local_devices()[0].memory_stats() or {}
  if "peak_bytes_in_use" in stats:
    return stats["peak_bytes_in_use"] / 2**20
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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
