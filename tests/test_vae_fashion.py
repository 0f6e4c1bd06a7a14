"""Fashion-MNIST from idx.gz files the tests write, and the paper's baselines: wake-sleep and Monte Carlo EM."""

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
  argv = ["train", "vae", "--workdir", str(tmp_path / "w"), "--set", "data.name=fashion_mnist",
          f"data.data_dir={tmp_path}", "model.input_dim=784"]
  assert cli.main(argv) == 2
  lines = capsys.readouterr().err.strip().splitlines()
  assert len(lines) == 1 and "dataset-fashion-mnist" in lines[0]
