"""Throughput figures for docs/sectar.md: python -m trajvae.sectar.bench [--quick].

Env-steps/s of vmapped random rollouts, PPO updates/s at the authors' sizes
(consistency reward with the full-size state decoder), and the latency of one
random-shooting plan at K = 2048, H = 10, T = 19 with the full-size decoder.
Each figure excludes compilation (timed on a second call).
"""

from __future__ import annotations

import sys
import time

import jax
import jax.numpy as jnp
from flax import nnx

from trajvae.sectar import planning, ppo
from trajvae.sectar.envs import make_env
from trajvae.sectar.model import ModelConfig, PolicyDecoder, StateDecoder


def _time(fn, *args) -> tuple[float, float]:
  t0 = time.perf_counter()
  jax.block_until_ready(fn(*args))
  compile_s = time.perf_counter() - t0
  t0 = time.perf_counter()
  jax.block_until_ready(fn(*args))
  return compile_s, time.perf_counter() - t0


def env_throughput(name: str, num_envs: int, steps: int) -> None:
  env = make_env(name)

  @jax.jit
  def run(key):
    states = jax.vmap(lambda _: env.reset(key))(jnp.arange(num_envs))

    def body(s, k):
      a = jax.random.randint(k, (num_envs,), 0, env.num_actions)
      s = jax.vmap(env.step)(s, a)
      return s, s.reward.sum()

    return jax.lax.scan(body, states, jax.random.split(key, steps))[1].sum()

  c, t = _time(run, jax.random.key(0))
  print(f"env {name}: {num_envs} envs x {steps} steps: {num_envs * steps / t:,.0f} env-steps/s (compile+first {c:.1f} s)")


def ppo_throughput(num_updates: int) -> None:
  env = make_env("waypoint")
  cfg = ModelConfig()
  pg, pp = nnx.split(PolicyDecoder(cfg, rngs=nnx.Rngs(0)), nnx.Param)
  dg, dp = nnx.split(StateDecoder(cfg, rngs=nnx.Rngs(1)), nnx.Param)
  pcfg = ppo.PPOConfig()
  train = jax.jit(ppo.make_train(ppo.make_update(env, pg, ppo.consistency_reward_fn(dg), pcfg, cfg.latent_dim), num_updates))
  ts = ppo.init_train_state(pp, pcfg)
  c, t = _time(train, ts, dp, jnp.zeros((10, 2)), jax.random.key(0))
  print(f"ppo (authors' sizes: 20 envs x 19 steps, 10 epochs x 2 minibatches, PD 400-300-200, SD LSTM 256): "
        f"{num_updates / t:.2f} updates/s, {num_updates * 380 / t:,.0f} env-steps/s incl. updates (compile+first {c:.1f} s)")


def mpc_latency(num_sequences: int, horizon: int) -> None:
  env = make_env("waypoint")
  cfg = ModelConfig()
  dg, dp = nnx.split(StateDecoder(cfg, rngs=nnx.Rngs(1)), nnx.Param)
  decode = lambda params, z, s0, n: nnx.merge(dg, params)(z, s0, n)[0]
  pcfg = planning.PlannerConfig(num_sequences=num_sequences, horizon=horizon)
  fn = jax.jit(lambda p, k: planning.plan(decode, env.reward_fn, p, env.start_state, jnp.int32(0), k, pcfg).score)
  c, t = _time(fn, dp, jax.random.key(0))
  print(f"mpc: one plan, K={num_sequences}, H={horizon}, T=19, SD LSTM 256: {t:.2f} s (compile+first {c:.1f} s)")


def main() -> None:
  quick = "--quick" in sys.argv
  print(f"jax {jax.__version__}, devices {jax.devices()}")
  for name in ("waypoint", "block"):
    env_throughput(name, 256 if quick else 1024, 380)
  ppo_throughput(2 if quick else 10)
  mpc_latency(256 if quick else 2048, 10)


if __name__ == "__main__":
  main()
