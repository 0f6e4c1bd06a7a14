"""Errors that mean the user asked for something that cannot be done, as opposed to a bug.

The CLI prints a `UserError` as one line on stderr and exits with code 2; any
other exception is a bug and keeps its traceback. Each class also derives from
the builtin a caller would expect (`ValueError`, `FileNotFoundError`), so code
that catches those keeps working.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator


class UserError(Exception):
  """A mistake in the command, the config or the input files; the message says what to change."""


class ConfigError(UserError, ValueError):
  """An unknown model, preset or config key, a value of the wrong type, or a config the data cannot satisfy."""


class InputError(UserError, ValueError):
  """An input file or argument that cannot be used, e.g. a corrupt MIDI file or one with nothing to encode."""


class MissingFileError(UserError, FileNotFoundError):
  """A file or run that is not there, e.g. a workdir without checkpoints or a MIDI path that does not exist."""


class WorkdirMismatchError(UserError, ValueError):
  """A workdir written by another model, or checkpoints that do not fit the model's config."""


# Each optional system's third-party packages, by import name (pyproject.toml's extras install them).
EXTRAS: dict[str, tuple[str, ...]] = {
  "music": ("pretty_midi", "music21"),
  "sectar": ("brax", "mujoco"),
  "serve": ("starlette", "uvicorn", "python_multipart"),
}


class MissingExtraError(UserError, ImportError):
  """An optional system's package is not installed; the message names the extra that installs it."""


def missing_extra(extra: str, module: str) -> MissingExtraError:
  return MissingExtraError(f"{module} is not installed; {extra} needs it: pip install 'trajvae[{extra}]'")


@contextlib.contextmanager
def extra_imports(extra: str) -> Iterator[None]:
  """Around the imports of an optional system: a missing package of the extra becomes one MissingExtraError line.

  Any other failed import (a bug, or a broken install of something else) propagates unchanged.
  """
  try:
    yield
  except ImportError as e:
    root = (e.name or "").split(".")[0]
    if root not in EXTRAS[extra]:
      raise
    raise missing_extra(extra, root) from None


def require_extra(extra: str) -> None:
  """Raise MissingExtraError unless every package of the extra can be imported (found, not yet imported)."""
  for module in EXTRAS[extra]:
    if importlib.util.find_spec(module) is None:
      raise missing_extra(extra, module)
