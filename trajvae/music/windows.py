"""Fixed-length training windows cut from event tracks, as MusicVAE's converters do.

Tracks are sliced with a one-bar hop, identical windows are dropped, and at
most `max_windows` are kept per note sequence: a seeded random subset when
training (rng given), evenly spaced ones otherwise, so evaluation data is
deterministic and still covers the whole piece.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def empty_windows(num_steps: int, num_tracks: int) -> np.ndarray:
  return np.zeros((0, num_steps, num_tracks), np.int32)


def slide(track: np.ndarray, num_steps: int, hop: int) -> list[np.ndarray]:
  """Every window [i - num_steps, i) with i = num_steps, num_steps + hop, ... <= len(track)."""
  return [track[i - num_steps : i] for i in range(num_steps, len(track) + 1, hop)]


def dedupe(windows: np.ndarray) -> np.ndarray:
  """Drops repeated windows, keeping first occurrences in their original order."""
  if len(windows) < 2:
    return windows
  _, first = np.unique(windows.reshape(len(windows), -1), axis=0, return_index=True)
  return windows[np.sort(first)]


def subsample(windows: np.ndarray, max_windows: int | None, rng: np.random.Generator | None) -> np.ndarray:
  """At most max_windows windows: random without replacement (rng) or evenly spaced (no rng)."""
  n = len(windows)
  if max_windows is None or n <= max_windows:
    return windows
  if rng is not None:
    keep = np.sort(rng.choice(n, size=max_windows, replace=False))
  else:
    keep = np.round(np.linspace(0, n - 1, max_windows)).astype(np.int64)
  return windows[keep]


def select_windows(
    windows: Sequence[np.ndarray] | np.ndarray, num_steps: int, num_tracks: int,
    max_windows: int | None, rng: np.random.Generator | None,
) -> np.ndarray:
  """[n, num_steps] or [n, num_steps, tracks] windows -> de-duplicated, subsampled int32 [m, num_steps, tracks]."""
  if len(windows) == 0:
    return empty_windows(num_steps, num_tracks)
  stacked = np.asarray(np.stack(list(windows)), np.int32).reshape(-1, num_steps, num_tracks)
  return subsample(dedupe(stacked), max_windows, rng)
