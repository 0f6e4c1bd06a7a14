"""Orbax checkpoints of a training state, tagged with the model and config that made them.

Every model saves through this one module, so moving to a newer orbax API is a
one-file change. A checkpoint directory remembers which model wrote it; opening
it for another model is an error, not a confusing shape mismatch deep in orbax.
"""

from __future__ import annotations

import json
from typing import Any

import jax
import orbax.checkpoint as ocp

from trajvae.errors import MissingFileError
from trajvae.train.workdir import META_FILE as _META_FILE
from trajvae.train.workdir import CheckpointMismatchError, PathLike, read_checkpoint_meta, workdir_path

__all__ = ["CheckpointMismatchError", "CheckpointStore", "read_checkpoint_meta"]


class CheckpointStore:
  """Saves every `save_every` steps, keeps the newest `keep`, restores the latest."""

  def __init__(self, directory: PathLike, model_name: str, config: dict[str, Any], save_every: int, keep: int):
    self.directory = workdir_path(directory)
    self.model_name = model_name
    self._check_or_write_meta(config)
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, save_interval_steps=save_every, create=True)
    self._manager = ocp.CheckpointManager(self.directory, options=options)

  def _check_or_write_meta(self, config: dict[str, Any]) -> None:
    """Process 0 checks (and on a new run writes) the tag; the others check it once it is there."""
    from trajvae.train.distributed import barrier

    if jax.process_index() == 0:
      self._check_or_write_meta_locally(config)
    barrier("trajvae-checkpoint-meta")
    if jax.process_index() != 0:
      self._check_or_write_meta_locally(config)

  def _check_or_write_meta_locally(self, config: dict[str, Any]) -> None:
    meta_path = self.directory / _META_FILE
    if meta_path.exists():
      meta = json.loads(meta_path.read_text())
      if meta.get("model") != self.model_name:
        raise CheckpointMismatchError(
            f"checkpoint directory {self.directory} holds a {meta.get('model')!r} model, not {self.model_name!r}; "
            "use another workdir"
        )
      return
    if self.directory.exists() and any(self.directory.iterdir()):
      raise CheckpointMismatchError(
          f"{self.directory} is not empty and was not written by trajvae (no {_META_FILE}); use another workdir"
      )
    if jax.process_index() == 0:
      self.directory.mkdir(parents=True, exist_ok=True)
      meta_path.write_text(json.dumps({"model": self.model_name, "config": config}, indent=2))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def due(self, step: int) -> bool:
    """Whether save(step, ...) would write a checkpoint by the interval (without force)."""
    return self._manager.should_save(step)

  def save(self, step: int, state: Any, force: bool = False) -> bool:
    """Save state at step if the interval says so (or force); returns whether it saved."""
    return self._manager.save(step, args=ocp.args.StandardSave(state), force=force)

  def restore(self, abstract_state: Any, step: int | None = None) -> Any:
    """Restore into the structure, shapes and shardings of abstract_state (defaults to the latest step)."""
    step = self.latest_step() if step is None else step
    if step is None:
      raise MissingFileError(f"{self.directory} holds no saved checkpoint yet (did training save a step?)")
    target = jax.tree.map(_as_abstract, abstract_state)
    try:
      return self._manager.restore(step, args=ocp.args.StandardRestore(target))
    except (ValueError, KeyError, TypeError) as e:
      raise CheckpointMismatchError(
          f"checkpoint {self.directory}/{step} does not fit this {self.model_name!r} model's parameters "
          f"(was it trained with another model config?): {e}"
      ) from e

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()


def _as_abstract(x: Any) -> Any:
  if isinstance(x, jax.Array):
    return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding)
  return x
