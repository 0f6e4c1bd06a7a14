"""MusicVAE's data as the commands use it: a data config -> token windows, training batches and checks.

The windows come from the TFDS note_windows datasets (trajvae.music.data.tfds_notes), built from the
config's source on first use into data_dir.
"""

from __future__ import annotations

import pathlib

import numpy as np

from trajvae.music.configs import MusicDataConfig, MusicModelConfig


def dataset_name(data: MusicDataConfig) -> str:
  """The TFDS note_windows config name of the data, e.g. melody-2bar."""
  return f"{data.encoding}-{data.num_bars}bar"


def load_windows(data: MusicDataConfig, split: str) -> np.ndarray:
  """Token windows [N, steps, tracks] of one split, building the TFDS dataset on first use."""
  from trajvae.music.data.tfds_notes import load_split

  return load_split(dataset_name(data), data.source, windows_dir(data), split, max_pieces=data.max_pieces or None)


def load_window_records(data: MusicDataConfig, split: str) -> tuple[np.ndarray, list[str]]:
  """The windows of load_windows with the piece each comes from (not for the groove source, which has no pieces)."""
  from trajvae.music.data.tfds_notes import load_split_records

  return load_split_records(dataset_name(data), data.source, windows_dir(data), split, data.max_pieces or None)


def load_training_windows(data: MusicDataConfig):
  """Every training window with its piece and stored shift (tfds_notes.SplitWindows), for the per-epoch feeder."""
  from trajvae.music.data.tfds_notes import load_split_windows

  return load_split_windows(dataset_name(data), data.source, windows_dir(data), "train", data.max_pieces or None)


def training_batches(data: MusicDataConfig, batch_size: int, seed: int):
  """step -> batch: per piece and epoch one shift in [-transpose_range, r] and at most windows_per_piece windows.

  The groove source has no pieces; each of its windows is fed as its own piece.
  """
  from trajvae.music.data.feeding import make_batches

  if data.source == "groove":
    return make_batches(load_windows(data, "train"), batch_size, seed, data.transpose_range)
  windows = load_training_windows(data)
  return make_batches(
    windows.tokens,
    batch_size,
    seed,
    data.transpose_range,
    pieces=windows.piece,
    shifts=windows.shift,
    max_per_piece=data.windows_per_piece or None,
  )


def windows_dir(data: MusicDataConfig) -> str:
  """The folder the TFDS note_windows datasets are built into and read from."""
  return str(pathlib.Path(data.data_dir).expanduser())


def check_encoding_matches_model(data: MusicDataConfig, model: MusicModelConfig) -> None:
  """An encoding/config mismatch (e.g. drum data into a melody model) is an error before anything runs."""
  from trajvae.music.data.encodings import get_converter

  converter = get_converter(data.encoding, data.num_bars)
  if tuple(converter.track_depths) != tuple(model.track_depths) or converter.num_steps != model.num_steps:
    raise ValueError(
      f"data {dataset_name(data)!r} gives windows of {converter.num_steps} steps with track depths "
      f"{tuple(converter.track_depths)}, but the model expects {model.num_steps} steps with {model.track_depths}"
    )


def validate_tokens(tokens: np.ndarray, model: MusicModelConfig) -> None:
  """Raise ValueError unless tokens are [batch, num_steps, tracks] with each track inside its vocabulary."""
  tokens = np.asarray(tokens)
  expected = (model.num_steps, len(model.track_depths))
  if tokens.ndim != 3 or tokens.shape[1:] != expected:
    raise ValueError(f"expected token batches [batch, {expected[0]}, {expected[1]}], got {tokens.shape}")
  for i, depth in enumerate(model.track_depths):
    if tokens[..., i].min() < 0 or tokens[..., i].max() >= depth:
      raise ValueError(
        f"track {i} holds tokens outside [0, {depth}): range {tokens[..., i].min()}..{tokens[..., i].max()}"
      )
