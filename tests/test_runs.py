"""trajvae.train.runs.dataset_means: per-example means over fixed-size batches (load_run: tests/test_vae.py, test_workdir.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trajvae.train.runs import dataset_means


def test_dataset_means_weight_a_short_last_batch_by_its_size():
  data = np.arange(30, dtype=np.float32).reshape(10, 3)
  seen = []

  def batch_means(x, key):
    seen.append((x.shape[0], int(jax.random.key_data(key)[-1])))
    return {"mean": x.mean(), "per_column": x.mean(axis=0)}

  means = dataset_means(batch_means, data, 4, jax.random.key(0))
  assert means["mean"] == pytest.approx(data.mean())
  np.testing.assert_allclose(means["per_column"], data.mean(axis=0))
  assert [size for size, _ in seen] == [4, 4, 2]
  assert len({k for _, k in seen}) == 3  # each batch its own key


def test_dataset_means_refuse_an_empty_data_set():
  with pytest.raises(ValueError, match="empty"):
    dataset_means(lambda x, key: {"m": jnp.mean(x)}, np.zeros((0, 3)), 4, jax.random.key(0))
