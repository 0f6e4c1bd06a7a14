"""Workdirs as etils.epath paths: local folders, or remote URLs such as gs://bucket/run.

pathlib folds 'gs://bucket/run' into 'gs:/bucket/run'; epath keeps the URL and
reaches the bucket through whichever backend is installed (gcsfs, tf.io.gfile),
and orbax takes epath paths as they are.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
from typing import Any

from etils import epath

from trajvae.errors import MissingFileError, WorkdirMismatchError

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


# Beside a run's checkpoints: which model wrote them, with which config (read without JAX or orbax).
META_FILE = "trajvae_checkpoint.json"


class CheckpointMismatchError(WorkdirMismatchError):
  """The checkpoint directory belongs to another model or an incompatible config."""


def read_checkpoint_meta(directory: PathLike, model_name: str | None = None) -> dict[str, Any]:
  """The model name and config saved beside a run's checkpoints; checks the model when model_name is given."""
  meta_path = workdir_path(directory) / META_FILE
  if not meta_path.exists():
    raise MissingFileError(f"{directory} holds no trajvae checkpoints (missing {META_FILE})")
  meta = json.loads(meta_path.read_text())
  if model_name is not None and meta.get("model") != model_name:
    raise CheckpointMismatchError(f"{directory} holds a {meta.get('model')!r} run, not a {model_name!r} one")
  return meta
