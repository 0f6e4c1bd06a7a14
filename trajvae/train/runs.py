"""What every trained model's commands share: a saved run restored, and a metric averaged over a data set.

A run's workdir holds its config (in the checkpoint metadata) and its
parameters. `load_run` builds the model's graph definition and parameter
layout from that config with `nnx.eval_shape` (shapes only, no random
initialisation) and restores the parameters into it, as a `TrainedRun`: the
one shape every model's `load_run` returns (each model subclasses it with its
own methods). `dataset_means` averages a jitted per-batch metric function over
an array data set in fixed-size batches.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Generic, Mapping, Sequence, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from trajvae.config import from_dict, override
from trajvae.train.checkpoint import read_checkpoint_meta
from trajvae.train.supervised import load_trained_params
from trajvae.train.workdir import PathLike, workdir_path

C = TypeVar("C")
R = TypeVar("R", bound="TrainedRun")


@dataclasses.dataclass(frozen=True)
class TrainedRun(Generic[C]):
  """A trained run: its config (with any overrides), the model's graph definition, its parameters and step.

  Every model's `commands.load_run` returns a subclass of this that adds the model's methods.
  """

  config: C
  graphdef: nnx.GraphDef
  params: nnx.State
  step: int

  def model(self) -> nnx.Module:
    """The NNX module with the run's parameters (a fresh merge: mutating it leaves the run unchanged)."""
    return nnx.merge(self.graphdef, self.params)


def read_run_config(workdir: PathLike, config_type: type[C], overrides: Sequence[str] = ()) -> C:
  """The config a run was trained with, as config_type, with key=value overrides applied."""
  meta = read_checkpoint_meta(workdir_path(workdir) / "checkpoints")
  return override(from_dict(config_type, meta["config"]), overrides)


def abstract_model(build: Callable[[], nnx.Module]) -> tuple[nnx.GraphDef, nnx.State]:
  """(graphdef, parameter shapes) of the module build() makes, traced by nnx.eval_shape: no weights are drawn."""
  return nnx.split(nnx.eval_shape(build), nnx.Param)


def load_run(
  workdir: PathLike,
  name: str,
  config_type: type[C],
  build_model: Callable[[C], nnx.Module],
  overrides: Sequence[str] = (),
  run_type: type[R] = TrainedRun,
) -> R:
  """Restore the latest checkpoint of a run of model `name` as run_type(config, graphdef, params, step).

  build_model(config) constructs the module; it runs under nnx.eval_shape, so only
  its shapes are computed. The config must have `optim` (the optimiser state's
  layout is part of the checkpoint).
  """
  config = read_run_config(workdir, config_type, overrides)
  graphdef, abstract_params = abstract_model(lambda: build_model(config))
  params, step = load_trained_params(workdir, name, abstract_params, config.optim)
  return run_type(config, graphdef, params, step)


def dataset_means(
  batch_means: Callable[[jax.Array, jax.Array], Mapping[str, jax.Array]],
  data: np.ndarray,
  batch_size: int,
  key: jax.Array,
) -> dict[str, np.ndarray]:
  """Per-example means over data of batch_means(batch, key), run on consecutive batches of batch_size.

  batch_means returns each metric's mean over its batch (a scalar or an array, e.g. one value a track);
  batch i gets key fold_in(key, first index of batch i). The means are weighted by batch sizes, so a
  shorter last batch counts for what it holds.
  """
  if len(data) == 0:
    raise ValueError("cannot average over an empty data set")
  totals: dict[str, Any] = {}
  for start in range(0, len(data), batch_size):
    batch = jnp.asarray(data[start : start + batch_size])
    out = batch_means(batch, jax.random.fold_in(key, start))
    for name, value in out.items():
      totals[name] = totals.get(name, 0.0) + np.asarray(value, np.float64) * len(batch)
  return {name: total / len(data) for name, total in totals.items()}
