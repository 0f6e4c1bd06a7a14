"""What every model's endpoints share: the error type, checked parameters, bounded uploads, binary replies."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, Mapping

# Uploads (MIDI files) above this many bytes are refused with 413; a 2-bar or 16-bar MIDI file is a few KiB.
MAX_UPLOAD_BYTES = 1 << 20
# Whole request bodies are capped a little above that (form fields and multipart framing).
MAX_BODY_BYTES = MAX_UPLOAD_BYTES + (64 << 10)


class ApiError(Exception):
  """A request the server refuses: answered as JSON {"error": message} with the given 4xx status."""

  def __init__(self, status: int, message: str):
    super().__init__(message)
    self.status = status
    self.message = message


@dataclasses.dataclass(frozen=True)
class Binary:
  """A non-JSON reply (a MIDI file) with a download name."""

  content: bytes
  media_type: str
  filename: str


@dataclasses.dataclass(frozen=True)
class Params:
  """A request's fields (query string, JSON body or form fields) and uploaded files, read with range checks."""

  fields: Mapping[str, Any]
  files: Mapping[str, bytes] = dataclasses.field(default_factory=dict)

  def has(self, name: str) -> bool:
    return name in self.fields and self.fields[name] not in ("", None)

  def number(self, name: str, default: float | None, low: float, high: float) -> float:
    """A float in [low, high]; the default when absent (400 when absent without a default)."""
    if not self.has(name):
      if default is None:
        raise ApiError(400, f"missing parameter {name!r}")
      return float(default)
    raw = self.fields[name]
    try:
      value = float(raw)
    except (TypeError, ValueError):
      raise ApiError(400, f"parameter {name!r} must be a number, got {raw!r}") from None
    if not math.isfinite(value) or not low <= value <= high:
      raise ApiError(400, f"parameter {name!r} must lie in [{low:g}, {high:g}], got {raw!r}")
    return value

  def integer(self, name: str, default: int | None, low: int, high: int) -> int:
    """An int in [low, high]; the default when absent."""
    if not self.has(name):
      if default is None:
        raise ApiError(400, f"missing parameter {name!r}")
      return int(default)
    raw = self.fields[name]
    try:
      value = int(str(raw))
    except (TypeError, ValueError):
      raise ApiError(400, f"parameter {name!r} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
      raise ApiError(400, f"parameter {name!r} must lie in [{low}, {high}], got {value}")
    return value

  def choice(self, name: str, default: str, options: tuple[str, ...]) -> str:
    value = str(self.fields[name]) if self.has(name) else default
    if value not in options:
      raise ApiError(400, f"parameter {name!r} must be one of {', '.join(options)}; got {value!r}")
    return value

  def numbers(self, name: str, length: int, low: float, high: float) -> list[float]:
    """A list of `length` finite numbers in [low, high], given as a JSON array (or a JSON string of one)."""
    raw = self.fields.get(name)
    if isinstance(raw, str):
      try:
        raw = json.loads(raw)
      except json.JSONDecodeError:
        raise ApiError(400, f"parameter {name!r} must be a JSON array of {length} numbers") from None
    if not isinstance(raw, list) or len(raw) != length:
      raise ApiError(400, f"parameter {name!r} must be an array of {length} numbers")
    try:
      values = [float(v) for v in raw]
    except (TypeError, ValueError):
      raise ApiError(400, f"parameter {name!r} must be an array of {length} numbers") from None
    if not all(math.isfinite(v) and low <= v <= high for v in values):
      raise ApiError(400, f"every entry of {name!r} must lie in [{low:g}, {high:g}]")
    return values

  def json_value(self, name: str) -> Any:
    raw = self.fields.get(name)
    if isinstance(raw, str):
      try:
        return json.loads(raw)
      except json.JSONDecodeError:
        raise ApiError(400, f"parameter {name!r} is not valid JSON") from None
    return raw


def check_upload(name: str, data: bytes) -> bytes:
  """Refuse an empty or oversized upload (the size is also capped while the body is read)."""
  if not data:
    raise ApiError(400, f"the upload {name!r} is empty")
  if len(data) > MAX_UPLOAD_BYTES:
    raise ApiError(413, f"the upload {name!r} is larger than the {MAX_UPLOAD_BYTES // 1024} KiB limit")
  return data
