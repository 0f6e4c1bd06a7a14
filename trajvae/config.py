"""Typed configs: frozen dataclasses, named presets, and `key.path=value` overrides.

A model's config is a tree of frozen dataclasses. Overrides from the command
line (`train.steps=500 optim.learning_rate=1e-3`) are parsed against the field
types, so a misspelt key or a value of the wrong type fails with a message that
names it instead of being silently ignored.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import types
import typing
from typing import Any, Literal, Mapping, Sequence, TypeVar

from trajvae.errors import ConfigError

C = TypeVar("C")


def _field_types(cls: type) -> dict[str, Any]:
  hints = typing.get_type_hints(cls)
  return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _unknown_key_error(path: str, key: str, known: Sequence[str], cls: type | None = None) -> ConfigError:
  """A ConfigError for an unknown key: the section's KEY_HINTS entry for it (a class attribute mapping a
  key another model's config has to what this one calls it), else the closest known key."""
  hint = getattr(cls, "KEY_HINTS", {}).get(key)
  if hint:
    return ConfigError(f"unknown config key {path!r}: {hint}")
  close = difflib.get_close_matches(key, known, n=1)
  hint = f"; did you mean {close[0]!r}?" if close else ""
  return ConfigError(f"unknown config key {path!r}{hint} (known keys here: {', '.join(sorted(known))})")


def _coerce(path: str, value: Any, annotation: Any) -> Any:
  """Convert value (a string from the command line, or a JSON value) to annotation, or raise."""
  origin = typing.get_origin(annotation)
  args = typing.get_args(annotation)
  if origin in (typing.Union, types.UnionType):
    if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
      if type(None) in args:
        return None
    for option in args:
      if option is type(None):
        continue
      try:
        return _coerce(path, value, option)
      except ConfigError:
        pass
    raise ConfigError(f"config key {path!r}: cannot read {value!r} as {annotation}")
  if origin is Literal:
    for option in args:
      if value == option or (isinstance(value, str) and str(option) == value):
        return option
    raise ConfigError(f"config key {path!r}: {value!r} is not one of {list(args)}")
  if origin in (tuple, list):
    if isinstance(value, str):
      value = [v for v in value.strip("()[]").split(",") if v.strip()]
    if not isinstance(value, (list, tuple)):
      raise ConfigError(f"config key {path!r}: expected a sequence, got {value!r}")
    item_type = args[0] if args else str
    return tuple(_coerce(path, v.strip() if isinstance(v, str) else v, item_type) for v in value)
  if annotation is bool:
    if isinstance(value, bool):
      return value
    if isinstance(value, str) and value.lower() in ("true", "1", "yes"):
      return True
    if isinstance(value, str) and value.lower() in ("false", "0", "no"):
      return False
    raise ConfigError(f"config key {path!r}: expected a bool, got {value!r}")
  if annotation is int:
    if isinstance(value, bool):
      raise ConfigError(f"config key {path!r}: expected an int, got {value!r}")
    if isinstance(value, int):
      return value
    try:
      return int(str(value))
    except ValueError:
      raise ConfigError(f"config key {path!r}: expected an int, got {value!r}") from None
  if annotation is float:
    if isinstance(value, bool):
      raise ConfigError(f"config key {path!r}: expected a float, got {value!r}")
    try:
      return float(value)
    except (TypeError, ValueError):
      raise ConfigError(f"config key {path!r}: expected a float, got {value!r}") from None
  if annotation is str:
    if not isinstance(value, str):
      raise ConfigError(f"config key {path!r}: expected a string, got {value!r}")
    return value
  if dataclasses.is_dataclass(annotation):
    if not isinstance(value, Mapping):
      raise ConfigError(f"config key {path!r}: expected a section, got {value!r}")
    return from_dict(annotation, value, prefix=path)
  raise ConfigError(f"config key {path!r}: unsupported type {annotation}")


def override(config: C, assignments: Sequence[str]) -> C:
  """Return config with each `dotted.key=value` assignment applied, type-checked."""
  for assignment in assignments:
    if "=" not in assignment:
      raise ConfigError(f"override {assignment!r} is not of the form key=value")
    path, raw = assignment.split("=", 1)
    config = _set(config, path.strip().split("."), raw.strip(), path.strip())
  return config


def _set(node: Any, keys: list[str], raw: Any, path: str) -> Any:
  types_ = _field_types(type(node))
  key = keys[0]
  if key not in types_:
    raise _unknown_key_error(path, key, list(types_), type(node))
  if len(keys) == 1:
    if dataclasses.is_dataclass(types_[key]):
      raise ConfigError(f"config key {path!r} is a section; set one of its fields instead")
    return dataclasses.replace(node, **{key: _coerce(path, raw, types_[key])})
  child = getattr(node, key)
  if not dataclasses.is_dataclass(child):
    raise ConfigError(f"config key {path!r}: {key!r} is a value, not a section")
  return dataclasses.replace(node, **{key: _set(child, keys[1:], raw, path)})


def to_dict(config: Any) -> dict[str, Any]:
  """The config as plain JSON-serialisable data (tuples become lists)."""
  return json.loads(json.dumps(dataclasses.asdict(config)))


def field_defaults(cls: type, prefix: str = "") -> dict[str, Any]:
  """{dotted.key: default} of every field of a config dataclass that has a default, sections recursed.

  A checkpoint written before a field existed lacks its key; a resume that holds the
  field at this default runs the model the checkpoint's run ran (CheckpointStore).
  """
  out: dict[str, Any] = {}
  for f in dataclasses.fields(cls):
    if f.default is not dataclasses.MISSING:
      value = f.default
    elif f.default_factory is not dataclasses.MISSING:
      value = f.default_factory()
    else:
      continue
    if dataclasses.is_dataclass(value):
      out.update(field_defaults(type(value), f"{prefix}{f.name}."))
    else:
      out[f"{prefix}{f.name}"] = json.loads(json.dumps(value))
  return out


def from_dict(cls: type[C], data: Mapping[str, Any], prefix: str = "") -> C:
  """Build cls from nested plain data; every key must be known and every value of the right type."""
  types_ = _field_types(cls)
  for key in data:
    if key not in types_:
      raise _unknown_key_error(f"{prefix}.{key}" if prefix else key, key, list(types_), cls)
  kwargs = {key: _coerce(f"{prefix}.{key}" if prefix else key, value, types_[key]) for key, value in data.items()}
  try:
    return cls(**kwargs)
  except TypeError as e:
    raise ConfigError(f"config section {prefix or cls.__name__}: {e}") from None


def select_preset(presets: Mapping[str, Any], name: str) -> Any:
  """The preset called name, or a ConfigError listing the known ones."""
  if name not in presets:
    close = difflib.get_close_matches(name, list(presets), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"unknown preset {name!r}{hint} (known: {', '.join(presets)})")
  preset = presets[name]
  return preset() if callable(preset) else preset
