"""Matplotlib figures without pyplot: build a `Figure`, show it (Jupyter displays it inline), save it as PNG.

Library code never selects a backend or touches pyplot's global state, so the same
`plot_*` function serves a notebook (the returned Figure is displayed inline), a
script or a server thread (the `save_*` helpers write the PNG).
"""

from __future__ import annotations

import pathlib

from matplotlib.figure import Figure


def new_figure(width: float, height: float) -> Figure:
  """A Figure of width x height inches whose subplots are laid out tightly when drawn."""
  return Figure(figsize=(width, height), layout="tight")


def save_figure(fig: Figure, path: str | pathlib.Path, dpi: int = 120) -> pathlib.Path:
  """Write fig as a PNG (Agg renders it; no backend is selected) and return the path."""
  path = pathlib.Path(path)
  fig.savefig(path, dpi=dpi)
  return path
