"""Shared test set-up: a persistent compilation cache so repeated runs compile once."""

import os
import pathlib

os.environ.setdefault(
  "JAX_COMPILATION_CACHE_DIR", str(pathlib.Path(__file__).resolve().parent.parent / ".cache" / "jax")
)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.1")
# The suite is compile-bound (hundreds of small programs, each run a few times): skip LLVM's expensive passes
# and XLA:CPU's MLIR fusion emitters (the older emitters compile MJX and MusicVAE programs ~30% faster here;
# results agree to float rounding: benchmarks/compile_flags.py, benchmarks/RESULTS.md). Set before JAX starts; subprocesses (console
# script, workers) inherit it. Not --xla_backend_optimization_level=0: with it XLA CPU (jax 0.10.2) computed
# wrong loss-augmented argmaxes in tests/test_structured.py (alignment cases).
FAST_COMPILE = "--xla_llvm_disable_expensive_passes=true --xla_cpu_use_fusion_emitters=false"
_flags = os.environ.get("XLA_FLAGS", "")
os.environ["XLA_FLAGS"] = " ".join(
  [_flags, *(f for f in FAST_COMPILE.split() if f.split("=")[0] not in _flags)]
).strip()


def cpu_devices_env(count: int) -> dict:
  """The environment of a subprocess (worker, console script) with `count` fake CPU devices and the suite's
  compile flags; every run of a multi-device comparison uses it, so the runs differ only in the devices."""
  return dict(
    os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={count} {FAST_COMPILE}", JAX_PLATFORMS="cpu"
  )


import pytest  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture
def repo_root() -> pathlib.Path:
  return REPO
