"""SeCTAR's outer loop (the authors' Algorithm 1, VAEPDEntropy.train): one jitted function per stage, and one
outer iteration as a step of the shared training driver (trajvae.train.driver).

Per outer iteration:
1. MPC: `num_episodes` task episodes with hierarchical control (latent random
   shooting + the policy decoder), from the task's start state. Their summed
   sparse reward is the task reward the paper plots.
2. Exploration: the explorer runs from MPC-visited states, rewarded with the
   segments' -ELBO (no PPO update at the first iteration); entropy reset.
3. Buffer: the explorer's segments (+ actions) are appended (FIFO).
4. Fit: `rounds` x {one shuffled pass over the buffer's training split in
   VAE+BC minibatches, capped at `vae_steps` (Adam over encoder, state decoder
   and policy decoder), 1 PD PPO update on the consistency reward}.

Randomness derives from the driver's key of the iteration, fold_in(key(seed),
iteration), only, and the whole loop state (parameters, optimisers, explorer,
buffer, env-step count) is checkpointed, so a resumed run continues exactly as
an uninterrupted one.

Data parallel over a mesh spanning every device of every process (after
jax.distributed.initialize, see trajvae.train.distributed): the stages take and
return the loop state replicated, and split their batch axes (MPC episodes,
explorer and PD PPO envs and minibatches, VAE minibatches) over the mesh's data
axis. Splitting changes no random draw, so 2 processes x 2 devices, 1 x 4 and
1 x 1 train alike up to float rounding.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import Mesh

from trajvae.config import ConfigError, field_defaults, to_dict
from trajvae.sectar import buffer as rb
from trajvae.sectar import explore, planning, ppo
from trajvae.sectar.configs import SectarConfig
from trajvae.sectar.envs import SectarEnv, make_env
from trajvae.sectar.losses import vae_bc_loss, vae_bc_terms
from trajvae.sectar.model import Sectar
from trajvae.train import driver, sharding
from trajvae.train.checkpoint import CheckpointStore
from trajvae.train.distributed import check_same_config
from trajvae.train.metrics import MetricWriter
from trajvae.train.optim import gradient_step, make_optimizer
from trajvae.train.workdir import PathLike, workdir_path

Array = jax.Array
NAME = "sectar"


class LoopState(NamedTuple):
  params: Any  # nnx.State of the Sectar model
  vae_opt: Any
  pd_opt: Any  # PPO optimiser state of the policy decoder
  explorer: ppo.PPOState
  buffer: rb.Buffer
  env_steps: Array  # int32: env steps used so far (MPC + exploration + consistency PPO)


class Graphdefs(NamedTuple):
  """The NNX graph definitions of the model and of the parts the stages run alone; built once per config."""

  model: nnx.GraphDef
  state_decoder: nnx.GraphDef
  policy: nnx.GraphDef
  explorer: nnx.GraphDef


class Stages(NamedTuple):
  """The jitted stages of one outer iteration, and what they were built from."""

  env: SectarEnv
  mesh: Mesh  # the stages' inputs and outputs are replicated on it; their batch axes split over its data axis
  graphdefs: Graphdefs
  init: Callable[[int], LoopState]
  mpc: Callable  # (params, key) -> (Episode [E], metrics)
  explore: Callable  # (explorer, params, buffer, start_pool, key, do_update) -> (explorer, buffer, metrics)
  fit: Callable  # (params, vae_opt, pd_opt, buffer, key) -> (params, vae_opt, pd_opt, metrics)
  steps_per_iteration: int


def check_config(config: SectarConfig, env: SectarEnv) -> None:
  m = config.model
  if m.obs_dim != env.observation_size or m.action_dim != env.action_size or m.discrete == env.continuous:
    raise ConfigError(
      f"model (obs_dim={m.obs_dim}, action_dim={m.action_dim}, discrete={m.discrete}) does not fit env "
      f"{config.env.name!r} (observation_size={env.observation_size}, action_size={env.action_size}, "
      f"continuous={env.continuous})"
    )


def make_graphdefs(config: SectarConfig) -> Graphdefs:
  """The graph definitions of a config's model, its state decoder and policy decoder, and its explorer."""
  model = Sectar(config.model, rngs=nnx.Rngs(0))
  explorer, _ = explore.init_explorer(config.model, config.explore, jax.random.key(0))
  part = lambda module: nnx.split(module, nnx.Param)[0]
  return Graphdefs(part(model), part(model.state_decoder), part(model.policy), explorer)


def latent_policy(policy: Any, greedy: bool = False) -> planning.LatentPolicy:
  """z -> policy_fn(obs, key) of the policy decoder following z (greedy: the most likely discrete action)."""

  def follow(z: Array) -> Any:
    def policy_fn(obs: Array, key: Array) -> tuple[Array, dict]:
      if greedy and policy.discrete:
        return jnp.argmax(policy(obs, z), axis=-1), {}
      return ppo.sample_action(policy, obs, z, key)[0], {}

    return policy_fn

  return follow


def make_mpc_fns(
  env: SectarEnv, graphdefs: Graphdefs, config: SectarConfig, greedy: bool = False, mesh: Mesh | None = None
):
  """episodes(params, key, num_episodes) -> planning.Episode [num_episodes], split over mesh's data axis if given."""

  def episodes(params, key, num_episodes: int) -> planning.Episode:
    model = nnx.merge(graphdefs.model, params)
    sd_params = nnx.split(model.state_decoder, nnx.Param)[1]
    decode = lambda p, z, s0, n: nnx.merge(graphdefs.state_decoder, p)(z, s0, n)[0]
    follow = latent_policy(model.policy, greedy)
    run = lambda k: planning.mpc_episode(
      env, decode, follow, sd_params, k, config.mpc, config.segment_len, config.model.latent_dim
    )
    return jax.vmap(run)(sharding.constrain_batch(jax.random.split(key, num_episodes), mesh))

  return episodes


def batch_axes(config: SectarConfig) -> dict[str, int]:
  """The sizes of the batch axes the stages split over the devices, by config field."""
  return {
    "mpc.num_episodes": config.mpc.num_episodes,
    "explore.num_starts": config.explore.num_starts,
    "fit.pd_num_envs": config.fit.pd_num_envs,
    "fit.batch_size": config.fit.batch_size,
  }


def check_divisible(config: SectarConfig, num_devices: int) -> None:
  """Raise ValueError naming the first batch axis that does not divide over num_devices devices."""
  for name, size in batch_axes(config).items():
    if size % num_devices:
      raise ConfigError(
        f"{name} {size} is not divisible by the {num_devices} devices of the data mesh; use a multiple of {num_devices}"
      )


def steps_per_iteration(config: SectarConfig) -> int:
  """Env steps one outer iteration uses: MPC episodes + explorer rollouts + the fit's PD PPO rollouts."""
  m, ex, f, t = config.mpc, config.explore, config.fit, config.segment_len
  explore_len = explore.rollout_length(t, ex.num_segments)
  return m.num_episodes * m.num_latents * t + ex.num_starts * explore_len + f.rounds * f.pd_num_envs * t


def build(config: SectarConfig, mesh: Mesh | None = None) -> Stages:
  """The jitted stages for a config on mesh (default: every device of every process).

  Build once per run and pass the Stages on: each build makes new jitted
  functions (the persistent compilation cache makes a rebuild cheap, not free).
  Batch axes that do not divide over the devices still work (padded); train() rejects them.
  """
  mesh = sharding.data_mesh() if mesh is None else mesh
  env = make_env(config.env.name, task=config.env.task, continuous=config.env.continuous)
  check_config(config, env)
  t = config.segment_len
  g = make_graphdefs(config)
  f = config.fit
  vae_tx = make_optimizer(f.optim)
  pd_tx = make_optimizer(f.pd_ppo.optim)
  pd_update = ppo.make_update(
    env,
    g.policy,
    ppo.consistency_reward_fn(g.state_decoder),
    f.pd_ppo,
    f.pd_num_envs,
    t,
    config.model.latent_dim,
    mesh=mesh,
  )
  episodes = make_mpc_fns(env, g, config, mesh=mesh)
  ex = config.explore

  def init(seed: int) -> LoopState:
    k_model, k_explorer = jax.random.split(jax.random.key(seed))
    model = Sectar(config.model, rngs=nnx.Rngs(k_model))
    params = nnx.split(model, nnx.Param)[1]
    pd_params = nnx.split(model.policy, nnx.Param)[1]
    _, e_params = explore.init_explorer(config.model, ex, k_explorer)
    buf = rb.empty(config.train.buffer_capacity, t, env.observation_size, env.action_shape, not env.continuous)
    return LoopState(
      params,
      vae_tx.init(params),
      pd_tx.init(pd_params),
      ppo.init_ppo_state(e_params, ex.ppo),
      buf,
      jnp.zeros((), jnp.int32),
    )

  def mpc(params, key):
    eps = episodes(params, key, config.mpc.num_episodes)
    ret = jnp.sum(eps.rewards, axis=-1)
    return eps, {
      "task_reward": jnp.mean(ret),
      "task_reward_std": jnp.std(ret),
      "task_reward_max": jnp.max(ret),
      "mpc_predicted_score": jnp.mean(eps.plans.score),
      "mpc_goals_reached": jnp.mean(env.reward_fn(eps.obs)[1]),  # goals (or objects) passed, paid or not
      **plan_fidelity(params, eps, jax.random.fold_in(key, 1)),
    }

  def plan_fidelity(params, eps: planning.Episode, key: Array) -> dict[str, Array]:
    """The executed-vs-predicted gap of the planner's latents beside that of prior latents from the same replan
    states, and the chosen latents' mean square (1 for prior draws): diagnostics only, no env steps counted."""
    starts = eps.replan_states.reshape(-1, eps.replan_states.shape[-1])
    k_z, k_run = jax.random.split(key)
    z = jax.random.normal(k_z, (starts.shape[0], config.model.latent_dim))
    decoded, executed = ppo.decoded_and_executed(nnx.merge(g.model, params), env, z, starts, t, k_run)
    return {
      "mpc_segment_error": planning.executed_segment_error(eps, t),
      "prior_segment_error": jnp.mean(jnp.square(executed - decoded)),
      "mpc_latent_sq": jnp.mean(jnp.square(eps.latents)),
    }

  vae_names = ("vae_loss", "vae_nll", "vae_kl", "vae_bc", "vae_elbo")

  def vae_step(buffer, count, carry, xs):
    slots, k_z, i = xs

    def run(carry):
      params, opt = carry
      batch = sharding.constrain_batch(rb.Batch(buffer.states[slots], buffer.actions[slots]), mesh)
      loss_of = lambda p: vae_bc_loss(nnx.merge(g.model, p), batch, k_z, f.beta, f.bc_weight)
      params, opt, loss, terms, _ = gradient_step(loss_of, vae_tx, params, opt)
      m = (loss, terms.nll.mean(), terms.kl.mean(), terms.bc.mean(), terms.elbo.mean())
      return (params, opt), jnp.stack(m)

    skip = lambda carry: (carry, jnp.zeros((len(vae_names),), jnp.float32))
    return jax.lax.cond(i < count, run, skip, carry)

  def fit(params, vae_opt, pd_opt, buffer, key):
    def round_(carry, k):
      params, vopt, popt = carry
      k_vae, k_z, k_pool, k_ppo = jax.random.split(k, 4)
      slots, count = rb.epoch_slots(buffer, k_vae, f.batch_size, f.vae_steps)
      xs = (slots, jax.random.split(k_z, f.vae_steps), jnp.arange(f.vae_steps))
      (params, vopt), ms = jax.lax.scan(functools.partial(vae_step, buffer, count), (params, vopt), xs)
      m = dict(zip(vae_names, jnp.sum(ms, axis=0) / count))
      m["vae_steps"] = count.astype(jnp.float32)
      model = nnx.merge(g.model, params)
      _, sd_p = nnx.split(model.state_decoder, nnx.Param)
      _, pd_p = nnx.split(model.policy, nnx.Param)
      pool = rb.sample_start_states(buffer, k_pool, f.pd_num_envs)
      ts, pm, _ = pd_update(ppo.PPOState(pd_p, popt), sd_p, pool, k_ppo)
      nnx.update(model.policy, ts.params)
      _, params = nnx.split(model, nnx.Param)
      return (params, vopt, ts.opt_state), (m, pm)

    k_rounds, k_val = jax.random.split(key)
    (params, vae_opt, pd_opt), (vm, pm) = jax.lax.scan(
      round_, (params, vae_opt, pd_opt), jax.random.split(k_rounds, f.rounds)
    )
    k_vb, k_vz = jax.random.split(k_val)
    val = vae_bc_terms(
      nnx.merge(g.model, params), rb.sample_batch(buffer, k_vb, f.batch_size, "val"), k_vz, f.beta, f.bc_weight
    )
    metrics = {k: v[-1] for k, v in vm.items()}  # the last round's mean
    metrics.update(
      {
        "val_vae_loss": val.loss.mean(),
        "val_vae_elbo": val.elbo.mean(),
        "consistency_reward": jnp.mean(pm["reward"]) / t,  # per-step log N(s^PD; mu^SD, sigma^2)
        "pd_entropy": jnp.mean(pm["entropy"]),
      }
    )
    return params, vae_opt, pd_opt, metrics

  explore_step = explore.make_explore_step(env, g.model, g.explorer, config.model, ex, t, mesh=mesh)
  repl = sharding.replicated(mesh)
  jit = lambda fn: jax.jit(fn, in_shardings=repl, out_shardings=repl)
  return Stages(env, mesh, g, init, jit(mpc), jit(explore_step), jit(fit), steps_per_iteration(config))


def run_iteration(stages: Stages, state: LoopState, iteration: int, key: Array) -> tuple[LoopState, dict, Any]:
  """One outer iteration (0-based) with its key; returns the new state, its metrics (device arrays) and the
  MPC episodes."""
  k_mpc, k_explore, k_fit = jax.random.split(key, 3)
  eps, mpc_m = stages.mpc(state.params, k_mpc)
  pool = eps.replan_states.reshape(-1, eps.replan_states.shape[-1])  # the replan states (the authors' all_inits)
  explorer, buf, exp_m = stages.explore(
    state.explorer, state.params, state.buffer, pool, k_explore, jnp.asarray(iteration > 0)
  )
  params, vopt, popt, fit_m = stages.fit(state.params, state.vae_opt, state.pd_opt, buf, k_fit)
  state = LoopState(params, vopt, popt, explorer, buf, state.env_steps + stages.steps_per_iteration)
  metrics = {**mpc_m, **exp_m, **fit_m, "env_steps": state.env_steps, "buffer_size": buf.size}
  return state, metrics, eps


def open_store(config: SectarConfig, workdir: PathLike, read_only: bool = False) -> CheckpointStore:
  """The run's store; read_only opens an existing run without checking config against the one it was trained with
  (evaluation overrides such as mpc.num_sequences are not a resume)."""
  return CheckpointStore(
    workdir_path(workdir) / "checkpoints",
    NAME,
    None if read_only else to_dict(config),
    save_every=config.train.checkpoint_every,
    keep=config.train.keep_checkpoints,
    defaults=field_defaults(type(config)),
  )


def abstract_state(config: SectarConfig, stages: Stages) -> LoopState:
  """The loop state's shapes, replicated on the stages' mesh, by jax.eval_shape: a restore target that
  initialises nothing (at the authors' sizes the buffer alone holds 10^6 segments)."""
  repl = sharding.replicated(stages.mesh)
  return jax.tree.map(
    lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=repl),
    jax.eval_shape(lambda: stages.init(config.train.seed)),
  )


def restore_state(
  config: SectarConfig, workdir: PathLike, stages: Stages, step: int | None = None
) -> tuple[LoopState, int]:
  """(loop state, completed iterations) from a run's latest (or given) checkpoint."""
  template = abstract_state(config, stages)
  store = open_store(config, workdir, read_only=True)
  try:
    step = store.latest_step() if step is None else step
    return store.restore(template, step), step
  finally:
    store.close()


SHOWN = ("task_reward", "env_steps", "vae_loss", "consistency_reward", "explore_neg_elbo")


def train(
  config: SectarConfig, workdir: PathLike, verbose: bool = True, on_step: Callable[[int], None] | None = None
) -> LoopState:
  """Run (or resume) the outer loop to config.train.iterations on the shared driver; returns the final state.

  Logs every iteration to workdir/metrics.jsonl (+ TensorBoard), checkpoints
  every train.checkpoint_every iterations and at the end; on_step(iteration)
  runs after each completed (and, if due, checkpointed) iteration. In a
  multi-process run every process calls this with the same config; process 0
  writes the metrics, orbax each checkpoint once.
  """
  workdir = workdir_path(workdir)
  check_same_config(to_dict(config))
  stages = build(config)
  check_divisible(config, stages.mesh.devices.size)

  def step_fn(state: LoopState, iteration: int, key: Array) -> tuple[LoopState, dict]:
    state, metrics, _ = run_iteration(stages, state, iteration, key)
    return state, metrics

  return driver.run(
    lambda: sharding.replicate(stages.init(config.train.seed), stages.mesh),
    step_fn,
    config.train.iterations,
    open_store(config, workdir),
    MetricWriter(workdir, enabled=jax.process_index() == 0),
    name=NAME,
    seed=config.train.seed,
    log_every=1,
    shown=SHOWN,
    finite=("vae_loss",),
    verbose=verbose,
    on_step=on_step,
    template=abstract_state(config, stages),
  )


def episode_returns(eps: planning.Episode) -> np.ndarray:
  return np.asarray(jnp.sum(eps.rewards, axis=-1))
