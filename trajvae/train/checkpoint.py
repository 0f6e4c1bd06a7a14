"""Orbax checkpoints of a training state, tagged with the model and config that made them.

Every model saves through this one module, so moving to a newer orbax API is a
one-file change. A checkpoint directory remembers which model wrote it and with
which config; opening it for another model is an error, not a confusing shape
mismatch deep in orbax. Resuming with another config is refused when the change
could alter the model or the data (shapes, seeds, data source, loss); changes to
the schedule (the model's `schedule_keys`: run length, logging, evaluation and
checkpoint cadence) are allowed and recorded in the metadata's `resumes` list.

Saves are asynchronous: `save` returns once orbax holds the state, and the
write finishes in the background while training goes on; orbax waits for a
save in flight before starting the next, and `close` waits before exit.
"""

from __future__ import annotations

import json
from typing import Any, Collection, Mapping

import jax
import orbax.checkpoint as ocp

from trajvae.errors import MissingFileError
from trajvae.train.workdir import META_FILE as _META_FILE
from trajvae.train.workdir import CheckpointMismatchError, PathLike, read_checkpoint_meta, workdir_path

__all__ = ["SCHEDULE_KEYS", "CheckpointMismatchError", "CheckpointStore", "config_changes", "read_checkpoint_meta"]

# Config keys (dotted; a trailing "." covers a section) that only schedule a run: changing them on resume
# neither changes the model nor the data it sees, so a resumed run may take new values.
SCHEDULE_KEYS = frozenset(
  {
    "train.steps",
    "train.iterations",
    "train.log_every",
    "train.eval_every",
    "train.checkpoint_every",
    "train.keep_checkpoints",
    "eval.",
  }
)


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
  """{dotted.key: value} of a nested config dict (as to_dict gives it)."""
  out: dict[str, Any] = {}
  for key, value in config.items():
    if isinstance(value, Mapping):
      out.update(flatten(value, f"{prefix}{key}."))
    else:
      out[f"{prefix}{key}"] = value
  return out


def config_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
  """{dotted key: (old value, new value)} for every key whose value differs (missing: None)."""
  a, b = flatten(old), flatten(new)
  return {k: (a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)}


def is_schedule_key(key: str, schedule_keys: Collection[str]) -> bool:
  return any(key == s or (s.endswith(".") and key.startswith(s)) for s in schedule_keys)


class CheckpointStore:
  """Saves every `save_every` steps, keeps the newest `keep`, restores the latest.

  config is the run's config (to_dict): a new run records it, a resumed run is checked against it
  (schedule_keys may differ). config=None opens an existing run for reading, checking only the model.
  defaults ({dotted key: default}, config.field_defaults) lets a run resume whose checkpoint predates a
  config field, when the resumed config holds that field at its default.
  """

  def __init__(
    self,
    directory: PathLike,
    model_name: str,
    config: dict[str, Any] | None,
    save_every: int,
    keep: int,
    schedule_keys: Collection[str] = SCHEDULE_KEYS,
    defaults: Mapping[str, Any] | None = None,
  ):
    self.directory = workdir_path(directory)
    self.defaults = dict(defaults or {})
    self.model_name = model_name
    self.schedule_keys = frozenset(schedule_keys)
    changes = self._check_or_write_meta(config)
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, save_interval_steps=save_every, create=True)
    self._manager = ocp.CheckpointManager(self.directory, options=options)
    if changes and jax.process_index() == 0:
      self._record_resume(config, changes)

  def _check_or_write_meta(self, config: dict[str, Any] | None) -> dict[str, tuple[Any, Any]]:
    """Process 0 checks (and on a new run writes) the tag; the others check it once it is there."""
    from trajvae.train.distributed import barrier

    changes: dict[str, tuple[Any, Any]] = {}
    if jax.process_index() == 0:
      changes = self._check_or_write_meta_locally(config)
    barrier("trajvae-checkpoint-meta")
    if jax.process_index() != 0:
      changes = self._check_or_write_meta_locally(config, write=False)
    return changes

  def _check_or_write_meta_locally(
    self, config: dict[str, Any] | None, write: bool = True
  ) -> dict[str, tuple[Any, Any]]:
    """The allowed config changes of a resume ({} for a new run); raises for another model or a refused change."""
    meta_path = self.directory / _META_FILE
    if meta_path.exists():
      meta = json.loads(meta_path.read_text())
      if meta.get("model") != self.model_name:
        raise CheckpointMismatchError(
          f"checkpoint directory {self.directory} holds a {meta.get('model')!r} model, not {self.model_name!r}; "
          "use another workdir"
        )
      if config is None:
        return {}
      changes = config_changes(meta["config"], config)
      recorded = flatten(meta["config"])
      refused = {
        k: v
        for k, v in changes.items()
        if not is_schedule_key(k, self.schedule_keys)
        and not (k not in recorded and k in self.defaults and v[1] == self.defaults[k])  # a field added since
      }
      if refused:
        listed = ", ".join(f"{k} {old!r} -> {new!r}" for k, (old, new) in refused.items())
        raise CheckpointMismatchError(
          f"{self.directory} holds a run with another model or data config: {listed}; only the schedule "
          f"({', '.join(sorted(self.schedule_keys))}) may change on resume; use another workdir"
        )
      return changes
    if config is None:
      raise MissingFileError(f"{self.directory} holds no trajvae checkpoints (missing {_META_FILE})")
    if self.directory.exists() and any(self.directory.iterdir()):
      raise CheckpointMismatchError(
        f"{self.directory} is not empty and was not written by trajvae (no {_META_FILE}); use another workdir"
      )
    if write:
      self.directory.mkdir(parents=True, exist_ok=True)
      meta_path.write_text(json.dumps({"model": self.model_name, "config": config}, indent=2))
    return {}

  def _record_resume(self, config: dict[str, Any], changes: Mapping[str, tuple[Any, Any]]) -> None:
    """Make config the run's config and append {step, changes} to the metadata's resumes."""
    meta_path = self.directory / _META_FILE
    meta = json.loads(meta_path.read_text())
    step = self.latest_step() or 0
    meta.setdefault("resumes", []).append({"step": step, "changes": {k: list(v) for k, v in changes.items()}})
    meta["config"] = config
    meta_path.write_text(json.dumps(meta, indent=2))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def due(self, step: int) -> bool:
    """Whether save(step, ...) would write a checkpoint by the interval (without force)."""
    return self._manager.should_save(step)

  def save(self, step: int, state: Any, force: bool = False) -> bool:
    """Start saving state at step if the interval says so (or force); returns whether it did.

    Asynchronous: orbax first waits for a save still in flight (saves never overlap), then copies the
    state off the device and writes it in the background; `wait` or `close` waits for it.
    """
    return self._manager.save(step, args=ocp.args.StandardSave(state), force=force)

  def restore(self, abstract_state: Any, step: int | None = None) -> Any:
    """Restore into the structure, shapes and shardings of abstract_state (defaults to the latest step).

    abstract_state may hold arrays or jax.ShapeDtypeStruct leaves (with shardings): a template built by
    jax.eval_shape / nnx.eval_shape, so nothing is initialised just to be overwritten.
    """
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
    """Block until the save in flight (if any) is written."""
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()


def _as_abstract(x: Any) -> Any:
  if isinstance(x, jax.Array):
    return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding)
  return x
