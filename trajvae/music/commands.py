"""MusicVAE entry points for the CLI: train, evaluate (the paper's Table 1 metrics), sample, interpolate."""

from __future__ import annotations

import dataclasses
import functools
import json
import pathlib
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from trajvae.config import field_defaults, to_dict
from trajvae.core import recurrent
from trajvae.errors import InputError
from trajvae.music import objective
from trajvae.music.api import TrainedMusicVAE
from trajvae.music.configs import DEFAULT_PRESET, PRESETS, MusicVAEConfig
from trajvae.music.data.loading import (
  check_encoding_matches_model,
  dataset_name,
  load_windows,
  training_batches,
  validate_tokens,
)
from trajvae.music.model import MusicVAE, init_model
from trajvae.music.schedules import fit_schedules
from trajvae.train import checkpoint, runs
from trajvae.train.supervised import TrainTask, fit
from trajvae.train.workdir import local_output_dir, workdir_path

NAME = "musicvae"
Config = MusicVAEConfig
# A resume may change the schedule; fit_schedules re-times the KL weight's rate to a new train.steps.
SCHEDULE_KEYS = checkpoint.SCHEDULE_KEYS | {"schedule_steps", "loss.beta_rate"}
SAMPLE_OPTIONS = frozenset({"num_samples", "temperature"})  # magenta's music_vae_generate --num_outputs, --temperature
__all__ = [
  "NAME",
  "Config",
  "PRESETS",
  "DEFAULT_PRESET",
  "train",
  "evaluate",
  "sample",
  "interpolate",
  "load_run",
  "SAMPLE_OPTIONS",
  "MusicVAERun",
]


@functools.partial(jax.jit, static_argnums=(0, 4))
def _eval_batch(graphdef, params, tokens, key, loss_config):
  """Batch means of the ELBO, KL and Table 1's accuracies (per track where the value is an array)."""
  model = nnx.merge(graphdef, params)
  k1, k2, k3 = jax.random.split(key, 3)
  _, metrics = objective.loss_and_metrics(model, tokens, k1, jnp.asarray(10**9), loss_config, training=False)
  accuracy = functools.partial(objective.reconstruction_accuracy, model, tokens)
  return {
    "elbo": metrics["elbo"],
    "r_loss": metrics["r_loss"],
    "kl_bits": metrics["kl_bits"],
    "accuracy_teacher_forced": accuracy(k2, None),
    "accuracy_sampled": accuracy(k3, 1.0),
    # The same two, counting only steps whose target is an event (not token 0, which fills ~70% of melody steps).
    "event_accuracy_teacher_forced": accuracy(k2, None, events_only=True),
    "event_accuracy_sampled": accuracy(k3, 1.0, events_only=True),
    "majority_baseline": jnp.stack([jnp.mean(tokens[..., i] == 0) for i in range(tokens.shape[-1])]),
  }


def evaluate_params(graphdef, params, windows: np.ndarray, config: MusicVAEConfig) -> dict[str, Any]:
  """Held-out ELBO, KL and Table 1's teacher-forced and sampled reconstruction accuracy (per track and mean).

  Whole batches only (one compiled shape), unless the split is smaller than a batch.
  """
  if config.eval.max_examples:
    windows = windows[: config.eval.max_examples]
  batch = config.eval.batch_size
  windows = windows[: len(windows) // batch * batch or len(windows)]
  means = runs.dataset_means(
    lambda tokens, key: _eval_batch(graphdef, params, tokens, key, config.loss),
    windows,
    batch,
    jax.random.key(config.eval.seed),
  )
  results: dict[str, Any] = {"num_examples": len(windows)}
  for name, value in means.items():
    results[name] = float(np.mean(value))
    if np.ndim(value) and len(value) > 1:
      results[f"{name}_per_track"] = [float(v) for v in value]
  return results


def build_task(config: MusicVAEConfig) -> TrainTask:
  check_encoding_matches_model(config.data, config.model)
  recurrent.use_cudnn(config.model.scan_options)  # an rnn_backend that cannot run here fails before the data loads
  batches = training_batches(config.data, config.train.batch_size, config.train.seed)
  graphdef, params = init_model(config.model, config.train.seed)
  loss_config = config.loss

  def loss_fn(model, batch, key, step):
    return objective.loss_and_metrics(model, batch["tokens"], key, step, loss_config)

  evaluate = None
  if config.train.eval_every:
    held_out = load_windows(config.data, "validation")

    def evaluate(model, step):
      del step
      results = evaluate_params(graphdef, nnx.state(model, nnx.Param), held_out, config)
      return {k: v for k, v in results.items() if not k.endswith("per_track")}

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
  """Train (or resume) a MusicVAE in workdir; returns the final TrainState.

  A CPU preset's KL-weight schedule is re-timed to train.steps first (schedules.fit_schedules); resuming with
  another train.steps therefore re-times the remaining steps' KL weight too.
  """
  fitted = fit_schedules(config)
  if verbose and fitted is not config:
    print(f"KL-weight schedule re-timed from {config.schedule_steps:,} to {fitted.train.steps:,} steps", flush=True)
  config = fitted
  task = build_task(config)
  return fit(
    task,
    config.optim,
    config.train,
    workdir,
    to_dict(config),
    verbose=verbose,
    on_step=on_step,
    schedule_keys=SCHEDULE_KEYS,
    config_defaults=field_defaults(type(config)),
  )


@dataclasses.dataclass(frozen=True)
class MusicVAERun(runs.TrainedRun[MusicVAEConfig]):
  """A trained MusicVAE run with TrainedMusicVAE's methods on top (sample, interpolate, encode, decode, ...).

  Each method forwards to `api` (trajvae.music.api.TrainedMusicVAE, which documents them); the run's config
  is the whole MusicVAEConfig, the api's is its model section.
  """

  @functools.cached_property
  def api(self) -> TrainedMusicVAE:
    """The run's model behind the TrainedMusicVAE API (what trajvae.music.latent_studies takes)."""
    return TrainedMusicVAE(self.config.model, self.graphdef, self.params)

  def encode(self, tokens: np.ndarray, key: jax.Array | int | None = None):
    return self.api.encode(tokens, key)

  def decode(self, z: np.ndarray, temperature: float = 1.0, key: jax.Array | int | None = None) -> np.ndarray:
    return self.api.decode(z, temperature, key)

  def sample(self, num: int, temperature: float = 1.0, key: jax.Array | int | None = None) -> np.ndarray:
    return self.api.sample(num, temperature, key)

  def reconstruct(self, tokens: np.ndarray, temperature: float = 1e-3, key: jax.Array | int | None = None):
    return self.api.reconstruct(tokens, temperature, key)

  def interpolate(
    self,
    start: np.ndarray,
    end: np.ndarray,
    num_steps: int,
    temperature: float = 1.0,
    key: jax.Array | int | None = None,
  ) -> np.ndarray:
    return self.api.interpolate(start, end, num_steps, temperature, key)

  def attribute_vector(self, tokens: np.ndarray, *args: Any, **kwargs: Any) -> np.ndarray:
    return self.api.attribute_vector(tokens, *args, **kwargs)


def load_run(workdir, overrides: Sequence[str] = ()) -> MusicVAERun:
  """A trained run (config with overrides applied, graphdef, params, step) with the model's methods on top."""
  return runs.load_run(
    workdir, NAME, MusicVAEConfig, lambda c: MusicVAE(c.model, rngs=nnx.Rngs(c.train.seed)), overrides, MusicVAERun
  )


def evaluate(workdir, overrides: Sequence[str] = ()) -> dict[str, Any]:
  """Table 1 metrics of a trained run on its held-out split; written to workdir/eval.json."""
  run = load_run(workdir, overrides)
  config = run.config
  windows = load_windows(config.data, config.eval.split)
  results = {"step": run.step, "split": config.eval.split, **evaluate_params(run.graphdef, run.params, windows, config)}
  (workdir_path(workdir) / "eval.json").write_text(json.dumps(results, indent=2))
  return results


def _write(
  tokens: np.ndarray, config: MusicVAEConfig, out: pathlib.Path, stem: str, titles: list[str], columns: int = 1
) -> list[pathlib.Path]:
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
  model = load_run(workdir)
  config = model.config
  out = local_output_dir(out_dir, workdir_path(workdir) / "samples")
  out.mkdir(parents=True, exist_ok=True)
  tokens = model.sample(num_samples, temperature, jax.random.key(seed))
  paths = _write(tokens, config, out, "sample", [f"sample {i} (T={temperature})" for i in range(num_samples)])
  return [str(p) for p in paths]


def interpolate(
  workdir,
  start: str | None = None,
  end: str | None = None,
  num_steps: int = 7,
  seed: int = 0,
  out_dir: str | None = None,
  temperature: float = 1.0,
):
  """Slerp between the posterior means of two sequences (MIDI files, or two held-out windows by default)."""
  from trajvae.music.data.encodings import get_converter
  from trajvae.music.data.note_sequence import read_midi

  model = load_run(workdir)
  config = model.config
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
