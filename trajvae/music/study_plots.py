"""Figures of the 16-bar hierarchical-vs-flat study (issue 25), as matplotlib Figure objects.

Each function takes the study's JSON-ready results and returns a Figure; the caller saves it
(fig.savefig(path)). No pyplot, so no backend is chosen here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

ARM_COLOURS = {"hierarchical": "tab:blue", "flat": "tab:orange"}


def latent_use_figure(runs: Mapping[str, Sequence[Mapping]]) -> Figure:
  """Left: latent use (NLL other - own, bits) per arm and seed. Right: KL (bits) per arm and seed.

  runs[arm] is a list of per-seed summaries (latent_usage.summarize plus "seed").
  """
  fig = Figure(figsize=(9, 3.4), layout="constrained")
  axes = fig.subplots(1, 2)
  for ax, key, label in (
    (axes[0], "latent_use_bits", "latent use: NLL(other z) - NLL(own z), bits"),
    (axes[1], "kl_bits", "KL(q(z|x) || p(z)), bits"),
  ):
    for a, (arm, seeds) in enumerate(runs.items()):
      values = [s[key] for s in seeds]
      x = a + np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else np.array([a])
      ax.scatter(x, values, color=ARM_COLOURS.get(arm, "k"), zorder=3)
      for xi, v, s in zip(x, values, seeds):
        ax.annotate(f"s{s['seed']}", (xi, v), fontsize=7, xytext=(3, 2), textcoords="offset points")
      ax.hlines(np.mean(values), a - 0.25, a + 0.25, color=ARM_COLOURS.get(arm, "k"), lw=1)
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set_xticks(range(len(runs)), list(runs))
    ax.set_ylabel(label, fontsize=9)
    ax.grid(alpha=0.3, axis="y")
  fig.suptitle("16-bar melodies: per training seed, held-out windows", fontsize=10)
  return fig


def per_bar_figure(runs: Mapping[str, Sequence[Mapping]], hold: Sequence[float], code: str = "own") -> Figure:
  """Sampled accuracy per bar 1..16 decoded from `code`: mean over seeds per arm with a min-max band over seeds,
  and the always-hold baseline per bar."""
  fig = Figure(figsize=(6.5, 3.6), layout="constrained")
  ax = fig.subplots()
  for arm, seeds in runs.items():
    curves = np.array([s[code]["sampled_bar_accuracy"] for s in seeds])
    bars = np.arange(1, curves.shape[1] + 1)
    colour = ARM_COLOURS.get(arm, "k")
    ax.plot(bars, curves.mean(0), color=colour, lw=1.8, label=f"{arm} ({len(seeds)} seeds, band: min-max)")
    ax.fill_between(bars, curves.min(0), curves.max(0), color=colour, alpha=0.2, lw=0)
  ax.plot(np.arange(1, len(hold) + 1), hold, color="0.4", ls="--", lw=1, label="always hold")
  ax.set_xlabel("bar")
  ax.set_ylabel(
    f"sampled accuracy (z = {code} posterior mean)" if code == "own" else f"sampled accuracy ({code} z)", fontsize=9
  )
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  return fig


def kl_curve_figure(curves: Mapping[str, Sequence[Mapping]]) -> Figure:
  """KL (bits, training batches) against step for the positive control, one line per arm and seed.

  curves[arm] is a list of {"seed", "step": [...], "kl_bits": [...]}.
  """
  fig = Figure(figsize=(6.5, 3.6), layout="constrained")
  ax = fig.subplots()
  for arm, seeds in curves.items():
    for i, s in enumerate(seeds):
      ax.plot(
        s["step"],
        s["kl_bits"],
        color=ARM_COLOURS.get(arm, "k"),
        lw=1.4,
        ls=("-", "--", ":")[i % 3],
        label=f"{arm}, seed {s['seed']}",
      )
  ax.axhline(0, color="0.5", lw=0.8)
  ax.set_xlabel("training step")
  ax.set_ylabel("KL, bits (training batch)", fontsize=9)
  ax.set_title("positive control: free bits 0, beta 1", fontsize=10)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  return fig
