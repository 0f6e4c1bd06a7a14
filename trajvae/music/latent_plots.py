"""Figures of MusicVAE's latent-space studies: interpolation curves, attribute-vector matrix, magnitude sweep.

Each `plot_*` returns a matplotlib Figure (shown inline by Jupyter); each `save_*` writes it as a PNG.
"""

from __future__ import annotations

import pathlib
import warnings
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from trajvae.figures import new_figure, save_figure

_METHODS = {
  "latent": ("latent space (slerp of means, decoded)", "tab:blue"),
  "data": ("data space (tokens switched)", "tab:orange"),
}


def _band(ax, x: np.ndarray, values: np.ndarray, label: str, colour: str) -> None:
  """Mean over rows of values [P, A] as a line, with a +-1 standard deviation band."""
  mean, std = np.nanmean(values, 0), np.nanstd(values, 0)
  ax.plot(x, mean, color=colour, label=label, lw=1.6)
  ax.fill_between(x, mean - std, mean + std, color=colour, alpha=0.2, lw=0)


def plot_interpolation(amounts: np.ndarray, results: dict, title: str = "") -> Figure:
  """Hamming distance to start and to end, and ELBO, against interpolation amount, for both methods.

  results[method] holds "distance_to_start", "distance_to_end" and "elbo" arrays [pairs, amounts].
  """
  fig = new_figure(13, 3.6)
  axes = fig.subplots(1, 3)
  panels = (
    ("distance_to_start", "Hamming distance to start"),
    ("distance_to_end", "Hamming distance to end"),
    ("elbo", "ELBO under the model (nats / window)"),
  )
  for ax, (key, label) in zip(axes, panels):
    for method, (name, colour) in _METHODS.items():
      if method in results:
        _band(ax, amounts, np.asarray(results[method][key]), name, colour)
    ax.set_xlabel("interpolation amount")
    ax.set_ylabel(label, fontsize=9)
    ax.grid(alpha=0.3)
  axes[0].legend(fontsize=8, loc="upper left")
  if not title:
    pairs = max(len(np.asarray(results[m]["elbo"])) for m in _METHODS if m in results)
    title = f"interpolation between {pairs} held-out pairs (mean, band = +-1 s.d.)"
  fig.suptitle(title, fontsize=10)
  return fig


def save_interpolation(amounts: np.ndarray, results: dict, path: str | pathlib.Path, title: str = "") -> pathlib.Path:
  return save_figure(plot_interpolation(amounts, results, title), path)


def plot_attribute_matrix(change: np.ndarray, labels: Sequence[str], title: str = "") -> Figure:
  """Relative change [K, K] (row: vector added, column: attribute measured) as an annotated heat map in percent."""
  change = np.asarray(change, float) * 100
  finite = np.abs(change[np.isfinite(change)])
  # Colours saturate at +-200% so that one huge cell does not wash out the rest; the text gives every value.
  limit = float(np.clip(finite.max(), 1.0, 200.0)) if finite.size else 1.0  # at least +-1% on the scale
  fig = new_figure(6.4, 5.4)
  ax = fig.subplots()
  image = ax.imshow(np.where(np.isfinite(change), change, np.nan), cmap="RdBu_r", vmin=-limit, vmax=limit)
  for i in range(change.shape[0]):
    for j in range(change.shape[1]):
      # n/a: the attribute's vector is undefined, or its mean is 0 on the plain decodings (no relative change).
      text = "n/a" if not np.isfinite(change[i, j]) else f"{change[i, j]:+.0f}%"
      ax.text(
        j,
        i,
        text,
        ha="center",
        va="center",
        fontsize=8,
        color="white" if np.isfinite(change[i, j]) and abs(change[i, j]) > 0.6 * limit else "black",
      )
  ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
  ax.set_yticks(range(len(labels)), [f"+ {name} vector" for name in labels], fontsize=8)
  ax.set_xlabel("attribute measured on the decoded windows")
  fig.colorbar(image, ax=ax, label="relative change of the mean (%)", shrink=0.8)
  ax.set_title(title or "attribute vectors added to held-out encodings", fontsize=10)
  return fig


def save_attribute_matrix(
  change: np.ndarray, labels: Sequence[str], path: str | pathlib.Path, title: str = ""
) -> pathlib.Path:
  return save_figure(plot_attribute_matrix(change, labels, title), path)


def plot_sweep(
  magnitudes: np.ndarray, values: np.ndarray, labels: Sequence[str], swept: int, title: str = ""
) -> Figure:
  """values [M, N, K]: attributes of windows decoded with magnitude m of one vector (index swept) added.

  Left: the swept attribute (mean, +-1 s.d.) against the magnitude; right: the
  relative change of every attribute's mean against magnitude 0.
  """
  magnitudes, values = np.asarray(magnitudes, float), np.asarray(values, float)
  fig = new_figure(11, 3.8)
  left, right = fig.subplots(1, 2)
  _band(left, magnitudes, values[:, :, swept].T, labels[swept], "tab:blue")
  left.set_xlabel(f"magnitude of the {labels[swept]} vector")
  left.set_ylabel(labels[swept])
  left.grid(alpha=0.3)
  zero = int(np.argmin(np.abs(magnitudes)))
  with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN attributes stay NaN
    base = np.nanmean(values[zero], axis=0)
    change = (np.nanmean(values, axis=1) - base) / np.abs(base) * 100
  for k, name in enumerate(labels):
    right.plot(magnitudes, change[:, k], marker="o", ms=3, lw=2.2 if k == swept else 1.2, label=name)
  right.axhline(0, color="0.6", lw=0.8)
  right.set_yscale("symlog", linthresh=10)  # an attribute near 0 at magnitude 0 has huge relative changes
  right.set_xlabel(f"magnitude of the {labels[swept]} vector")
  right.set_ylabel(f"mean vs magnitude {magnitudes[zero]:g} (% change, symlog)", fontsize=9)
  right.legend(fontsize=7)
  right.grid(alpha=0.3)
  fig.suptitle(title or f"sweeping the {labels[swept]} vector", fontsize=10)
  return fig


def save_sweep(
  magnitudes: np.ndarray,
  values: np.ndarray,
  labels: Sequence[str],
  swept: int,
  path: str | pathlib.Path,
  title: str = "",
) -> pathlib.Path:
  return save_figure(plot_sweep(magnitudes, values, labels, swept, title), path)
