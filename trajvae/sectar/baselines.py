"""Baselines on SeCTAR's tasks: flat PPO on the sparse task reward, and MPC with a learned one-step dynamics model.

Flat PPO: the explorer-shaped policy pi(a | s) (no z) trained with ppo.py on the
env's own sparse reward over the full horizon from the task's start state
(fixed task; the observation carries no task/progress index, as in the
authors' single-task setting).
Dynamics MPC (the authors' mpc/main_solution.py, Nagabandi-style, with DAgger):
an MLP f(s, a) -> s' - s fit by MSE on all transitions collected so far;
random shooting over K action sequences of `horizon` steps scored with the true
reward on predicted states (continuing the progress), the first `replan_every`
actions executed, then replan. Each iteration collects episodes with the current
model, then fits it.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from trajvae.sectar import ppo
from trajvae.sectar.configs import DynamicsMPCConfig, FlatPPOConfig, SectarModelConfig
from trajvae.sectar.envs import SectarEnv
from trajvae.sectar.model import MLP, PolicyDecoder
from trajvae.train.optim import gradient_step, make_optimizer

Array = jax.Array


def make_flat_ppo(env: SectarEnv, config: FlatPPOConfig, seed: int) -> tuple[Callable, ppo.PPOState, int]:
  """(jitted update(state, key) -> (state, metrics), initial state, env steps per update)."""
  mcfg = SectarModelConfig(
    obs_dim=env.observation_size, action_dim=env.action_size, discrete=not env.continuous, policy_mlp=config.policy_mlp
  )
  graphdef, params = nnx.split(PolicyDecoder(mcfg, use_latent=False, rngs=nnx.Rngs(seed)), nnx.Param)
  task_reward = lambda params, latents, starts, next_obs, env_rewards: env_rewards
  update = ppo.make_update(env, graphdef, task_reward, config.ppo, config.num_envs, env.horizon, None)
  pool = env.start_state[None]

  def step(ts: ppo.PPOState, key: Array) -> tuple[ppo.PPOState, dict]:
    ts, metrics, _ = update(ts, None, pool, key)
    return ts, metrics

  return jax.jit(step), ppo.init_ppo_state(params, config.ppo), config.num_envs * env.horizon


class DynState(NamedTuple):
  params: Any
  opt_state: Any
  s: Array  # [C, D] transition buffer
  a: Array  # [C] or [C, A]
  s_next: Array
  ptr: Array
  size: Array


def _action_features(env: SectarEnv, a: Array) -> Array:
  return a.astype(jnp.float32) if env.continuous else jax.nn.one_hot(a, env.num_actions)


def _random_actions(env: SectarEnv, key: Array, shape: tuple[int, ...]) -> Array:
  if env.continuous:
    return jax.random.uniform(key, shape + (env.action_size,), minval=-1.0, maxval=1.0)
  return jax.random.randint(key, shape, 0, env.num_actions)


def make_dynamics_mpc(env: SectarEnv, config: DynamicsMPCConfig, seed: int) -> tuple[Callable, DynState, int]:
  """(jitted iterate(state, key) -> (state, metrics), initial state, env steps per iteration)."""
  d = env.observation_size
  din = d + (env.action_size if env.continuous else env.num_actions)
  graphdef, params = nnx.split(MLP(din, config.hidden, d, rngs=nnx.Rngs(seed)), nnx.Param)
  tx = make_optimizer(config.optim)
  c = config.capacity
  a_shape = (c,) + env.action_shape
  state = DynState(
    params,
    tx.init(params),
    jnp.zeros((c, d)),
    jnp.zeros(a_shape, jnp.float32 if env.continuous else jnp.int32),
    jnp.zeros((c, d)),
    jnp.zeros((), jnp.int32),
    jnp.zeros((), jnp.int32),
  )
  num_plans = -(-env.horizon // config.replan_every)

  def predict(params, s, a):
    return s + nnx.merge(graphdef, params)(jnp.concatenate([s, _action_features(env, a)], axis=-1))

  def plan(params, s, progress, key):
    acts = _random_actions(env, key, (config.num_sequences, config.horizon))

    def body(x, a):
      x = predict(params, x, a)
      return x, x

    _, states = jax.lax.scan(body, jnp.broadcast_to(s, (config.num_sequences, d)), jnp.swapaxes(acts, 0, 1))
    rewards, _ = env.reward_fn(jnp.swapaxes(states, 0, 1), jnp.broadcast_to(progress, (config.num_sequences,)))
    score = rewards @ (config.discount ** jnp.arange(config.horizon, dtype=jnp.float32))
    return acts[jnp.argmax(score), : config.replan_every]

  def episode(params, key):
    def segment(st, k):
      acts = plan(params, st.obs, st.pipeline_state.progress, k)

      def step(st, a):
        nxt = env.step(st, a)
        return nxt, (st.obs, a, nxt.obs, nxt.reward)

      return jax.lax.scan(step, st, acts)

    _, (s, a, s2, r) = jax.lax.scan(segment, env.reset(key), jax.random.split(key, num_plans))
    flat = lambda x: x.reshape((-1,) + x.shape[2:])[: env.horizon]
    return flat(s), flat(a), flat(s2), flat(r)

  def iterate(state: DynState, key: Array):
    k_ep, k_fit = jax.random.split(key)
    s, a, s2, r = jax.vmap(lambda k: episode(state.params, k))(jax.random.split(k_ep, config.num_episodes))
    n = s.shape[0] * s.shape[1]
    slots = (state.ptr + jnp.arange(n)) % c
    put = lambda buf, x: buf.at[slots].set(x.reshape((n,) + x.shape[2:]).astype(buf.dtype))
    state = state._replace(
      s=put(state.s, s),
      a=put(state.a, a),
      s_next=put(state.s_next, s2),
      ptr=(state.ptr + n) % c,
      size=jnp.minimum(state.size + n, c),
    )

    def fit_step(carry, k):
      params, opt = carry
      i = jax.random.randint(k, (config.batch_size,), 0, state.size)
      loss_of = lambda p: (jnp.mean((predict(p, state.s[i], state.a[i]) - state.s_next[i]) ** 2), None)
      params, opt, loss, _, _ = gradient_step(loss_of, tx, params, opt)
      return (params, opt), loss

    (params, opt), losses = jax.lax.scan(
      fit_step, (state.params, state.opt_state), jax.random.split(k_fit, config.fit_steps)
    )
    ret = jnp.sum(r, axis=-1)
    return state._replace(params=params, opt_state=opt), {"task_reward": jnp.mean(ret), "model_mse": losses[-1]}

  return jax.jit(iterate), state, config.num_episodes * env.horizon
