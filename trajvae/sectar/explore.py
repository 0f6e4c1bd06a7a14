"""SeCTAR's explorer: a latent-free policy rewarded for segments the current VAE explains badly.

As the authors' code (vaepdentropy.py): the explorer pi_e(a | s) (the policy
decoder's MLP without z, Gaussian std init 20 for continuous actions) starts
from num_starts of the MPC episodes' replan states (drawn without replacement;
the task's start state is among them) and runs (T+1) * num_segments - 1 steps;
the start state and its states are cut into num_segments segments of T+1
states. Each segment's reward is +(NLL / T + KL), its negative ELBO per step
under the current VAE (the authors' `rewards[i, rewidx] = neg_elbos[i]` with
`neg_ll = -log_likelihood / path_len` of vae_bc.py), paid at action index (k+1)(T+1) - 1 for segment k (the
step after its last state) and at the last action for the last segment; zero
elsewhere. So PPO (minibatches of 200 samples, 10 epochs) pushes the explorer
towards behaviour the model cannot yet encode. If the mean entropy of the
rollout's action distributions (the policy before this iteration's update)
is below reset_entropy (1.34 waypoint, 1.6 block), the weight matrices are
re-initialised (xavier-uniform; biases and the Adam state are kept, as the
authors' `apply(xavier_init)`; a Gaussian's log-std goes back to its init).
The segments (+ actions) go to the buffer.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
from flax import nnx
from jax.sharding import Mesh

from trajvae.core.distributions import gaussian_sample, kl_to_standard_normal
from trajvae.sectar import buffer as rb
from trajvae.sectar import ppo
from trajvae.sectar.configs import ExploreConfig, SectarModelConfig
from trajvae.sectar.envs import SectarEnv
from trajvae.sectar.losses import state_decoder_nll
from trajvae.sectar.model import PolicyDecoder, Sectar

Array = jax.Array


def rollout_length(segment_len: int, num_segments: int) -> int:
  """Explorer steps per rollout: with the start state they make num_segments segments of T+1 states."""
  return (segment_len + 1) * num_segments - 1


def segment_nll_kl(model: Sectar, states: Array, key: Array) -> tuple[Array, Array]:
  """(state decoder NLL summed over s_1..s_T, KL) of segments [B, T+1, D] with one z sample each: ([B], [B])."""
  mean, std = model.encoder(states)
  z = gaussian_sample(key, mean, std)
  means, sd_std = model.state_decoder(z, states[..., 0, :], states.shape[-2] - 1)
  return state_decoder_nll(means, sd_std, states[..., 1:, :]), kl_to_standard_normal(mean, std)


def segment_reward(model: Sectar, states: Array, key: Array) -> Array:
  """The explorer's reward per segment, +(NLL / T + KL): large where the VAE explains the segment badly.

  The authors' vaepdentropy.py pays `neg_elbo = neg_ll + kl` from vae_bc.py's forward_batch (NLL per step, KL
  unweighted), and PPO maximises it: the explorer seeks what the model cannot yet encode.
  """
  nll, kl = segment_nll_kl(model, states, key)
  return nll / (states.shape[-2] - 1) + kl


def reward_indices(segment_len: int, num_segments: int) -> list[int]:
  """Action indices paying each segment's reward: (k+1)(T+1) - 1 for all but the last segment, then the last action.

  The authors' rewidx = range(T, L, T+1) + [L-1] with L = (T+1) n - 1 steps.
  """
  length = rollout_length(segment_len, num_segments)
  return [(k + 1) * (segment_len + 1) - 1 for k in range(num_segments - 1)] + [length - 1]


def cut_segments(starts: Array, next_obs: Array, actions: Array, segment_len: int) -> tuple[Array, Array]:
  """Rollouts (starts [N, D], next_obs [N, L, D], actions [N, L(, A)]) -> segments [N*n, T+1, D], [N*n, T(, A)].

  States s_0..s_L are cut into n = (L+1)/(T+1) non-overlapping segments; each
  keeps the T actions taken from its first T states.
  """
  n, length = next_obs.shape[:2]
  span = segment_len + 1
  if (length + 1) % span:
    raise ValueError(f"rollout of {length} steps does not cut into segments of {span} states")
  states = jnp.concatenate([starts[:, None], next_obs], axis=1).reshape(-1, span, starts.shape[-1])
  padded = jnp.concatenate([actions, actions[:, -1:]], axis=1)  # the last state's action leaves the segment
  acts = padded.reshape((-1, span) + actions.shape[2:])[:, :segment_len]
  return states, acts


def elbo_reward_fn(model_graphdef: nnx.GraphDef, segment_len: int) -> ppo.RewardFn:
  """The explorer's reward for ppo.make_update; reward_params = (VAE params, key for the ELBO's z samples)."""

  def fn(reward_params, latents, starts, next_obs, env_rewards):
    del latents, env_rewards
    params, key = reward_params
    model = nnx.merge(model_graphdef, params)
    n, length = next_obs.shape[:2]
    dummy = jnp.zeros((n, length), jnp.int32)
    segs, _ = cut_segments(starts, next_obs, dummy, segment_len)
    per_segment = segment_reward(model, segs, key).reshape(n, -1)  # [N, num_segments]
    idx = jnp.asarray(reward_indices(segment_len, per_segment.shape[1]))
    return jnp.zeros((n, length), jnp.float32).at[:, idx].set(per_segment)

  return fn


def init_explorer(model_config: SectarModelConfig, config: ExploreConfig, key: Array) -> tuple[nnx.GraphDef, Any]:
  """(graphdef, params) of a fresh explorer pi_e(a | s)."""
  policy = PolicyDecoder(model_config, use_latent=False, init_std=config.init_std, rngs=nnx.Rngs(key))
  return nnx.split(policy, nnx.Param)


def reinit_weights(params: Any, fresh: Any) -> Any:
  """The authors' reset (`policy_ex.apply(xavier_init)` + log-std back to its init): weight matrices and the
  log-std from `fresh` (a newly initialised explorer), biases kept from `params`."""

  def pick(path, old, new):
    names = {str(getattr(k, "key", getattr(k, "name", k))) for k in path}
    return old if "bias" in names else new

  return jax.tree_util.tree_map_with_path(pick, params, fresh)


def choose_starts(pool: Array, key: Array, n: int) -> Array:
  """n start states from the pool [M, D], without replacement (with replacement only if n > M), as the authors'."""
  m = pool.shape[0]
  return pool[jax.random.choice(key, m, (n,), replace=n > m)]


def make_explore_step(
  env: SectarEnv,
  model_graphdef: nnx.GraphDef,
  graphdef: nnx.GraphDef,
  model_config: SectarModelConfig,
  config: ExploreConfig,
  segment_len: int,
  mesh: Mesh | None = None,
) -> Callable:
  """step(explorer_state, model_params, buffer, start_pool [M, D], key, do_update) -> (explorer_state, buffer, metrics).

  model_graphdef is the SeCTAR model's, graphdef the explorer's (init_explorer).
  One explorer PPO iteration: rollouts from num_starts states of start_pool
  (the MPC replan states, drawn without replacement), +(NLL/T + KL) rewards, a
  PPO update (kept only if do_update: the authors skip it at the first
  iteration), the reset of the weights if the rollout's entropy (before the
  update) is below reset_entropy, and the segments appended to the buffer.
  Everything traced: jit it once. With a mesh, the rollouts are split over its data axis.
  """
  length = rollout_length(segment_len, config.num_segments)
  update = ppo.make_update(
    env,
    graphdef,
    elbo_reward_fn(model_graphdef, segment_len),
    config.ppo,
    config.num_starts,
    length,
    None,
    mesh=mesh,
    sample_starts=False,
  )

  def step(state: ppo.PPOState, model_params: Any, buffer: rb.Buffer, start_pool: Array, key: Array, do_update: Array):
    k_start, k_update, k_elbo, k_init = jax.random.split(key, 4)
    starts = choose_starts(start_pool, k_start, config.num_starts)
    new, metrics, data = update(state, (model_params, k_elbo), starts, k_update)
    rollout_policy = nnx.merge(graphdef, state.params)  # the policy that acted
    ent = jnp.mean(ppo.entropy(rollout_policy, data.rollout.obs, None))
    state = jax.tree.map(lambda a, b: jnp.where(do_update, a, b), new, state)
    reset = ent < config.reset_entropy
    fresh = reinit_weights(state.params, init_explorer(model_config, config, k_init)[1])
    state = state._replace(params=jax.tree.map(lambda a, b: jnp.where(reset, a, b), fresh, state.params))
    segs, acts = cut_segments(data.starts, data.rollout.next_obs, data.rollout.actions, segment_len)
    buffer = rb.add(buffer, segs, acts)
    out = {
      "explore_neg_elbo": jnp.mean(metrics["reward"]) / config.num_segments,  # mean NLL/T + KL per segment
      "explore_entropy": ent,
      "explore_reset": reset.astype(jnp.float32),
      "explore_env_steps": jnp.float32(config.num_starts * length),
    }
    return state, buffer, out

  return step
