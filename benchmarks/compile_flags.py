"""Compile time of SeCTAR's three jitted stages under XLA_FLAGS variants, side by side, for the test suite's flags.

  python benchmarks/compile_flags.py                          # smoke preset, the suite's flags vs. without fusion emitters
  python benchmarks/compile_flags.py --preset swimmer_smoke --rounds 2 \\
      --variant opt1="--xla_llvm_disable_expensive_passes=true --xla_backend_optimization_level=1"

Each (variant, round) is a fresh process without the persistent compilation
cache (XLA_FLAGS are read once, when XLA starts); the variants alternate
within each round. Prints per stage the trace+lower and compile seconds, the
run time of one more call, and a fingerprint of the results (sums of every
metric and of the MPC observations) so that a flag that changes numerics shows.
The test suite is compile-bound; this is how tests/conftest.py's flags were
chosen (benchmarks/RESULTS.md, "Test suite time").
"""

from __future__ import annotations

import argparse
import json
import os

from common import run_with_xla_flags

BASE = "--xla_llvm_disable_expensive_passes=true"
DEFAULT_VARIANTS = {"suite-before": BASE, "no-fusion-emitters": f"{BASE} --xla_cpu_use_fusion_emitters=false"}


def measure(preset: str) -> dict:
  """In this process: trace, lower, compile and run the preset's mpc, explore and fit stages once each."""
  import time

  import jax
  import jax.numpy as jnp
  import numpy as np

  from trajvae.sectar import configs, outer_loop

  jax.config.update("jax_enable_compilation_cache", False)
  stages = outer_loop.build(configs.PRESETS[preset]())
  state = stages.init(0)
  k_mpc, k_explore, k_fit = jax.random.split(jax.random.key(0), 3)
  out: dict = {"preset": preset, "flags": os.environ.get("XLA_FLAGS", "")}

  def timed(name, fn, *args):
    t0 = time.perf_counter()
    lowered = fn.trace(*args).lower()
    t1 = time.perf_counter()
    compiled = lowered.compile()
    t2 = time.perf_counter()
    result = jax.block_until_ready(compiled(*args))
    t3 = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    out[name] = {"lower_s": t1 - t0, "compile_s": t2 - t1, "run_s": time.perf_counter() - t3}
    return result

  eps, mpc_m = timed("mpc", stages.mpc, state.params, k_mpc)
  pool = eps.replan_states.reshape(-1, eps.replan_states.shape[-1])
  _, buf, explore_m = timed(
    "explore", stages.explore, state.explorer, state.params, state.buffer, pool, k_explore, jnp.asarray(True)
  )
  *_, fit_m = timed("fit", stages.fit, state.params, state.vae_opt, state.pd_opt, buf, k_fit)
  metrics = {**mpc_m, **explore_m, **fit_m}
  out["fingerprint"] = {
    "metrics": float(sum(float(np.sum(v)) for v in metrics.values())),
    "mpc_obs": float(np.sum(np.asarray(eps.obs, np.float64))),
  }
  return out


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--preset", default="smoke", help="a SeCTAR preset (smoke, swimmer_smoke, waypoint_cpu, ...)")
  parser.add_argument("--rounds", type=int, default=1)
  parser.add_argument(
    "--variant",
    action="append",
    default=[],
    metavar="NAME=FLAGS",
    help="repeatable; replaces the default pair (the suite's flags before and after)",
  )
  parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.child:
    print(json.dumps(measure(args.preset)), flush=True)
    return
  variants = dict(v.split("=", 1) for v in args.variant) if args.variant else DEFAULT_VARIANTS
  rows = []
  for r in range(args.rounds):
    for name, flags in variants.items():
      res = run_with_xla_flags([__file__, "--child", "--preset", args.preset], flags)
      stages = ("mpc", "explore", "fit")
      total = sum(res[s]["compile_s"] for s in stages)
      rows.append((name, r, res))
      print(
        f"round {r} {name:>22}: compile {total:6.1f} s ("
        + ", ".join(f"{s} {res[s]['compile_s']:.1f}" for s in stages)
        + "), trace+lower "
        + f"{sum(res[s]['lower_s'] for s in stages):.1f} s, run "
        + f"{sum(res[s]['run_s'] for s in stages):.3f} s, fingerprint {res['fingerprint']}",
        flush=True,
      )
  prints = {json.dumps(res["fingerprint"]) for *_, res in rows}
  print("results identical across variants" if len(prints) == 1 else f"results differ: {sorted(prints)}")


if __name__ == "__main__":
  main()
