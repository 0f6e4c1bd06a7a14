"""VAE endpoints: a 2-D plane through the latent space, the test set's posterior means on it, decoded images.

The plane is the latent itself for z = 2; for larger z, either two chosen
dimensions (the others at the posterior means' average) or the top-2 principal
plane of the test set's posterior means.
"""

from __future__ import annotations

import logging
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from trajvae.serve.common import ApiError, Params

log = logging.getLogger(__name__)

MAX_POINTS = 2000  # test posterior means sent for the scatter


def pca_plane(means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(centre [Z], the top-2 principal directions [2, Z]) of posterior means [N, Z]."""
  centre = means.mean(0)
  _, _, vt = np.linalg.svd(means - centre, full_matrices=False)
  return centre, vt[:2]


class VaeBackend:
  """One trained VAE run; the decoder call is a pure jitted function of (params, z)."""

  kind = "vae"

  def __init__(self, workdir: str):
    from trajvae.vae.commands import load_run
    from trajvae.vae.data import load_dataset

    run = load_run(workdir)
    self.config, graphdef, self.params, self.step = run.config, run.graphdef, run.params, run.step
    self.latent_dim = self.config.model.latent_dim
    self._decode = jax.jit(lambda params, z: nnx.merge(graphdef, params).decode_mean(z))
    encode = jax.jit(lambda params, x: nnx.merge(graphdef, params).encode(x)[0])
    try:
      dataset = load_dataset(self.config.data)
      self.image_shape = tuple(dataset.image_shape)
      images, self.labels = dataset.test_images[:MAX_POINTS], np.asarray(dataset.test_labels[:MAX_POINTS])
      self.means = np.asarray(encode(self.params, jnp.asarray(images)))
      self.data_note = f"{len(images)} test images of {self.config.data.name}"
    except Exception as e:  # noqa: BLE001 - e.g. MNIST without a download: the plane still works, without the scatter
      log.warning("no test set for the scatter: %s", e)
      side = int(round(np.sqrt(self.config.model.input_dim)))
      self.image_shape = (side, self.config.model.input_dim // side)
      self.means, self.labels = np.zeros((0, self.latent_dim), np.float32), np.zeros((0,), np.int64)
      self.data_note = f"test set unavailable: {e}"
    if len(self.means) >= 3:
      self.centre, self.pcs = pca_plane(self.means)
    else:
      self.centre, self.pcs = np.zeros(self.latent_dim, np.float32), np.eye(self.latent_dim, dtype=np.float32)[:2]

  def info(self) -> dict[str, Any]:
    return {
      "latent_dim": self.latent_dim,
      "image_shape": list(self.image_shape),
      "likelihood": self.config.model.likelihood,
      "data": self.data_note,
      "num_points": len(self.means),
      "modes": ["latent"] if self.latent_dim == 2 else ["pca", "dims"],
    }

  def _plane(self, p: Params) -> tuple[str, np.ndarray, np.ndarray, list[str]]:
    """(mode, origin [Z], axes [2, Z], axis names) of the requested plane."""
    modes = ("latent",) if self.latent_dim == 2 else ("pca", "dims")
    mode = p.choice("mode", modes[0], modes)
    if mode == "latent":
      return mode, np.zeros(2, np.float32), np.eye(2, dtype=np.float32), ["z0", "z1"]
    if mode == "pca":
      return mode, self.centre, self.pcs, ["PC 1", "PC 2"]
    i = p.integer("i", 0, 0, self.latent_dim - 1)
    j = p.integer("j", 1, 0, self.latent_dim - 1)
    if i == j:
      raise ApiError(400, f"choose two different latent dimensions (got i = j = {i})")
    origin = self.centre.copy()
    origin[[i, j]] = 0.0
    axes = np.eye(self.latent_dim, dtype=np.float32)[[i, j]]
    return mode, origin, axes, [f"z{i}", f"z{j}"]

  def handle(self, action: str, p: Params) -> dict[str, Any]:
    if action == "plane":
      return self.plane(p)
    if action == "decode":
      return self.decode(p)
    raise ApiError(404, f"a vae run has no endpoint {action!r}")

  def plane(self, p: Params) -> dict[str, Any]:
    mode, origin, axes, names = self._plane(p)
    coords = (self.means - origin) @ axes.T if len(self.means) else np.zeros((0, 2))
    # Symmetric about the origin: the points' reach plus a margin, at least 2.5 (the prior's bulk), at most 10.
    extent = np.clip(np.abs(coords).max(0) * 1.1 if len(coords) else np.full(2, 3.0), 2.5, 10.0)
    return {
      "mode": mode,
      "axes": names,
      "points": np.round(coords, 4).tolist(),
      "labels": self.labels.tolist(),
      "extent": [-float(extent[0]), float(extent[0]), -float(extent[1]), float(extent[1])],
    }

  def decode(self, p: Params) -> dict[str, Any]:
    _, origin, axes, _ = self._plane(p)
    x = p.number("x", None, -100.0, 100.0)
    y = p.number("y", None, -100.0, 100.0)
    z = (origin + x * axes[0] + y * axes[1]).astype(np.float32)
    image = np.asarray(self._decode(self.params, jnp.asarray(z[None])))[0]
    return {"z": np.round(z, 4).tolist(), "image": np.round(image.reshape(self.image_shape), 4).tolist()}

  def warm_up(self) -> None:
    self.plane(Params({}))
    self.decode(Params({"x": 0.0, "y": 0.0}))
