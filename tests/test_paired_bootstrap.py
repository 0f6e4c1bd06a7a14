"""experiments/musicvae_paired.py: the piece-level paired bootstrap behind the Table 1 comparison."""

import importlib.util
import pathlib

import numpy as np

_spec = importlib.util.spec_from_file_location(
  "musicvae_paired", pathlib.Path(__file__).parents[1] / "experiments" / "musicvae_paired.py"
)
paired = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(paired)


def test_a_constant_difference_has_a_zero_width_interval():
  a = np.full((2, 6), 0.8)
  diff, lo, hi = paired.paired_bootstrap(a, a - 0.1, np.array(list("aabbcc")), draws=200)
  assert np.isclose(diff, 0.1) and np.isclose(lo, 0.1) and np.isclose(hi, 0.1)


def test_pieces_not_windows_are_resampled():
  """Two pieces with opposite differences: the interval spans both whatever the number of windows per piece."""
  diff_per_window = np.array([1.0] * 50 + [-1.0] * 50)
  pieces = np.array(["x"] * 50 + ["y"] * 50)
  a, b = diff_per_window[None], np.zeros((1, 100))
  _, lo, hi = paired.paired_bootstrap(a, b, pieces, draws=2000)
  assert lo == -1.0 and hi == 1.0  # per-window resampling would give about [-0.2, 0.2]
  _, lo_w, hi_w = paired.paired_bootstrap(a, b, np.arange(100), draws=2000)
  assert -0.3 < lo_w < 0 < hi_w < 0.3
