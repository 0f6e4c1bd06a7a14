"""benchmarks/bench_gpu.py --smoke runs end to end on CPU and writes every row the GPU run will have."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_bench_gpu_smoke_writes_every_row(tmp_path):
  out = tmp_path / "bench_gpu.json"
  done = subprocess.run(
    [sys.executable, str(REPO / "benchmarks" / "bench_gpu.py"), "--smoke", "--out", str(out)],
    capture_output=True,
    text=True,
    env=dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu"),
    timeout=300,
  )
  assert done.returncode == 0, done.stderr[-2000:]
  result = json.loads(out.read_text())
  rows = {(r["preset"], r["compute"], r["rnn_backend"]): r for r in result["musicvae"]}
  assert set(rows) == {
    (p, c, b)
    for p in ("cat-mel_2bar_small", "hierdec-mel_16bar")
    for c in ("float32", "bfloat16")
    for b in ("scan", "cudnn")
  }
  for (_, _, backend), row in rows.items():
    if backend == "cudnn":  # no CUDA here: marked, not timed
      assert row["note"].startswith("unavailable: rnn_backend=cudnn needs a CUDA GPU") and "examples_per_s" not in row
      continue
    assert row["examples_per_s"] > 0 and row["compile_s"] > 0 and row["peak_memory_mb"] > 0, row
    assert row["compiled_estimate_mb"] > 0 and row["loss_finite"], row
    # the jaxpr count sees every time step; XLA's cost analysis counts each loop body once
    assert row["model_gflop_per_step"] > row["xla_cost_gflop_per_step"] > 0, row
    assert row["mfu"] == "n/a"  # no known peak for a CPU
  (plan, env) = result["sectar"]
  assert plan["value"] > 0 and "K=16, H=2" in plan["size"]
  assert env["value"] > 0 and "8 envs" in env["size"]
