"""SeCTAR benchmarks: env-steps/s of all four envs (pure JAX and MJX physics), compile times, PPO update
throughput and MPC latency per replan at K = 2048. Prints a table and writes JSON.

  python benchmarks/sectar.py [--quick] [--out benchmarks/results/sectar.json]
"""

from __future__ import annotations

import argparse

import sectar_bench as bench

from common import report


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true", help="small sizes: checks the script, not figures to record")
  parser.add_argument("--out", default="benchmarks/results/sectar.json")
  args = parser.parse_args()
  report("SeCTAR", bench.rows(args.quick), args.out)


if __name__ == "__main__":
  main()
