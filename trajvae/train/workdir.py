"""Workdirs as etils.epath paths: local folders, or remote URLs such as gs://bucket/run.

pathlib folds 'gs://bucket/run' into 'gs:/bucket/run'; epath keeps the URL and
reaches the bucket through whichever backend is installed (gcsfs, tf.io.gfile),
and orbax takes epath paths as they are.
"""

from __future__ import annotations

import os
import pathlib
import re

from etils import epath

PathLike = str | os.PathLike
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_remote(path: PathLike) -> bool:
  """Whether path is a URL (gs://, s3://, ...) rather than a local path."""
  return bool(_URL.match(os.fspath(path)))


def workdir_path(path: PathLike) -> epath.Path:
  """An epath.Path of path: a URL as given, a local path with ~ expanded and made absolute."""
  if is_remote(path):
    return epath.Path(os.fspath(path))
  return epath.Path(os.path.abspath(os.path.expanduser(os.fspath(path))))


def local_output_dir(out_dir: PathLike | None, default: PathLike) -> pathlib.Path:
  """Where sample/interpolate write their PNG and MIDI files: out_dir, else default, which must be local."""
  if out_dir is None and is_remote(default):
    from trajvae.config import ConfigError

    raise ConfigError(f"pictures and MIDI files are written locally; give --out for the remote workdir {default}")
  return pathlib.Path(os.fspath(out_dir if out_dir is not None else default)).expanduser()
