"""Fashion-MNIST from idx.gz files the tests write, and the paper's baselines: wake-sleep and Monte Carlo EM."""

import dataclasses
import gzip
import pathlib

import numpy as np
import pytest

from trajvae import cli
from trajvae.errors import ConfigError, MissingFileError
from trajvae.vae import data
from trajvae.vae.configs import VAEDataConfig


def write_idx(path: pathlib.Path, array: np.ndarray) -> None:
  header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
  with gzip.open(path, "wb") as f:
    f.write(header + array.astype(np.uint8).tobytes())


def fake_fashion(folder: pathlib.Path, num_train: int = 60, num_test: int = 20, side: int = 4, seed: int = 0):
  """Four idx.gz files of random side x side images; returns the raw arrays."""
  folder.mkdir(parents=True, exist_ok=True)
  rng = np.random.default_rng(seed)
  arrays = {
    "train_images": rng.integers(0, 256, (num_train, side, side)),
    "train_labels": rng.integers(0, 10, num_train),
    "test_images": rng.integers(0, 256, (num_test, side, side)),
    "test_labels": rng.integers(0, 10, num_test),
  }
  for key, name in data.FASHION_MNIST_FILES.items():
    write_idx(folder / name, arrays[key])
  return arrays


def test_idx_reader_round_trips_and_rejects_bad_files(tmp_path):
  array = np.arange(2 * 3 * 5).reshape(2, 3, 5)
  write_idx(tmp_path / "a.gz", array)
  np.testing.assert_array_equal(data.read_idx(tmp_path / "a.gz"), array)
  with gzip.open(tmp_path / "bad.gz", "wb") as f:
    f.write(bytes([0, 0, 0x08, 1]) + (10).to_bytes(4, "big") + b"\x00" * 9)
  with pytest.raises(ValueError, match=r"header says shape \(10,\) \(10 bytes\) but holds 9"):
    data.read_idx(tmp_path / "bad.gz")


def test_fashion_mnist_splits_binarisation_and_continuous(tmp_path):
  raw = fake_fashion(tmp_path)
  config = VAEDataConfig(name="fashion_mnist", data_dir=str(tmp_path), validation_size=10, train_size=40)
  binary = data.load_dataset(config)
  assert binary.train_images.shape == (40, 16) and binary.validation_images.shape == (10, 16)
  assert binary.test_images.shape == (20, 16) and binary.image_shape == (4, 4) and binary.num_levels == 2
  assert set(np.unique(binary.test_images)) == {0.0, 1.0}
  # The binarisation is drawn once: loading again gives the same test images; another seed gives others.
  np.testing.assert_array_equal(data.load_dataset(config).test_images, binary.test_images)
  other = data.load_dataset(VAEDataConfig(**{**config.__dict__, "binarize_seed": 1}))
  assert np.any(other.test_images != binary.test_images)
  # Stochastic, not thresholded: a pixel's share of ones follows its intensity.
  grey = np.full((20000,), 0.3, np.float32)
  assert abs(data.stochastic_binarize(grey, 0, "test").mean() - 0.3) < 0.02
  continuous = data.load_dataset(VAEDataConfig(**{**config.__dict__, "binarize": False}))
  np.testing.assert_allclose(continuous.test_images, raw["test_images"].reshape(20, 16) / 255.0, rtol=1e-6)
  assert continuous.num_levels == 256
  # Validation and train are disjoint parts of the train file, together a subset of it.
  train_rows = {r.tobytes() for r in continuous.train_images}
  assert not train_rows & {r.tobytes() for r in continuous.validation_images}
  raw_rows = {r.tobytes() for r in (raw["train_images"].reshape(60, 16) / 255.0).astype(np.float32)}
  assert train_rows <= raw_rows and len(train_rows) == 40
  with pytest.raises(ConfigError, match="data.train_size=51 must be in"):
    data.load_dataset(VAEDataConfig(name="fashion_mnist", data_dir=str(tmp_path), validation_size=10, train_size=51))


def test_missing_fashion_mnist_names_the_package(tmp_path, capsys):
  with pytest.raises(MissingFileError, match="install Debian's dataset-fashion-mnist"):
    data.load_dataset(VAEDataConfig(name="fashion_mnist", data_dir=str(tmp_path)))
  argv = [
    "train",
    "vae",
    "--workdir",
    str(tmp_path / "w"),
    "--set",
    "data.name=fashion_mnist",
    f"data.data_dir={tmp_path}",
    "model.input_dim=784",
  ]
  assert cli.main(argv) == 2
  lines = capsys.readouterr().err.strip().splitlines()
  assert len(lines) == 1 and "dataset-fashion-mnist" in lines[0]


def small_fashion_config(tmp_path, algorithm: str, steps: int = 3, **train):
  fake_fashion(tmp_path / "fashion", num_train=60, side=4)
  from trajvae.config import override
  from trajvae.vae.configs import fashion_mnist_config

  config = override(
    fashion_mnist_config(latent_dim=2, hidden_dim=8, algorithm=algorithm, train_size=40, steps=steps),
    [
      f"data.data_dir={tmp_path / 'fashion'}",
      "data.validation_size=10",
      "model.input_dim=16",
      "train.batch_size=10",
      "train.log_every=1",
      "eval.iwae_samples=10",
      "mcem.m_steps=2",
      "mcem.leapfrog_steps=3",
    ],
  )
  return dataclasses.replace(config, train=dataclasses.replace(config.train, **train))


def tree_norms(tree) -> dict[str, float]:
  import jax

  flat = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {jax.tree_util.keystr(path): float(np.abs(np.asarray(leaf)).sum()) for path, leaf in flat}


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_wake_gradient_reaches_only_the_decoder_and_sleep_only_the_encoder(likelihood):
  import jax
  from flax import nnx

  from trajvae.vae import objective
  from trajvae.vae.configs import VAEModelConfig
  from trajvae.vae.model import init_model

  graphdef, params = init_model(
    VAEModelConfig(input_dim=16, hidden_dim=8, latent_dim=3, likelihood=likelihood, init_std=0.3), seed=0
  )
  x = (np.random.default_rng(0).random((5, 16)) < 0.5).astype(np.float32)

  def phase(name):
    return lambda p: getattr(objective.wake_sleep(nnx.merge(graphdef, p), x, jax.random.key(1)), name).mean()

  for name, trained, frozen in (("wake", "decoder", "encoder"), ("sleep", "encoder", "decoder")):
    norms = tree_norms(jax.grad(phase(name))(params))
    assert all(v == 0.0 for k, v in norms.items() if frozen in k), (name, norms)
    assert all(v > 0.0 for k, v in norms.items() if trained in k), (name, norms)


@pytest.mark.parametrize("algorithm", ["aevb", "wake_sleep"])
def test_one_training_step_moves_the_networks_it_should(tmp_path, algorithm):
  import jax

  from trajvae.vae import commands
  from trajvae.vae.model import init_model

  config = small_fashion_config(tmp_path, algorithm, steps=1)
  state = commands.train(config, tmp_path / "run", verbose=False)
  _, before = init_model(config.model, config.train.seed)
  after = tree_norms(jax.tree.map(lambda a, b: np.asarray(a) - np.asarray(b), state.params, before))
  assert int(state.step) == 1 and all(v > 0 for v in after.values()), after
  import json

  record = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
  assert np.isfinite(record["elbo"]) and ({"wake", "sleep"} <= set(record)) == (algorithm == "wake_sleep")
  results = commands.evaluate(tmp_path / "run")  # the same AEVB estimator for both algorithms
  assert results["iwae"] >= results["elbo"] - 1.0 and results["num_test"] == 20


def test_wake_sleep_resumes_exactly(tmp_path):
  import jax

  from trajvae.vae import commands

  config = small_fashion_config(tmp_path, "wake_sleep", steps=8, checkpoint_every=4)
  straight = commands.train(config, tmp_path / "straight", verbose=False)
  halfway = dataclasses.replace(config, train=dataclasses.replace(config.train, steps=4))
  commands.train(halfway, tmp_path / "resumed", verbose=False)
  resumed = commands.train(config, tmp_path / "resumed", verbose=False)
  for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_mcem_step_moves_the_decoder_and_the_minibatch_chains_only(tmp_path):
  import jax

  from trajvae.vae import commands, mcem
  from trajvae.vae.batches import batch_indices

  config = small_fashion_config(tmp_path, "mcem", steps=1)
  state = commands.train(config, tmp_path / "run", verbose=False)
  _, before = mcem.init_state(config, 40)
  moved = tree_norms(jax.tree.map(lambda a, b: np.asarray(a) - np.asarray(b), state.params, before.params))
  assert all(v > 0 for k, v in moved.items() if "decoder" in k) and all(
    v == 0 for k, v in moved.items() if "encoder" in k
  )
  changed = np.any(np.asarray(state.chains) != np.asarray(before.chains), axis=1)
  batch = batch_indices(40, 10, config.train.seed, 0)
  assert changed[np.setdiff1d(np.arange(40), batch)].sum() == 0 and changed[batch].sum() >= 5  # HMC rejects some
  assert int(state.step) == 1 and float(state.log_step_size) != np.log(config.mcem.initial_step_size)


def test_mcem_resumes_exactly(tmp_path):
  import jax

  from trajvae.vae import commands

  config = small_fashion_config(tmp_path, "mcem", steps=6, checkpoint_every=3)
  straight = commands.train(config, tmp_path / "straight", verbose=False)
  commands.train(
    dataclasses.replace(config, train=dataclasses.replace(config.train, steps=3)), tmp_path / "resumed", verbose=False
  )
  resumed = commands.train(config, tmp_path / "resumed", verbose=False)
  for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  from trajvae.vae import mcem

  graphdef, params, step = mcem.load_params(config, tmp_path / "resumed", len(straight.chains))  # Figure 3 reads it
  assert step == 6 and graphdef is not None
  for a, b in zip(jax.tree.leaves(straight.params), jax.tree.leaves(params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_hmc_importance_estimate_matches_brute_force_in_two_dimensions():
  """A 2-D latent space is small enough for plain prior sampling (400k draws) to give log p(x) to ~0.01 nats."""
  import jax
  import jax.numpy as jnp
  from flax import nnx

  from trajvae.core.distributions import bernoulli_log_prob
  from trajvae.vae import mcem
  from trajvae.vae.configs import VAEModelConfig
  from trajvae.vae.model import init_model

  graphdef, params = init_model(VAEModelConfig(input_dim=16, hidden_dim=8, latent_dim=2, init_std=1.0), seed=0)
  model = nnx.merge(graphdef, params)
  z = jax.random.normal(jax.random.key(0), (6, 2))
  x = jax.random.bernoulli(jax.random.key(1), jax.nn.sigmoid(model.decode(z))).astype(jnp.float32)
  prior = jax.random.normal(jax.random.key(2), (400_000, 1, 2))
  log_lik = bernoulli_log_prob(x[None], model.decode(prior))  # [S, 6]
  exact = float((jax.nn.logsumexp(log_lik, axis=0) - np.log(len(prior))).mean())
  got = mcem.hmc_importance_log_likelihood(
    graphdef, params, np.asarray(x), jax.random.key(3), num_burn=50, num_samples=100, k=2000, batch_size=6
  )
  assert got["importance"] == pytest.approx(exact, abs=0.05)
  assert got["reciprocal"] == pytest.approx(exact, abs=0.5)
  assert 0.5 < got["acceptance"] <= 1.0
