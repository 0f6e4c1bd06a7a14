"""Image datasets for the VAE: scikit-learn's bundled digits and Debian's Fashion-MNIST offline, TFDS MNIST when downloadable.

Images are flattened to [N, H*W] float32 in [0, 1]. The binarized variant
holds exact 0/1 values (Bernoulli decoder); the continuous variant holds the
integer intensity levels divided by (levels - 1), and the Gaussian decoder
dequantizes them with uniform noise so its density is a proper one.
"""

from __future__ import annotations

import dataclasses
import gzip
import pathlib

import numpy as np

from trajvae.errors import ConfigError, MissingFileError
from trajvae.vae.configs import VAEDataConfig

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_PACKAGE = "dataset-fashion-mnist"
FASHION_MNIST_FILES = {
  "train_images": "train-images-idx3-ubyte.gz",
  "train_labels": "train-labels-idx1-ubyte.gz",
  "test_images": "t10k-images-idx3-ubyte.gz",
  "test_labels": "t10k-labels-idx1-ubyte.gz",
}


@dataclasses.dataclass(frozen=True)
class ImageDataset:
  train_images: np.ndarray
  train_labels: np.ndarray
  test_images: np.ndarray
  test_labels: np.ndarray
  image_shape: tuple[int, int]
  # Number of distinct intensity values of the raw data (2 once binarized).
  num_levels: int
  # Held out from the train file (fashion_mnist); empty where a data set has no validation split.
  validation_images: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 0), np.float32))
  validation_labels: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0,), np.int32))

  @property
  def num_features(self) -> int:
    return self.image_shape[0] * self.image_shape[1]


def load_dataset(config: VAEDataConfig) -> ImageDataset:
  if config.name == "digits":
    return _digits(config)
  if config.name == "fashion_mnist":
    return fashion_mnist(config)
  return _tfds_images(config)


def read_idx(path: str | pathlib.Path) -> np.ndarray:
  """An idx file (gzip-compressed or not) as a uint8 array of the shape its header gives."""
  path = pathlib.Path(path)
  opener = gzip.open if path.suffix == ".gz" else open
  with opener(path, "rb") as f:
    data = f.read()
  if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
    raise ValueError(f"{path} is not an unsigned-byte idx file (header {data[:4]!r})")
  ndim = data[3]
  shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
  body = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
  if body.size != int(np.prod(shape)):
    raise ValueError(f"{path}: header says shape {shape} ({int(np.prod(shape))} bytes) but holds {body.size}")
  return body.reshape(shape)


def fashion_mnist_dir(config: VAEDataConfig) -> pathlib.Path:
  """The folder holding the four idx.gz files; MissingFileError (one line, naming the package) if any is absent."""
  folder = pathlib.Path(config.data_dir or FASHION_MNIST_DIR)
  missing = [name for name in FASHION_MNIST_FILES.values() if not (folder / name).exists()]
  if missing:
    raise MissingFileError(
      f"Fashion-MNIST not found: {folder} lacks {', '.join(missing)}; install Debian's {FASHION_MNIST_PACKAGE} "
      f"(apt-get install {FASHION_MNIST_PACKAGE}) or set data.data_dir to a folder holding the four idx.gz files"
    )
  return folder


_SPLIT_IDS = {"train": 0, "validation": 1, "test": 2}


def stochastic_binarize(intensities: np.ndarray, seed: int, split: str) -> np.ndarray:
  """x ~ Bernoulli(intensity) per pixel, drawn once with (seed, split): each image keeps one fixed binarisation."""
  rng = np.random.default_rng([seed, _SPLIT_IDS[split]])
  return (rng.random(intensities.shape, dtype=np.float32) < intensities).astype(np.float32)


def fashion_mnist(config: VAEDataConfig) -> ImageDataset:
  """Fashion-MNIST from idx.gz files: a seeded validation split out of train, optional train subset.

  binarize=true draws a stochastic binarisation once per image (for the Bernoulli decoder);
  binarize=false keeps the 256 grey levels scaled to [0, 1] (the Gaussian decoder dequantises them).
  """
  folder = fashion_mnist_dir(config)
  raw = {key: read_idx(folder / name) for key, name in FASHION_MNIST_FILES.items()}
  images, labels = raw["train_images"], raw["train_labels"]
  if not 0 <= config.validation_size < len(images):
    raise ConfigError(f"data.validation_size={config.validation_size} must be in [0, {len(images)})")
  order = np.random.default_rng(config.split_seed).permutation(len(images))
  valid, train = order[: config.validation_size], order[config.validation_size :]
  if config.train_size is not None:
    if not 0 < config.train_size <= len(train):
      raise ConfigError(f"data.train_size={config.train_size} must be in [1, {len(train)}] (train after validation)")
    train = train[: config.train_size]

  def prepare(x: np.ndarray, split: str) -> np.ndarray:
    x = x.reshape(len(x), -1).astype(np.float32) / 255.0
    return stochastic_binarize(x, config.binarize_seed, split) if config.binarize else x

  return ImageDataset(
    prepare(images[train], "train"),
    labels[train].astype(np.int32),
    prepare(raw["test_images"], "test"),
    raw["test_labels"].astype(np.int32),
    tuple(raw["test_images"].shape[1:]),
    2 if config.binarize else 256,
    prepare(images[valid], "validation"),
    labels[valid].astype(np.int32),
  )


def _finish(train_x, train_y, test_x, test_y, shape, levels, binarize) -> ImageDataset:
  def prepare(x):
    x = x.reshape(len(x), -1).astype(np.float32) / (levels - 1)
    return (x >= 0.5).astype(np.float32) if binarize else x

  return ImageDataset(
    prepare(train_x),
    train_y.astype(np.int32),
    prepare(test_x),
    test_y.astype(np.int32),
    shape,
    2 if binarize else levels,
  )


def _digits(config: VAEDataConfig) -> ImageDataset:
  from sklearn.datasets import load_digits

  digits = load_digits()
  images, labels = digits.images.astype(np.int64), digits.target
  order = np.random.default_rng(config.split_seed).permutation(len(images))
  num_test = int(round(config.test_fraction * len(images)))
  test, train = order[:num_test], order[num_test:]
  return _finish(images[train], labels[train], images[test], labels[test], (8, 8), 17, config.binarize)


def _tfds_images(config: VAEDataConfig) -> ImageDataset:
  """MNIST or binarized MNIST through TFDS (downloads once, then reads the local array_record copy)."""
  import tensorflow_datasets as tfds

  try:
    builder = tfds.builder(config.name, data_dir=config.tfds_data_dir, file_format="array_record")
    builder.download_and_prepare()
    sources = builder.as_data_source()
  except Exception as e:  # noqa: BLE001 - any download/prepare failure means the same thing to the user
    raise RuntimeError(
      f"could not obtain TFDS {config.name!r} ({type(e).__name__}: {e}); it needs a one-off download. "
      "Use data.name=digits to train offline."
    ) from e

  def arrays(split):
    source = sources[split]
    records = [source[i] for i in range(len(source))]
    images = np.stack([np.asarray(r["image"])[..., 0] for r in records])
    labels = np.asarray([int(r.get("label", -1)) for r in records])
    return images, labels

  train_x, train_y = arrays("train")
  test_x, test_y = arrays("test")
  if config.name == "binarized_mnist":
    return _finish(train_x, train_y, test_x, test_y, (28, 28), 2, binarize=True)
  return _finish(train_x, train_y, test_x, test_y, (28, 28), 256, config.binarize)
