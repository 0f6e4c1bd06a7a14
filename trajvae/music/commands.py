"""MusicVAE entry points for the CLI: train, evaluate (the paper's Table 1 metrics), sample, interpolate."""

from __future__ import annotations

import functools
import json
import pathlib
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from trajvae.config import from_dict, override, to_dict
from trajvae.errors import InputError
from trajvae.music import objective
from trajvae.music.api import TrainedMusicVAE
from trajvae.music.configs import PRESETS, MusicDataConfig, MusicVAEConfig
from trajvae.music.model import MusicModelConfig, init_model
from trajvae.train.checkpoint import read_checkpoint_meta
from trajvae.train.supervised import TrainTask, fit, load_trained_params
from trajvae.train.workdir import local_output_dir, workdir_path

NAME = "musicvae"
DEFAULT_PRESET = "cat-mel_2bar_cpu"
Config = MusicVAEConfig
__all__ = ["PRESETS", "DEFAULT_PRESET", "Config", "train", "evaluate", "sample", "interpolate"]


def dataset_name(data: MusicDataConfig) -> str:
  return f"{data.encoding}-{data.num_bars}bar"


def load_windows(data: MusicDataConfig, split: str) -> np.ndarray:
  """Token windows [N, steps, tracks] of one split, building the TFDS dataset on first use."""
  from trajvae.music.data.tfds_notes import load_split

  return load_split(dataset_name(data), data.source, _data_dir(data), split, max_pieces=data.max_pieces or None)


def load_window_records(data: MusicDataConfig, split: str) -> tuple[np.ndarray, list[str]]:
  """The windows of load_windows with the piece each comes from (not for the groove source, which has no pieces)."""
  from trajvae.music.data.tfds_notes import load_split_records

  return load_split_records(dataset_name(data), data.source, _data_dir(data), split, data.max_pieces or None)


def load_training_windows(data: MusicDataConfig):
  """Every training window with its piece and stored shift (tfds_notes.SplitWindows), for the per-epoch feeder."""
  from trajvae.music.data.tfds_notes import load_split_windows

  return load_split_windows(dataset_name(data), data.source, _data_dir(data), "train", data.max_pieces or None)


def training_batches(data: MusicDataConfig, batch_size: int, seed: int):
  """step -> batch: per piece and epoch one shift in [-transpose_range, r] and at most windows_per_piece windows.

  The groove source has no pieces; each of its windows is fed as its own piece.
  """
  from trajvae.music.data.feeding import make_batches

  if data.source == "groove":
    return make_batches(load_windows(data, "train"), batch_size, seed, data.transpose_range)
  windows = load_training_windows(data)
  return make_batches(windows.tokens, batch_size, seed, data.transpose_range, pieces=windows.piece,
                      shifts=windows.shift, max_per_piece=data.windows_per_piece or None)


def _data_dir(data: MusicDataConfig) -> str:
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
  tokens = np.asarray(tokens)
  expected = (model.num_steps, len(model.track_depths))
  if tokens.ndim != 3 or tokens.shape[1:] != expected:
    raise ValueError(f"expected token batches [batch, {expected[0]}, {expected[1]}], got {tokens.shape}")
  for i, depth in enumerate(model.track_depths):
    if tokens[..., i].min() < 0 or tokens[..., i].max() >= depth:
      raise ValueError(f"track {i} holds tokens outside [0, {depth}): range {tokens[..., i].min()}..{tokens[..., i].max()}")


@functools.partial(jax.jit, static_argnums=(0, 4))
def _eval_batch(graphdef, params, tokens, key, loss_config):
  model = nnx.merge(graphdef, params)
  k1, k2, k3 = jax.random.split(key, 3)
  _, metrics = objective.loss_and_metrics(model, tokens, k1, jnp.asarray(10**9), loss_config, training=False)
  return {
      "elbo": metrics["elbo"] * tokens.shape[0],
      "r_loss": metrics["r_loss"] * tokens.shape[0],
      "kl_bits": metrics["kl_bits"] * tokens.shape[0],
      "accuracy_teacher_forced": objective.reconstruction_accuracy(model, tokens, k2, None) * tokens.shape[0],
      "accuracy_sampled": objective.reconstruction_accuracy(model, tokens, k3, 1.0) * tokens.shape[0],
      # The same two, counting only steps whose target is an event (not token 0, which fills ~70% of melody steps).
      "event_accuracy_teacher_forced":
          objective.reconstruction_accuracy(model, tokens, k2, None, events_only=True) * tokens.shape[0],
      "event_accuracy_sampled":
          objective.reconstruction_accuracy(model, tokens, k3, 1.0, events_only=True) * tokens.shape[0],
      "majority_baseline": jnp.stack(
          [jnp.mean(tokens[..., i] == 0) for i in range(tokens.shape[-1])]) * tokens.shape[0],
  }


def evaluate_params(graphdef, params, windows: np.ndarray, config: MusicVAEConfig) -> dict[str, Any]:
  """Held-out ELBO, KL and Table 1's teacher-forced and sampled reconstruction accuracy (per track and mean)."""
  if config.eval.max_examples:
    windows = windows[: config.eval.max_examples]
  batch = config.eval.batch_size
  usable = len(windows) // batch * batch or len(windows)
  windows = windows[:usable]
  key = jax.random.key(config.eval.seed)
  totals: dict[str, Any] = {}
  for start in range(0, len(windows), batch):
    out = _eval_batch(graphdef, params, jnp.asarray(windows[start : start + batch]), jax.random.fold_in(key, start),
                      config.loss)
    for name, value in out.items():
      totals[name] = totals.get(name, 0.0) + np.asarray(value)
  results: dict[str, Any] = {"num_examples": len(windows)}
  for name, total in totals.items():
    value = total / len(windows)
    if np.ndim(value):
      results[name] = float(np.mean(value))
      if len(value) > 1:
        results[f"{name}_per_track"] = [float(v) for v in value]
    else:
      results[name] = float(value)
  return results


def build_task(config: MusicVAEConfig) -> TrainTask:
  check_encoding_matches_model(config.data, config.model)
  batches = training_batches(config.data, config.train.batch_size, config.train.seed)
  graphdef, params = init_model(config.model, config.train.seed)
  loss_config = config.loss

  def loss_fn(model, batch, key, step):
    return objective.loss_and_metrics(model, batch["tokens"], key, step, loss_config)

  evaluate = None
  if config.train.eval_every:
    held_out = load_windows(config.data, "validation")

    def evaluate(model, step):
      _, p = nnx.split(model, nnx.Param)
      return {k: v for k, v in evaluate_params(graphdef, p, held_out, config).items() if not k.endswith("per_track")}

  return TrainTask(
      name=NAME,
      graphdef=graphdef,
      params=params,
      loss_fn=loss_fn,
      batches=batches,
      validate_batch=lambda batch: validate_tokens(batch["tokens"], config.model),
      evaluate=evaluate,
  )


def train(config: MusicVAEConfig, workdir, verbose: bool = True, on_step=None):
  task = build_task(config)
  return fit(task, config.optim, config.train, workdir, to_dict(config), verbose=verbose, on_step=on_step)


def load_run(workdir, overrides: Sequence[str] = ()) -> tuple[MusicVAEConfig, TrainedMusicVAE, int]:
  meta = read_checkpoint_meta(workdir_path(workdir) / "checkpoints")
  config = override(from_dict(MusicVAEConfig, meta["config"]), overrides)
  graphdef, params = init_model(config.model, config.train.seed)
  params, step = load_trained_params(workdir, NAME, params, config.optim)
  return config, TrainedMusicVAE(config.model, graphdef, params), step


def evaluate(workdir, overrides: Sequence[str] = ()) -> dict[str, Any]:
  """Table 1 metrics of a trained run on its held-out split; written to workdir/eval.json."""
  config, model, step = load_run(workdir, overrides)
  windows = load_windows(config.data, config.eval.split)
  results = {"step": step, "split": config.eval.split, **evaluate_params(model.graphdef, model.params, windows, config)}
  (workdir_path(workdir) / "eval.json").write_text(json.dumps(results, indent=2))
  return results


def _write(tokens: np.ndarray, config: MusicVAEConfig, out: pathlib.Path, stem: str, titles: list[str],
           columns: int = 1) -> list[pathlib.Path]:
  from trajvae.music import plots
  from trajvae.music.data.encodings import get_converter
  from trajvae.music.data.note_sequence import write_midi

  converter = get_converter(config.data.encoding, config.data.num_bars)
  seqs = [converter.from_tensors(t) for t in tokens]
  paths = []
  for i, seq in enumerate(seqs):
    path = out / f"{stem}_{i:02d}.mid"
    write_midi(seq, path)
    paths.append(path)
  png = out / f"{stem}.png"
  plots.save_piano_rolls(seqs, png, titles, columns)
  return [png, *paths]


def sample(workdir, num_samples: int = 8, seed: int = 0, out_dir: str | None = None, temperature: float = 1.0):
  """Prior samples as MIDI files and one piano-roll PNG."""
  config, model, _ = load_run(workdir)
  out = local_output_dir(out_dir, workdir_path(workdir) / "samples")
  out.mkdir(parents=True, exist_ok=True)
  tokens = model.sample(num_samples, temperature, jax.random.key(seed))
  paths = _write(tokens, config, out, "sample", [f"sample {i} (T={temperature})" for i in range(num_samples)])
  return [str(p) for p in paths]


def interpolate(workdir, start: str | None = None, end: str | None = None, num_steps: int = 7, seed: int = 0,
                out_dir: str | None = None, temperature: float = 1.0):
  """Slerp between the posterior means of two sequences (MIDI files, or two held-out windows by default)."""
  from trajvae.music.data.encodings import get_converter
  from trajvae.music.data.note_sequence import read_midi

  config, model, _ = load_run(workdir)
  if (start is None) != (end is None):
    raise InputError("give both --start and --end MIDI files, or neither")
  if start is None:
    windows = load_windows(config.data, config.eval.split)
    a, b = windows[0], windows[len(windows) // 2]
  else:
    converter = get_converter(config.data.encoding, config.data.num_bars)

    def first_window(path):
      for seq in read_midi(path):
        tensors = converter.to_tensors(seq)
        if len(tensors):
          return tensors[0]
      raise InputError(f"{path} has no {dataset_name(config.data)} window this model can encode")

    a, b = first_window(start), first_window(end)
  tokens = model.interpolate(a, b, num_steps, temperature, jax.random.key(seed))
  out = local_output_dir(out_dir, workdir_path(workdir) / "interpolation")
  out.mkdir(parents=True, exist_ok=True)
  titles = [f"t={t:.2f}" for t in np.linspace(0, 1, num_steps)]
  paths = _write(tokens, config, out, "interpolation", titles, columns=num_steps)
  return [str(p) for p in paths]
