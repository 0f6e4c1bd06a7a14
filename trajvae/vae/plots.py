"""Pictures of a trained VAE: latent manifold, reconstructions, samples, posterior means by class.

Each `plot_*` returns a matplotlib Figure (shown inline by Jupyter); each `save_*` writes it as a PNG.
"""

from __future__ import annotations

import pathlib
from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from scipy.stats import norm

from trajvae.figures import new_figure, save_figure


def tile_images(images: np.ndarray, rows: int, cols: int, pad: int = 1) -> np.ndarray:
  """[rows*cols, H, W] -> one [rows*(H+pad), cols*(W+pad)] mosaic."""
  n, h, w = images.shape
  if n != rows * cols:
    raise ValueError(f"{n} images do not fill a {rows}x{cols} grid")
  canvas = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad), 0.15, np.float32)  # light grey gutters
  for i, image in enumerate(images):
    r, c = divmod(i, cols)
    canvas[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = image
  return canvas


def manifold_latents(grid_size: int, latent_dim: int) -> np.ndarray:
  """The paper's Fig. 4 grid: evenly spaced quantiles of N(0, 1) through the inverse CDF, in the first two dims.

  Row r varies z_2 from high to low (so the picture reads like a plot), column c varies z_1; other dims are 0.
  """
  quantiles = norm.ppf(np.linspace(0.5 / grid_size, 1 - 0.5 / grid_size, grid_size))
  z = np.zeros((grid_size, grid_size, latent_dim), np.float32)
  z[..., 0] = quantiles[None, :]
  z[..., 1] = quantiles[::-1, None]
  return z.reshape(-1, latent_dim)


def plot_image_grid(images: np.ndarray, rows: int, cols: int, title: str) -> Figure:
  """images [rows*cols, H, W] in [0, 1] as one grey mosaic."""
  fig = new_figure(max(3, cols * 0.45), max(3, rows * 0.45) + 0.4)
  ax = fig.subplots()
  ax.imshow(tile_images(images, rows, cols), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
  ax.set_title(title, fontsize=9)
  ax.axis("off")
  return fig


def save_image_grid(images: np.ndarray, rows: int, cols: int, path: str | pathlib.Path, title: str) -> pathlib.Path:
  return save_figure(plot_image_grid(images, rows, cols, title), path)


def plot_reconstructions(inputs: np.ndarray, reconstructions: np.ndarray) -> Figure:
  """Inputs in the top row of each pair of rows, their reconstructions (decoder means) beneath."""
  cols = 10
  rows = len(inputs) // cols
  pairs = []
  for r in range(rows):
    pairs.append(inputs[r * cols : (r + 1) * cols])
    pairs.append(reconstructions[r * cols : (r + 1) * cols])
  return plot_image_grid(np.concatenate(pairs), 2 * rows, cols, "inputs (odd rows) / reconstructions (even rows)")


def save_reconstructions(inputs: np.ndarray, reconstructions: np.ndarray, path: str | pathlib.Path) -> pathlib.Path:
  return save_figure(plot_reconstructions(inputs, reconstructions), path)


def project_2d(points: np.ndarray) -> tuple[np.ndarray, str]:
  """The points themselves if 2-D, else their first two principal components."""
  if points.shape[1] == 2:
    return points, "z"
  centred = points - points.mean(0)
  _, _, vt = np.linalg.svd(centred, full_matrices=False)
  return centred @ vt[:2].T, "PC"


def plot_latent_scatter(means: np.ndarray, labels: np.ndarray) -> Figure:
  """Test-set posterior means coloured by class."""
  xy, axis = project_2d(means)
  fig = new_figure(5.5, 4.5)
  ax = fig.subplots()
  points = ax.scatter(xy[:, 0], xy[:, 1], c=labels, cmap="tab10", s=8, vmin=-0.5, vmax=9.5)
  fig.colorbar(points, ax=ax, ticks=range(10), label="digit")
  ax.set_xlabel(f"{axis}1")
  ax.set_ylabel(f"{axis}2")
  ax.set_title("posterior means of test images")
  return fig


def save_latent_scatter(means: np.ndarray, labels: np.ndarray, path: str | pathlib.Path) -> pathlib.Path:
  return save_figure(plot_latent_scatter(means, labels), path)


def plot_learning_curves(records: list[dict]) -> Figure:
  """Train loss and held-out ELBO/IWAE against step, from metrics.jsonl records."""
  fig = new_figure(6, 4)
  ax = fig.subplots()
  train = [r for r in records if r["split"] == "train"]
  ax.plot([r["step"] for r in train], [-r["elbo"] for r in train], label="train -ELBO", lw=1)
  evals = [r for r in records if r["split"] == "eval"]
  for key, label in (("elbo", "test -ELBO"), ("iwae", "test -log p(x) (IWAE)")):
    points = [(r["step"], -r[key]) for r in evals if key in r]
    if points:
      ax.plot(*zip(*points), marker="o", label=label)
  ax.set_xlabel("step")
  ax.set_ylabel("nats per example")
  ax.legend()
  ax.grid(alpha=0.3)
  return fig


def save_learning_curves(records: list[dict], path: str | pathlib.Path) -> pathlib.Path:
  return save_figure(plot_learning_curves(records), path)


def plot_train_test_curves(
  panels: Mapping[str, Mapping[str, Sequence[Mapping[str, float]]]],
  *,
  train_key: str,
  test_key: str,
  ylabel: str,
  colours: Mapping[str, str],
  labels: Mapping[str, str],
  focus_after: int | None = None,
  panel_width: float = 3.2,
  title: str = "",
) -> Figure:
  """The paper's Figures 2 and 3: one panel per {title: {method: points}}, a measure against training
  samples evaluated (log x), train solid and test dashed, one colour per method.

  Points are dicts with "samples", train_key and test_key. focus_after: the y axis starts a quarter of
  the range of the values from that many samples on below their lowest test value (early wake-sleep
  bounds can be thousands of nats down).
  """
  fig = Figure(figsize=(panel_width * len(panels), 3.0), layout="constrained")
  axes = fig.subplots(1, len(panels), squeeze=False)[0]
  for ax, (panel, methods) in zip(axes, panels.items()):
    for method, points in methods.items():
      if not points:
        continue
      x = [p["samples"] for p in points]
      ax.plot(x, [p[train_key] for p in points], "-", color=colours[method], label=f"{labels[method]} train")
      ax.plot(x, [p[test_key] for p in points], "--", color=colours[method], label=f"{labels[method]} test")
    ax.set_xscale("log")
    late = [p for points in methods.values() for p in points if p["samples"] >= (focus_after or 0)]
    if focus_after is not None and late:
      low, high = min(p[test_key] for p in late), max(max(p[test_key], p[train_key]) for p in late)
      ax.set_ylim(bottom=low - 0.25 * max(high - low, 1e-6))
    ax.set_title(panel)
    ax.set_xlabel("training samples evaluated")
    ax.grid(alpha=0.3)
  axes[0].set_ylabel(ylabel)
  axes[0].legend(fontsize=7)
  if title:
    fig.suptitle(title)
  return fig
