"""The training loop every model shares.

A model plugs in as a `TrainTask`: its NNX graph definition and initial
parameters, a loss function over (model, batch, key, step), and a step-indexed
batch source. The loop owns the rest: a jit-compiled data-parallel step,
optimiser, checkpoints with exact resume, metrics and progress.

Exact resume follows from three choices: batches are a pure function of the
step, the step's random key is fold_in(seed key, step), and the optimiser state
is checkpointed with the parameters. A run restarted from its last checkpoint
therefore replays precisely the steps it lost.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx, struct

from trajvae.train import sharding
from trajvae.train.checkpoint import CheckpointStore
from trajvae.train.distributed import check_same_config
from trajvae.train.metrics import MetricWriter, Progress, to_python
from trajvae.train.optim import OptimConfig, make_optimizer
from trajvae.train.workdir import PathLike, workdir_path

Batch = Mapping[str, Any]
LossFn = Callable[[nnx.Module, Batch, jax.Array, jax.Array], tuple[jax.Array, dict[str, jax.Array]]]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Loop settings shared by every model."""

  steps: int = 10_000
  batch_size: int = 100
  seed: int = 0
  log_every: int = 100
  # 0 disables periodic evaluation.
  eval_every: int = 0
  checkpoint_every: int = 1_000
  keep_checkpoints: int = 3


@struct.dataclass
class TrainState:
  """Everything a step reads and writes; a pytree, so it jits, shards and checkpoints as one."""

  step: jax.Array
  params: nnx.State
  opt_state: optax.OptState


@dataclasses.dataclass(frozen=True)
class TrainTask:
  """What a model hands the loop.

  loss_fn(model, batch, key, step) returns the scalar loss (mean over the
  batch) and a dict of scalar metrics. batches(step) returns this process's
  share of the batch for that step as numpy arrays; validate_batch raises a
  ValueError naming the problem for a malformed batch. evaluate(model, step),
  if given, returns held-out metrics.
  """

  name: str
  graphdef: nnx.GraphDef
  params: nnx.State
  loss_fn: LossFn
  batches: Callable[[int], Batch]
  validate_batch: Callable[[Batch], None] = lambda batch: None
  evaluate: Callable[[nnx.Module, int], Mapping[str, float]] | None = None


class NonFiniteLossError(FloatingPointError):
  """The loss became NaN or infinite; training stops before saving a broken state."""


def init_train_state(params: nnx.State, tx: optax.GradientTransformation) -> TrainState:
  return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params))


def make_train_step(graphdef: nnx.GraphDef, loss_fn: LossFn, tx: optax.GradientTransformation):
  """A pure train_step(state, batch, key) -> (state, metrics), not yet jitted."""

  def train_step(state: TrainState, batch: Batch, key: jax.Array) -> tuple[TrainState, dict[str, jax.Array]]:
    def loss_of(params):
      return loss_fn(nnx.merge(graphdef, params), batch, key, state.step)

    (loss, metrics), grads = jax.value_and_grad(loss_of, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = {"loss": loss, "grad_norm": optax.global_norm(grads), **metrics}
    return TrainState(step=state.step + 1, params=params, opt_state=opt_state), metrics

  return train_step


def jit_data_parallel(train_step, mesh: jax.sharding.Mesh):
  """jit train_step with the state replicated and the batch split over the mesh's data axis."""
  repl = sharding.replicated(mesh)
  return jax.jit(
      train_step,
      in_shardings=(repl, sharding.batch_sharded(mesh), repl),
      out_shardings=(repl, repl),
      donate_argnums=(0,),
  )


def check_finite_batch(batch: Batch) -> None:
  """Raise ValueError naming the first field of the batch that holds a NaN or an infinity."""
  for name, value in batch.items():
    value = np.asarray(value)
    if np.issubdtype(value.dtype, np.floating) and not np.all(np.isfinite(value)):
      bad = int(np.sum(~np.isfinite(value)))
      raise ValueError(f"batch field {name!r} holds {bad} NaN/inf value(s)")


def step_key(seed_key: jax.Array, step: int) -> jax.Array:
  return jax.random.fold_in(seed_key, step)


def fit(
    task: TrainTask,
    optim: OptimConfig,
    train: TrainConfig,
    workdir: PathLike,
    config_dict: Mapping[str, Any],
    *,
    verbose: bool = True,
    on_step: Callable[[int], None] | None = None,
) -> TrainState:
  """Train task to train.steps, resuming from workdir's latest checkpoint if there is one.

  on_step(step) is called after each completed step (tests use it to simulate
  a crash). Returns the final state, replicated on the mesh.
  """
  workdir = workdir_path(workdir)
  check_same_config(config_dict)
  mesh = sharding.data_mesh()
  sharding.check_batch_divisible(train.batch_size, mesh)
  tx = make_optimizer(optim)
  store = CheckpointStore(
      workdir / "checkpoints", task.name, dict(config_dict), train.checkpoint_every, train.keep_checkpoints
  )
  state = sharding.replicate(init_train_state(task.params, tx), mesh)
  if store.latest_step() is not None:
    state = store.restore(state)
    if verbose:
      print(f"resumed {task.name} from {store.directory}/{store.latest_step()}", flush=True)
  start = int(state.step)

  step_fn = jit_data_parallel(make_train_step(task.graphdef, task.loss_fn, tx), mesh)
  seed_key = jax.random.key(train.seed)
  writer = MetricWriter(workdir, enabled=jax.process_index() == 0)
  progress = Progress(train.steps, start, enabled=verbose and jax.process_index() == 0)
  try:
    for step in range(start, train.steps):
      batch = task.batches(step)
      task.validate_batch(batch)
      check_finite_batch(batch)
      state, metrics = step_fn(state, sharding.shard_batch(batch, mesh), step_key(seed_key, step))
      done = step + 1
      if step == start:
        jax.block_until_ready(state)
        progress.restart_clock(done)
      last = done == train.steps
      if done % train.log_every == 0 or last or done % train.checkpoint_every == 0:
        values = to_python(metrics)
        if not np.isfinite(values["loss"]):
          raise NonFiniteLossError(
              f"{task.name}: loss is {values['loss']} at step {done}; last good checkpoint: step {store.latest_step()}"
          )
        if done % train.log_every == 0 or last:
          writer.write(done, values)
          progress.update(done, {"loss": values["loss"]})
      if task.evaluate is not None and train.eval_every and (done % train.eval_every == 0 or last):
        eval_metrics = task.evaluate(nnx.merge(task.graphdef, state.params), done)
        writer.write(done, eval_metrics, split="eval")
        if verbose and jax.process_index() == 0:
          print(f"eval @ {done}: " + " ".join(f"{k} {v:.4g}" for k, v in eval_metrics.items()), flush=True)
      store.save(done, state, force=last)
      if on_step is not None:
        on_step(done)
  finally:
    store.close()
    writer.close()
  return state


def load_trained_params(
    workdir: PathLike, name: str, params: nnx.State, optim: OptimConfig, step: int | None = None
) -> tuple[nnx.State, int]:
  """The parameters of a run's latest (or given) checkpoint, restored into params' structure, and their step."""
  from trajvae.train.checkpoint import read_checkpoint_meta

  directory = workdir_path(workdir) / "checkpoints"
  meta = read_checkpoint_meta(directory)
  store = CheckpointStore(directory, name, meta["config"], save_every=1, keep=1_000_000)
  try:
    template = sharding.replicate(init_train_state(params, make_optimizer(optim)), sharding.data_mesh())
    state = store.restore(template, step)
  finally:
    store.close()
  return state.params, int(state.step)
