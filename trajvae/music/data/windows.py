"""Fixed-length training windows cut from event tracks, as MusicVAE's converters do.

Tracks are sliced with a one-bar hop, identical windows are dropped, and at
most `max_windows` are kept per note sequence: a seeded random subset when
training (rng given), evenly spaced ones otherwise, so evaluation data is
deterministic and still covers the whole piece.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, ClassVar, Sequence, TypeVar

import numpy as np

from trajvae.music.data.note_sequence import Note, NoteSequence

STEPS_PER_BAR = 16


Track = TypeVar("Track")


def consecutive_tracks(
  next_track: Callable[[int], Track | None], steps_per_bar: int, max_bars: int | None
) -> list[Track]:
  """Extract tracks one after another, as note_seq does for melodies and drum tracks.

  next_track(search_start) returns the first track starting at or after that
  step (a dataclass with start_step, tokens and end_step) or None; the next
  search starts at the bar after its end. Tracks longer than max_bars are
  truncated after the search position is taken from their full length.
  """
  tracks, search_start = [], 0
  while (track := next_track(search_start)) is not None:
    search_start = track.end_step + (-track.end_step) % steps_per_bar
    if max_bars is not None and len(track.tokens) > max_bars * steps_per_bar:
      track = dataclasses.replace(track, tokens=track.tokens[: max_bars * steps_per_bar])
    tracks.append(track)
  return tracks


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
  windows: Sequence[np.ndarray] | np.ndarray,
  num_steps: int,
  num_tracks: int,
  max_windows: int | None,
  rng: np.random.Generator | None,
  unique: bool = True,
) -> np.ndarray:
  """[n, num_steps] or [n, num_steps, tracks] windows -> de-duplicated (unless not unique), subsampled int32
  [m, num_steps, tracks]. The reference de-duplicates melody and drum windows, not trio windows."""
  if len(windows) == 0:
    return empty_windows(num_steps, num_tracks)
  stacked = np.asarray(np.stack(list(windows)), np.int32).reshape(-1, num_steps, num_tracks)
  return subsample(dedupe(stacked) if unique else stacked, max_windows, rng)


class SingleTrackConverter:
  """What the one-track encodings (melody, drums) share: naming, window length, the 4/4 gate and slicing.

  Subclasses are frozen dataclasses with num_bars, max_windows and the class
  constants ENCODING and DEPTH, and say how a sequence becomes token tracks and
  tokens become notes.
  """

  ENCODING: ClassVar[str]
  DEPTH: ClassVar[int]
  num_bars: int
  max_windows: int | None

  @property
  def name(self) -> str:
    return f"{self.ENCODING}-{self.num_bars}bar"

  @property
  def num_steps(self) -> int:
    return self.num_bars * STEPS_PER_BAR

  @property
  def track_depths(self) -> tuple[int, ...]:
    return (self.DEPTH,)

  def token_tracks(self, seq: NoteSequence) -> list[np.ndarray]:
    raise NotImplementedError

  def tokens_to_notes(self, tokens: np.ndarray) -> list[Note]:
    raise NotImplementedError

  def clean_window(self, window: np.ndarray) -> np.ndarray:
    """A sliced window as the reference's event-list constructor leaves it (identity here)."""
    return window

  def to_tensors(self, seq: NoteSequence, rng: np.random.Generator | None = None) -> np.ndarray:
    """int32 [num_windows, num_steps, 1]; no windows unless the sequence is in 4/4 (16 steps a bar)."""
    if seq.steps_per_quarter != 4 or seq.steps_per_bar != STEPS_PER_BAR:
      return empty_windows(self.num_steps, 1)
    windows = [
      self.clean_window(w) for track in self.token_tracks(seq) for w in slide(track, self.num_steps, STEPS_PER_BAR)
    ]
    return select_windows(windows, self.num_steps, 1, self.max_windows, rng)

  def from_tensors(self, tokens: np.ndarray) -> NoteSequence:
    """One window [num_steps, 1] (or [num_steps]) -> a NoteSequence at 120 qpm."""
    tokens = np.asarray(tokens).reshape(-1)
    return NoteSequence(tuple(self.tokens_to_notes(tokens)), total_steps=len(tokens))
