"""Errors that mean the user asked for something that cannot be done, as opposed to a bug.

The CLI prints a `UserError` as one line on stderr and exits with code 2; any
other exception is a bug and keeps its traceback. Each class also derives from
the builtin a caller would expect (`ValueError`, `FileNotFoundError`), so code
that catches those keeps working.
"""

from __future__ import annotations


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
