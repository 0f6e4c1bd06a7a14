"""The VAE's train / evaluate / sample entry points the CLI calls (configs and presets: trajvae.vae.configs)."""

from __future__ import annotations

import functools
import json
import pathlib
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from trajvae.config import ConfigError, to_dict
from trajvae.data.batches import array_batches
from trajvae.train import runs
from trajvae.train.supervised import TrainTask, fit
from trajvae.train.workdir import local_output_dir, workdir_path
from trajvae.vae import objective, plots
from trajvae.vae.configs import DEFAULT_PRESET, PRESETS, VAEConfig, VAEEvalConfig, VAEModelConfig
from trajvae.vae.data import ImageDataset, load_dataset
from trajvae.vae.model import init_model

NAME = "vae"
Config = VAEConfig
__all__ = ["NAME", "Config", "PRESETS", "DEFAULT_PRESET", "train", "evaluate", "sample", "load_run"]


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
      images, config.batch_size, jax.random.key(config.seed),
  )
  return {name: float(value) for name, value in means.items()}


def build_task(config: VAEConfig, dataset: ImageDataset) -> TrainTask:
  check_data_fits_model(dataset, config)
  graphdef, params = init_model(config.model, config.train.seed)

  def evaluate(model, step):
    del step
    return evaluate_params(
        graphdef, nnx.state(model, nnx.Param), dataset.test_images, dataset.num_levels, config.eval, config.eval.train_iwae_samples
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


def train(config: VAEConfig, workdir: str | pathlib.Path, verbose: bool = True, on_step=None):
  """Train (or resume) a VAE in workdir (AEVB, wake-sleep, or MCEM by loss.algorithm); returns the final state."""
  dataset = load_dataset(config.data)
  if config.loss.algorithm == "mcem":
    from trajvae.vae import mcem

    check_data_fits_model(dataset, config)
    return mcem.train(config, workdir, to_dict(config), dataset.train_images, verbose=verbose, on_step=on_step)
  task = build_task(config, dataset)
  return fit(task, config.optim, config.train, workdir, to_dict(config), verbose=verbose, on_step=on_step)


def load_run(workdir: str | pathlib.Path, overrides: Sequence[str] = ()) -> runs.RestoredRun[VAEConfig]:
  """A trained run's (config with overrides applied, graphdef, params, step) from its checkpoints."""
  return runs.load_run(workdir, NAME, VAEConfig, lambda c: init_model(c.model, c.train.seed), overrides)


def evaluate(workdir: str | pathlib.Path, overrides: Sequence[str] = ()) -> dict[str, float]:
  """Test-set ELBO and IWAE log-likelihood of a trained run; also written to workdir/eval.json.

  overrides (e.g. eval.iwae_samples=5000) adjust the saved config for this evaluation only.
  """
  config, graphdef, params, step = load_run(workdir, overrides)
  dataset = load_dataset(config.data)
  k = config.eval.iwae_samples
  results = evaluate_params(graphdef, params, dataset.test_images, dataset.num_levels, config.eval, k)
  results = {"step": step, "iwae_samples": k, "num_test": len(dataset.test_images), **results}
  if config.model.likelihood == "gaussian":
    offset = objective.discrete_log_likelihood_offset(dataset.num_features, dataset.num_levels)
    results["iwae_discrete_bound"] = results.get("iwae", float("nan")) + offset
  (workdir_path(workdir) / "eval.json").write_text(json.dumps(results, indent=2))
  return results


def sample(workdir: str | pathlib.Path, num_samples: int = 100, seed: int = 0, out_dir: str | None = None) -> list[str]:
  """Write the PNG pictures of a trained run; returns their paths."""
  config, graphdef, params, _ = load_run(workdir)
  dataset = load_dataset(config.data)
  model = nnx.merge(graphdef, params)
  out = local_output_dir(out_dir, workdir)
  out.mkdir(parents=True, exist_ok=True)
  h, w = dataset.image_shape
  key = jax.random.key(seed)
  as_images = lambda flat: np.asarray(flat).reshape(-1, h, w)
  paths = []

  side = int(np.sqrt(num_samples))
  z = jax.random.normal(key, (side * side, config.model.latent_dim))
  path = out / "samples.png"
  plots.save_image_grid(as_images(model.decode_mean(z)), side, side, path, "decoder means of prior samples")
  paths.append(path)

  grid = 20
  z = jnp.asarray(plots.manifold_latents(grid, config.model.latent_dim))
  path = out / "manifold.png"
  plots.save_image_grid(as_images(model.decode_mean(z)), grid, grid, path, "latent manifold (inverse-CDF grid)")
  paths.append(path)

  x = dataset.test_images[:50]
  mean, _ = model.encode(jnp.asarray(x))
  path = out / "reconstructions.png"
  plots.save_reconstructions(as_images(x), as_images(model.decode_mean(mean)), path)
  paths.append(path)

  means, _ = model.encode(jnp.asarray(dataset.test_images))
  path = out / "latent_scatter.png"
  plots.save_latent_scatter(np.asarray(means), dataset.test_labels, path)
  paths.append(path)

  metrics_file = workdir_path(workdir) / "metrics.jsonl"
  if metrics_file.exists():
    records = [json.loads(line) for line in metrics_file.read_text().splitlines() if line]
    path = out / "learning_curves.png"
    plots.save_learning_curves(records, path)
    paths.append(path)
  return [str(p) for p in paths]
