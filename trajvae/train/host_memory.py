"""Handing the heap that a process has freed back to the operating system (glibc's malloc_trim).

XLA's compiler allocates and frees hundreds of MB while it compiles a large step.
glibc keeps that freed memory mapped for reuse, but the step's own buffers are
large enough to be mapped anew, so the freed compiler heap sits in the process's
resident memory beside them: measured, 0.4 GB of the reference-size 16-bar
MusicVAE step's peak on CPU (benchmarks/RESULTS.md). Trimming once after
compiling, before the step first runs, lowers the peak by that much.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _malloc_trim():
  """glibc's malloc_trim, or None where the C library has none (macOS, musl)."""
  name = ctypes.util.find_library("c")
  try:
    return ctypes.CDLL(name).malloc_trim if name else None
  except (OSError, AttributeError):
    return None


def release_freed_heap() -> bool:
  """Return the freed heap to the OS where the C library can; True if it returned any memory."""
  trim = _malloc_trim()
  return bool(trim(0)) if trim is not None else False
