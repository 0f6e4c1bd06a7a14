"""Image datasets for the VAE: scikit-learn's bundled digits offline, TFDS MNIST when downloadable.

Images are flattened to [N, H*W] float32 in [0, 1]. The binarized variant
holds exact 0/1 values (Bernoulli decoder); the continuous variant holds the
integer intensity levels divided by (levels - 1), and the Gaussian decoder
dequantizes them with uniform noise so its density is a proper one.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from trajvae.vae.configs import VAEDataConfig


@dataclasses.dataclass(frozen=True)
class ImageDataset:
  train_images: np.ndarray
  train_labels: np.ndarray
  test_images: np.ndarray
  test_labels: np.ndarray
  image_shape: tuple[int, int]
  # Number of distinct intensity values of the raw data (2 once binarized).
  num_levels: int

  @property
  def num_features(self) -> int:
    return self.image_shape[0] * self.image_shape[1]


def load_dataset(config: VAEDataConfig) -> ImageDataset:
  if config.name == "digits":
    return _digits(config)
  return _tfds_images(config)


def _finish(train_x, train_y, test_x, test_y, shape, levels, binarize) -> ImageDataset:
  def prepare(x):
    x = x.reshape(len(x), -1).astype(np.float32) / (levels - 1)
    return (x >= 0.5).astype(np.float32) if binarize else x

  return ImageDataset(
      prepare(train_x), train_y.astype(np.int32), prepare(test_x), test_y.astype(np.int32),
      shape, 2 if binarize else levels,
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
