"""PPO in the PureJaxRL style: rollout -> advantages -> clipped updates, all inside one jax.jit.

Built for SeCTAR's two RL problems, which share a shape: fixed-length rollouts
of a (latent-conditioned) policy from given start states in a Brax env, with a
reward computed afterwards from the whole rollout by a model whose parameters
change every outer iteration:
- self-consistency: z ~ N(0, I), r_t = log N(s_t; mu_t^SD(z, s_0), sigma^2);
- exploration: no z, r = +(NLL/T + KL) of each segment (trajvae.sectar.explore).
Those model parameters (`reward_params`) and the start states are traced
arguments of the jitted update, so an outer loop never re-jits.

As the authors' PPO: zero baseline (no value function, "due to constantly
changing rewards"), GAE(gamma, lambda) on the rewards, normalised advantages,
clip 0.2, 10 epochs, Adam 3e-4 with eps 1e-5 and no gradient clip (PPOConfig in configs.py). Every rollout is exactly one episode of
`rollout_len` steps (T = 19 for the consistency objective), so no auto-reset.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx
from jax.sharding import Mesh

from trajvae.sectar.acting import PolicyFn, generate_unroll
from trajvae.sectar.configs import PPOConfig
from trajvae.sectar.envs import SectarEnv
from trajvae.sectar.losses import policy_log_prob
from trajvae.sectar.model import PolicyDecoder, Sectar
from trajvae.train.optim import gradient_step, make_optimizer
from trajvae.train.sharding import constrain_batch

Array = jax.Array
# (reward_params, latents [N, Z], start_states [N, D], next_obs [N, L, D], env_rewards [N, L]) -> [N, L]
RewardFn = Callable[[Any, Array, Array, Array, Array], Array]


class Rollout(NamedTuple):
  """Batch-major rollout: obs/next_obs [N, L, D], actions [N, L(, A)], log_probs/env_rewards [N, L]."""

  obs: Array
  actions: Array
  log_probs: Array
  next_obs: Array
  env_rewards: Array


class PPOState(NamedTuple):
  """A policy's parameters and its optimiser state."""

  params: Any
  opt_state: Any


def sample_action(policy: PolicyDecoder, s: Array, z: Array | None, key: Array) -> tuple[Array, Array]:
  """An action from pi(. | s, z) and its log-probability (one state; vmap for batches)."""
  out = policy(s, z)
  if policy.discrete:
    a = jax.random.categorical(key, out)
  else:
    mean, std = out
    a = mean + std * jax.random.normal(key, mean.shape)
  return a, policy_log_prob(policy, s, z, a)


def entropy(policy: PolicyDecoder, s: Array, z: Array | None) -> Array:
  out = policy(s, z)
  if policy.discrete:
    logp = jax.nn.log_softmax(out, axis=-1)
    return -jnp.sum(jnp.exp(logp) * logp, axis=-1)
  _, std = out
  return jnp.sum(jnp.log(std) + 0.5 * jnp.log(2 * jnp.pi * jnp.e)) * jnp.ones(s.shape[:-1])


def policy_sampler(policy: PolicyDecoder, latents: Array | None) -> PolicyFn:
  """policy_fn(obs [N, D], key) -> (actions, {"log_prob": [N]}): env n samples from pi(. | s_n, z_n)."""

  def policy_fn(obs: Array, key: Array) -> tuple[Array, dict[str, Array]]:
    keys = jax.random.split(key, obs.shape[0])
    if latents is None:
      a, logp = jax.vmap(lambda s, k: sample_action(policy, s, None, k))(obs, keys)
    else:
      a, logp = jax.vmap(lambda s, z, k: sample_action(policy, s, z, k))(obs, latents, keys)
    return a, {"log_prob": logp}

  return policy_fn


def rollout(env: SectarEnv, policy_fn: PolicyFn, start_states: Array, length: int, key: Array) -> Rollout:
  """Run policy_fn for `length` steps from each start state [N, D] (batch-major Rollout; log_probs from extras)."""
  first = jax.vmap(env.reset_to)(start_states)
  _, traj = generate_unroll(jax.vmap(env.step), first, policy_fn, key, length)
  batch_major = lambda x: jnp.swapaxes(x, 0, 1)
  return Rollout(
    batch_major(traj.obs),
    batch_major(traj.action),
    batch_major(traj.extras["log_prob"]),
    batch_major(traj.next_obs),
    batch_major(traj.reward),
  )


def discounted_advantages(rewards: Array, gamma: float, lam: float) -> Array:
  """GAE with a zero baseline: A_t = sum_k (gamma * lam)^k r_{t+k}, over the last axis."""

  def body(acc, r):
    acc = r + gamma * lam * acc
    return acc, acc

  _, adv = jax.lax.scan(body, jnp.zeros(rewards.shape[:-1]), jnp.moveaxis(rewards, -1, 0), reverse=True)
  return jnp.moveaxis(adv, 0, -1)


def ppo_loss(
  policy: PolicyDecoder,
  obs: Array,
  latents: Array | None,
  actions: Array,
  old_logp: Array,
  advantages: Array,
  config: PPOConfig,
) -> tuple[Array, dict]:
  """Clipped surrogate (negated for minimisation) minus an entropy bonus, over flat samples."""
  logp = policy_log_prob(policy, obs, latents, actions)
  ratio = jnp.exp(logp - old_logp)
  surrogate = jnp.minimum(ratio * advantages, jnp.clip(ratio, 1 - config.clip, 1 + config.clip) * advantages)
  ent = jnp.mean(entropy(policy, obs, latents))
  loss = -jnp.mean(surrogate) - config.entropy_coef * ent
  return loss, {"entropy": ent, "approx_kl": jnp.mean(old_logp - logp)}


class RolloutData(NamedTuple):
  """What an update collected: start states [N, D], the rollout, and the rewards [N, L] it was trained on."""

  starts: Array
  rollout: Rollout
  rewards: Array


def make_update(
  env: SectarEnv,
  graphdef: nnx.GraphDef,
  reward_fn: RewardFn,
  config: PPOConfig,
  num_envs: int,
  rollout_len: int,
  latent_dim: int | None,
  mesh: Mesh | None = None,
  sample_starts: bool = True,
) -> Callable:
  """update(ppo_state, reward_params, start_pool [M, D], key) -> (ppo_state, metrics, RolloutData); jit it once.

  num_envs rollouts of rollout_len steps per update. Start states are drawn
  uniformly from start_pool (sample_starts=False: start_pool is exactly the
  num_envs start states); latents from N(0, I) if latent_dim is given (the
  policy decoder), none otherwise (the explorer). The RolloutData is what the
  update trained on (the explorer keeps its segments for the buffer). With a
  mesh, the envs and each minibatch's samples are split over its data axis
  (same values).
  """
  optimizer = make_optimizer(config.optim)
  n, length = num_envs, rollout_len
  total = n * length
  num_mb, mb_size = config.minibatches(total)

  def update(train_state: PPOState, reward_params: Any, start_pool: Array, key: Array):
    k_start, k_z, k_roll, k_epochs = jax.random.split(key, 4)
    if sample_starts:
      starts = start_pool[jax.random.randint(k_start, (n,), 0, start_pool.shape[0])]
    elif start_pool.shape[0] != n:
      raise ValueError(f"sample_starts=False needs exactly num_envs = {n} start states, got {start_pool.shape[0]}")
    else:
      starts = start_pool
    latents = None if latent_dim is None else jax.random.normal(k_z, (n, latent_dim))
    starts, latents = constrain_batch((starts, latents), mesh)
    policy = nnx.merge(graphdef, train_state.params)
    traj = rollout(env, policy_sampler(policy, latents), starts, length, k_roll)
    rewards = reward_fn(reward_params, latents, starts, traj.next_obs, traj.env_rewards)
    adv = discounted_advantages(rewards, config.gamma, config.gae_lambda)
    if config.normalize_advantages:
      adv = (adv - adv.mean()) / (adv.std() + 1e-8)

    flat = lambda x: x.reshape((total,) + x.shape[2:])
    zs = None if latents is None else flat(jnp.broadcast_to(latents[:, None], (n, length, latent_dim)))
    data = (flat(traj.obs), zs, flat(traj.actions), flat(traj.log_probs), flat(adv))

    def minibatch_step(ts: PPOState, mb):
      loss_of = lambda p: ppo_loss(nnx.merge(graphdef, p), *mb, config)
      params, opt_state, loss, aux, _ = gradient_step(loss_of, optimizer, ts.params, ts.opt_state)
      return PPOState(params, opt_state), (loss, aux)

    def epoch(ts: PPOState, k):
      perm = jax.random.permutation(k, total)[: num_mb * mb_size]
      mbs = jax.tree.map(lambda x: x[perm].reshape((num_mb, mb_size) + x.shape[1:]), data)
      mbs = constrain_batch(mbs, mesh, axis=1)
      return jax.lax.scan(minibatch_step, ts, mbs)

    train_state, (loss, aux) = jax.lax.scan(epoch, train_state, jax.random.split(k_epochs, config.epochs))
    metrics = {
      "reward": jnp.mean(jnp.sum(rewards, axis=-1)),  # mean return per rollout, before the update
      "env_reward": jnp.mean(jnp.sum(traj.env_rewards, axis=-1)),
      "loss": jnp.mean(loss),
      "entropy": jnp.mean(aux["entropy"]),
      "approx_kl": aux["approx_kl"][-1, -1],
    }
    return train_state, metrics, RolloutData(starts, traj, rewards)

  return update


def init_ppo_state(params: Any, config: PPOConfig) -> PPOState:
  return PPOState(params, make_optimizer(config.optim).init(params))


def make_train(update: Callable, num_updates: int) -> Callable:
  """train(ppo_state, reward_params, start_pool, key) -> (ppo_state, metrics [num_updates]): lax.scan of updates."""

  def train(train_state: PPOState, reward_params: Any, start_pool: Array, key: Array):
    def body(ts, k):
      ts, metrics, _ = update(ts, reward_params, start_pool, k)
      return ts, metrics

    return jax.lax.scan(body, train_state, jax.random.split(key, num_updates))

  return train


def consistency_reward_fn(decoder_graphdef: nnx.GraphDef) -> RewardFn:
  """The self-consistency reward with the state decoder's parameters as reward_params."""
  from trajvae.sectar.losses import consistency_reward

  def fn(decoder_params, latents, starts, next_obs, env_rewards):
    del env_rewards
    decoder = nnx.merge(decoder_graphdef, decoder_params)
    means, std = decoder(latents, starts, next_obs.shape[-2])
    return consistency_reward(next_obs, means, std)

  return fn


def decoded_and_executed(
  model: Sectar, env: SectarEnv, latents: Array, starts: Array, length: int, key: Array
) -> tuple[Array, Array]:
  """For the same latents [N, Z] from starts [N, D]: the state decoder's means and the policy decoder's executed
  next observations, both [N, length, D] -- the two paths SeCTAR trains to agree (pictures, the explorer page)."""
  decoded = model.state_decoder(latents, starts, length)[0]
  executed = rollout(env, policy_sampler(model.policy, latents), starts, length, key).next_obs
  return decoded, executed
