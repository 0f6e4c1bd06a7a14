"""SeCTAR throughput figures, as rows for benchmarks/sectar.py (which prints the table and writes JSON).

Env-steps/s of vmapped random rollouts for all four envs (pure JAX and MJX
physics), PPO updates/s at the authors' sizes (consistency reward with the
full-size state decoder), and the latency of one random-shooting plan with the
full-size decoder. Each figure excludes compilation (timed on a second call);
compile_s is compile + first call. `python benchmarks/sectar_bench.py [--quick]` prints the rows.
"""

from __future__ import annotations

import sys
import time

import jax
import jax.numpy as jnp
from flax import nnx

from trajvae.config import select_preset
from trajvae.sectar import commands, outer_loop, planning, ppo
from trajvae.sectar.configs import MPCConfig, PPOConfig, SectarModelConfig
from trajvae.sectar.envs import make_env
from trajvae.sectar.model import PolicyDecoder, StateDecoder


def _seconds(fn, *args) -> float:
  """Seconds of one call, waited for."""
  t0 = time.perf_counter()
  jax.block_until_ready(fn(*args))
  return time.perf_counter() - t0


def _time(fn, *args) -> tuple[float, float]:
  """(compile + first call, second call) seconds."""
  compile_s = _seconds(fn, *args)
  return compile_s, _seconds(fn, *args)


def _row(what: str, env: str, size: str, value: float, unit: str, compile_s: float) -> dict:
  return {
    "what": what,
    "env": env,
    "size": size,
    "value": round(value, 3 if value < 100 else 0),
    "unit": unit,
    "compile_s": round(compile_s, 1),
  }


def env_throughput(name: str, num_envs: int, steps: int) -> dict:
  """Random actions (uniform discrete, N(0, I) continuous) in num_envs envs for steps steps: vmap + scan."""
  env = make_env(name)

  @jax.jit
  def run(key):
    states = jax.vmap(lambda _: env.reset(key))(jnp.arange(num_envs))

    def body(s, k):
      if env.continuous:
        a = jax.random.normal(k, (num_envs,) + env.action_shape)
      else:
        a = jax.random.randint(k, (num_envs,), 0, env.num_actions)
      s = jax.vmap(env.step)(s, a)
      return s, s.reward.sum()

    return jax.lax.scan(body, states, jax.random.split(key, steps))[1].sum()

  c, t = _time(run, jax.random.key(0))
  return _row("env rollout", name, f"{num_envs} envs x {steps} steps", num_envs * steps / t, "env-steps/s", c)


def ppo_throughput(name: str, num_updates: int) -> dict:
  """PPO updates at the authors' sizes: 20 envs x T steps, 10 epochs x 2 minibatches, PD 400-300-200, SD LSTM 256."""
  env = make_env(name)
  t = 99 if name == "swimmer" else 19
  cfg = SectarModelConfig(obs_dim=env.observation_size, action_dim=env.action_size, discrete=not env.continuous)
  pg, pp = nnx.split(PolicyDecoder(cfg, rngs=nnx.Rngs(0)), nnx.Param)
  dg, dp = nnx.split(StateDecoder(cfg, rngs=nnx.Rngs(1)), nnx.Param)
  pcfg, num_envs = PPOConfig(), 20
  update = ppo.make_update(env, pg, ppo.consistency_reward_fn(dg), pcfg, num_envs, t, cfg.latent_dim)
  train = jax.jit(ppo.make_train(update, num_updates))
  ts = ppo.init_ppo_state(pp, pcfg)
  c, secs = _time(train, ts, dp, jnp.broadcast_to(env.start_state, (10, env.observation_size)), jax.random.key(0))
  steps = num_updates * num_envs * t
  return _row(
    "PPO update (rollout + 10 epochs)",
    name,
    f"20 envs x {t} steps, authors' nets",
    num_updates / secs,
    f"updates/s ({steps / secs:,.0f} env-steps/s)",
    c,
  )


def mpc_latency(name: str, num_sequences: int, horizon: int) -> dict:
  """One random-shooting plan: K sequences of H latents, chained full-size state decoder, the env's true reward."""
  env = make_env(name)
  t = 99 if name == "swimmer" else 19
  cfg = SectarModelConfig(obs_dim=env.observation_size, action_dim=env.action_size, discrete=not env.continuous)
  dg, dp = nnx.split(StateDecoder(cfg, rngs=nnx.Rngs(1)), nnx.Param)
  decode = lambda params, z, s0, n: nnx.merge(dg, params)(z, s0, n)[0]
  mpc = MPCConfig(num_sequences=num_sequences, horizon=horizon)
  fn = jax.jit(
    lambda p, k: planning.plan(decode, env.reward_fn, p, env.start_state, jnp.int32(0), k, mpc, t, cfg.latent_dim).score
  )
  c, secs = _time(fn, dp, jax.random.key(0))
  return _row(
    "MPC replan (random shooting)", name, f"K={num_sequences}, H={horizon}, T={t}, SD LSTM 256", secs, "s per replan", c
  )


def mpc_stage_diagnostics(preset: str, rounds: int) -> dict:
  """The outer loop's MPC stage (episodes + the plan-fidelity and goals-passed metrics) against the same
  episodes alone, alternating rounds on the same parameters: what the diagnostics add to an iteration."""
  config = select_preset(commands.PRESETS, preset)
  stages = outer_loop.build(config)
  params = stages.init(0).params
  run_eps = outer_loop.make_mpc_fns(stages.env, stages.graphdefs, config)
  alone = jax.jit(lambda p, k: run_eps(p, k, config.mpc.num_episodes).rewards)
  key = jax.random.key(0)
  c, _ = _time(stages.mpc, params, key)
  _time(alone, params, key)
  with_diag, without = [], []
  for _ in range(rounds):  # both are compiled and warm by now: one timed call each per round
    with_diag.append(_seconds(stages.mpc, params, key))
    without.append(_seconds(alone, params, key))
  return _row(
    "MPC stage: with diagnostics / episodes alone",
    preset,
    f"{config.mpc.num_episodes} episodes x {config.mpc.num_latents} latents, {rounds} alternating rounds",
    min(with_diag) / min(without),
    f"x ({min(with_diag):.2f} s vs {min(without):.2f} s, best of rounds)",
    c,
  )


def rows(quick: bool = False) -> list[dict]:
  """All figures; quick shrinks every size (a smoke check of the script, not figures to record)."""
  n = 256 if quick else 1024
  out = [
    env_throughput("waypoint", n, 380),
    env_throughput("block", n, 380),
    env_throughput("wheeled", 32 if quick else 256, 10 if quick else 50),
    env_throughput("swimmer", 8 if quick else 64, 2 if quick else 5),
    ppo_throughput("waypoint", 2 if quick else 10),
    ppo_throughput("wheeled", 1 if quick else 3),
  ]
  k = 256 if quick else 2048
  out += [mpc_latency("waypoint", k, 10), mpc_latency("wheeled", k, 20)]
  out.append(mpc_stage_diagnostics("smoke" if quick else "block_cpu", 1 if quick else 3))
  return out


def main() -> None:
  print(f"jax {jax.__version__}, devices {jax.devices()}")
  for row in rows("--quick" in sys.argv):
    print(" | ".join(str(v) for v in row.values()), flush=True)


if __name__ == "__main__":
  main()
