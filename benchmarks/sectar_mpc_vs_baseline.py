"""SeCTAR's MPC replan latency (K=2048 random shooting through the state decoder) beside another checkout.

Each side runs `mpc_latency` of its checkout's benchmarks/sectar_bench.py (older checkouts:
trajvae/sectar/bench.py) in its own process (compiled
once, then timed), the two alternating for --rounds rounds on the same machine.

  python benchmarks/sectar_mpc_vs_baseline.py --baseline /path/to/older/trajvae [--env waypoint --horizon 10]
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
import json, sys, time
import jax
sys.path.insert(0, sys.argv[5])
try:
  import sectar_bench as bench
except ImportError:  # a checkout from before the move to benchmarks/
  from trajvae.sectar import bench
env, k, h, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rows = [bench.mpc_latency(env, k, h) for _ in range(n)]
print(json.dumps({"s_per_replan": [r["value"] for r in rows], "compile_s": rows[0]["compile_s"]}))
"""


def run(tree: pathlib.Path, args) -> dict:
  """One worker process on the checkout `tree`: `--repeats` timed replans (each freshly compiled)."""
  env = dict(os.environ, PYTHONPATH=str(tree))
  out = subprocess.run(
    [
      sys.executable,
      "-c",
      WORKER,
      args.env,
      str(args.k),
      str(args.horizon),
      str(args.repeats),
      str(tree / "benchmarks"),
    ],
    capture_output=True,
    text=True,
    env=env,
    check=True,
  )
  return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--baseline", required=True, help="another trajvae checkout (e.g. an older commit)")
  parser.add_argument("--env", default="waypoint")
  parser.add_argument("--k", type=int, default=2048)
  parser.add_argument("--horizon", type=int, default=10)
  parser.add_argument("--rounds", type=int, default=2)
  parser.add_argument("--repeats", type=int, default=1, help="timed replans per worker")
  args = parser.parse_args()
  trees = {"trajvae": HERE.parent, "baseline": pathlib.Path(args.baseline).resolve()}
  times: dict[str, list[float]] = {name: [] for name in trees}
  compile_s: dict[str, float] = {}
  print(f"load average at start: {os.getloadavg()[0]:.2f}", flush=True)
  for r in range(args.rounds):
    for name, tree in trees.items():
      result = run(tree, args)
      times[name] += result["s_per_replan"]
      compile_s[name] = result["compile_s"]
      print(f"  round {r + 1} {name}: {result['s_per_replan']} s per replan", flush=True)
  new, old = statistics.median(times["trajvae"]), statistics.median(times["baseline"])
  print(
    f"MPC replan {args.env} K={args.k} H={args.horizon}: trajvae {new:.2f} s (compile {compile_s['trajvae']} s), "
    f"baseline {old:.2f} s (compile {compile_s['baseline']} s), speed-up {old / new:.1f}x; "
    f"load average at end {os.getloadavg()[0]:.2f}"
  )


if __name__ == "__main__":
  main()
