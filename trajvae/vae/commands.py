"""The VAE's train / evaluate / sample entry points the CLI calls (configs and presets: trajvae.vae.configs)."""

from __future__ import annotations

import dataclasses
import functools
import json
import pathlib
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from trajvae.cli import unsupported_interpolate
from trajvae.config import ConfigError, field_defaults, to_dict
from trajvae.train import runs
from trajvae.train.metrics import read_metrics
from trajvae.train.supervised import TrainTask, fit
from trajvae.train.workdir import local_output_dir, workdir_path
from trajvae.vae import objective, plots
from trajvae.vae.batches import array_batches
from trajvae.vae.configs import DEFAULT_PRESET, PRESETS, VAEConfig, VAEEvalConfig, VAEModelConfig
from trajvae.vae.data import ImageDataset, load_dataset
from trajvae.vae.model import VAE, init_model

NAME = "vae"
Config = VAEConfig
SAMPLE_OPTIONS = frozenset({"num_samples"})  # the pictures are decoder means: no sampling temperature
interpolate = unsupported_interpolate(NAME)
__all__ = [
  "NAME",
  "Config",
  "PRESETS",
  "DEFAULT_PRESET",
  "train",
  "evaluate",
  "sample",
  "load_run",
  "interpolate",
  "SAMPLE_OPTIONS",
  "VAERun",
]


def validate_images(x: np.ndarray, model: VAEModelConfig) -> None:
  """Raise ValueError unless x is [batch, input_dim] with values in [0, 1]."""
  x = np.asarray(x)
  if x.ndim != 2 or x.shape[1] != model.input_dim:
    raise ValueError(
      f"expected images flattened to [batch, {model.input_dim}], got shape {x.shape}; "
      f"this model was configured with model.input_dim={model.input_dim}"
    )
  if x.size and (x.min() < 0 or x.max() > 1):
    raise ValueError(f"image values must lie in [0, 1], got range [{x.min()}, {x.max()}]")


def check_data_fits_model(dataset: ImageDataset, config: VAEConfig) -> None:
  if dataset.num_features != config.model.input_dim:
    raise ConfigError(
      f"dataset {config.data.name!r} has {dataset.image_shape} images ({dataset.num_features} features) "
      f"but model.input_dim={config.model.input_dim}"
    )
  expected = "bernoulli" if config.data.binarize or dataset.num_levels == 2 else "gaussian"
  if config.model.likelihood != expected:
    raise ConfigError(
      f"data.binarize={config.data.binarize} needs model.likelihood={expected!r}, got {config.model.likelihood!r}"
    )


def make_loss_fn(config: VAEConfig, num_levels: int):
  """loss_fn(model, batch, key, step) of the configured algorithm: AEVB's negative ELBO or wake-sleep's two phases."""

  def wake_sleep_loss_fn(model, batch, key, step):
    del step
    observe_key, sample_key = jax.random.split(key)
    x = objective.observe(model, observe_key, batch["image"], num_levels)
    terms = objective.wake_sleep(model, x, sample_key)
    metrics = {"elbo": terms.elbo.mean(), "wake": terms.wake.mean(), "sleep": terms.sleep.mean()}
    return terms.wake.mean() + terms.sleep.mean(), metrics

  def loss_fn(model, batch, key, step):
    del step
    observe_key, sample_key = jax.random.split(key)
    x = objective.observe(model, observe_key, batch["image"], num_levels)
    terms = objective.elbo(model, x, sample_key, config.loss.beta, config.loss.free_nats)
    metrics = {"elbo": terms.elbo.mean(), "log_likelihood": terms.log_likelihood.mean(), "kl": terms.kl.mean()}
    return terms.loss.mean(), metrics

  return wake_sleep_loss_fn if config.loss.algorithm == "wake_sleep" else loss_fn


@functools.partial(jax.jit, static_argnums=(0, 4, 5, 6))
def _eval_batch(graphdef, params, x, key, num_levels: int, iwae_samples: int, iwae_chunk: int):
  """Batch means of the ELBO, its two terms and (if iwae_samples) the IWAE log-likelihood."""
  model = nnx.merge(graphdef, params)
  observe_key, elbo_key, iwae_key = jax.random.split(key, 3)
  x = objective.observe(model, observe_key, x, num_levels)
  terms = objective.elbo(model, x, elbo_key)
  out = {"elbo": terms.elbo, "log_likelihood": terms.log_likelihood, "kl": terms.kl}
  if iwae_samples:
    out["iwae"] = objective.iwae_log_likelihood(model, x, iwae_key, iwae_samples, iwae_chunk)
  return {name: value.mean() for name, value in out.items()}


def evaluate_params(
  graphdef, params, images: np.ndarray, num_levels: int, config: VAEEvalConfig, iwae_samples: int
) -> dict[str, float]:
  """Mean per-example test ELBO, its two terms, and (if iwae_samples) the IWAE log-likelihood, in nats."""
  means = runs.dataset_means(
    lambda x, key: _eval_batch(graphdef, params, x, key, num_levels, iwae_samples, config.iwae_chunk),
    images,
    config.batch_size,
    jax.random.key(config.seed),
  )
  return {name: float(value) for name, value in means.items()}


def build_task(config: VAEConfig, dataset: ImageDataset) -> TrainTask:
  check_data_fits_model(dataset, config)
  graphdef, params = init_model(config.model, config.train.seed)

  def evaluate(model, step):
    del step
    return evaluate_params(
      graphdef,
      nnx.state(model, nnx.Param),
      dataset.test_images,
      dataset.num_levels,
      config.eval,
      config.eval.train_iwae_samples,
    )

  return TrainTask(
    name=NAME,
    graphdef=graphdef,
    params=params,
    loss_fn=make_loss_fn(config, dataset.num_levels),
    batches=array_batches({"image": dataset.train_images}, config.train.batch_size, config.train.seed),
    validate_batch=lambda batch: validate_images(batch["image"], config.model),
    evaluate=evaluate,
  )


def train(
  config: VAEConfig,
  workdir: str | pathlib.Path,
  verbose: bool = True,
  on_step=None,
  dataset: ImageDataset | None = None,
):
  """Train (or resume) a VAE in workdir (AEVB, wake-sleep, or MCEM by loss.algorithm); returns the final state.

  dataset: config.data already loaded (scripts that train many short segments load it once)."""
  dataset = load_dataset(config.data) if dataset is None else dataset
  if config.loss.algorithm == "mcem":
    from trajvae.vae import mcem

    check_data_fits_model(dataset, config)
    return mcem.train(config, workdir, to_dict(config), dataset.train_images, verbose=verbose, on_step=on_step)
  task = build_task(config, dataset)
  return fit(
    task,
    config.optim,
    config.train,
    workdir,
    to_dict(config),
    verbose=verbose,
    on_step=on_step,
    config_defaults=field_defaults(type(config)),
  )


@functools.partial(jax.jit, static_argnums=0)
def _encode(graphdef, params, x):
  return nnx.merge(graphdef, params).encode(x)


@functools.partial(jax.jit, static_argnums=0)
def _decode_mean(graphdef, params, z):
  return nnx.merge(graphdef, params).decode_mean(z)


@dataclasses.dataclass(frozen=True)
class VAERun(runs.TrainedRun[VAEConfig]):
  """A trained VAE run with the model's encoder and decoder on top (one jitted call each)."""

  def encode(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) of q(z|x) for flattened images [batch, input_dim] in [0, 1]."""
    validate_images(images, self.config.model)
    mean, std = _encode(self.graphdef, self.params, jnp.asarray(images, jnp.float32))
    return np.asarray(mean), np.asarray(std)

  def decode_mean(self, z: np.ndarray) -> np.ndarray:
    """The decoder's mean image [batch, input_dim] of each latent [batch, latent_dim]."""
    z = jnp.asarray(z, jnp.float32)
    if z.ndim != 2 or z.shape[1] != self.config.model.latent_dim:
      raise ValueError(f"expected z of shape [batch, {self.config.model.latent_dim}], got {tuple(z.shape)}")
    return np.asarray(_decode_mean(self.graphdef, self.params, z))

  def sample(self, num: int, key: jax.Array) -> np.ndarray:
    """Decoder means of num prior samples z ~ N(0, I)."""
    return self.decode_mean(jax.random.normal(key, (num, self.config.model.latent_dim)))


def load_run(workdir: str | pathlib.Path, overrides: Sequence[str] = ()) -> VAERun:
  """A trained run (config with overrides applied, graphdef, params, step) from its latest checkpoint."""
  return runs.load_run(workdir, NAME, VAEConfig, lambda c: VAE(c.model, rngs=nnx.Rngs(c.train.seed)), overrides, VAERun)


def evaluate(workdir: str | pathlib.Path, overrides: Sequence[str] = ()) -> dict[str, float]:
  """Test-set ELBO and IWAE log-likelihood of a trained run; also written to workdir/eval.json.

  overrides (e.g. eval.iwae_samples=5000) adjust the saved config for this evaluation only.
  """
  run = load_run(workdir, overrides)
  config, step = run.config, run.step
  dataset = load_dataset(config.data)
  k = config.eval.iwae_samples
  results = evaluate_params(run.graphdef, run.params, dataset.test_images, dataset.num_levels, config.eval, k)
  results = {"step": step, "iwae_samples": k, "num_test": len(dataset.test_images), **results}
  if config.model.likelihood == "gaussian":
    offset = objective.discrete_log_likelihood_offset(dataset.num_features, dataset.num_levels)
    results["iwae_discrete_bound"] = results.get("iwae", float("nan")) + offset
  (workdir_path(workdir) / "eval.json").write_text(json.dumps(results, indent=2))
  return results


def sample(workdir: str | pathlib.Path, num_samples: int = 100, seed: int = 0, out_dir: str | None = None) -> list[str]:
  """Write the PNG pictures of a trained run; returns their paths."""
  run = load_run(workdir)
  config = run.config
  dataset = load_dataset(config.data)
  out = local_output_dir(out_dir, workdir)
  out.mkdir(parents=True, exist_ok=True)
  h, w = dataset.image_shape
  key = jax.random.key(seed)
  as_images = lambda flat: np.asarray(flat).reshape(-1, h, w)
  paths = []

  side = int(np.sqrt(num_samples))
  path = out / "samples.png"
  plots.save_image_grid(as_images(run.sample(side * side, key)), side, side, path, "decoder means of prior samples")
  paths.append(path)

  grid = 20
  z = plots.manifold_latents(grid, config.model.latent_dim)
  path = out / "manifold.png"
  plots.save_image_grid(as_images(run.decode_mean(z)), grid, grid, path, "latent manifold (inverse-CDF grid)")
  paths.append(path)

  x = dataset.test_images[:50]
  mean, _ = run.encode(x)
  path = out / "reconstructions.png"
  plots.save_reconstructions(as_images(x), as_images(run.decode_mean(mean)), path)
  paths.append(path)

  means, _ = run.encode(dataset.test_images)
  path = out / "latent_scatter.png"
  plots.save_latent_scatter(np.asarray(means), dataset.test_labels, path)
  paths.append(path)

  records = read_metrics(workdir)
  if records:
    path = out / "learning_curves.png"
    plots.save_learning_curves(records, path)
    paths.append(path)
  return [str(p) for p in paths]
