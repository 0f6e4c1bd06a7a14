"""Melody + bass + drums trios (Magenta's TrioConverter).

Tracks are classified by program: melody 0-31, bass 32-39, drums is_drum; a
track with notes of two classes, or another program, is ignored. Each track is
encoded over the whole piece (melody tokens for melody and bass, drum tokens
for drums, no gap limit), and every 16-bar window in which one melody, one
bass and one drum track all play (silences of up to `gap_bars` bars bridged)
is kept, for every combination of such tracks, repeats included (the reference de-duplicates melody and
drum windows only). At most max_windows of them are drawn per piece. A step is [90 | 90 | 512].
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from trajvae.music.data import drums, melody
from trajvae.music.data.note_sequence import NoteSequence
from trajvae.music.data.windows import STEPS_PER_BAR, empty_windows, select_windows

MAX_INSTRUMENT = 127
BASS_OUTPUT_PROGRAM = 33  # electric bass (finger)
MEL, BASS, DRUMS, INVALID = 1, 2, 3, 4


def _track_type(is_drum: bool, program: int) -> int:
  if is_drum:
    return DRUMS
  if program in melody.MEL_PROGRAMS:
    return MEL
  if program in melody.BASS_PROGRAMS:
    return BASS
  return INVALID


def _fit(tokens: np.ndarray, start: int, total: int, hold_end: bool) -> np.ndarray:
  """A track starting at step `start` laid over [0, total), as note_seq's pad_to_total_time does."""
  events = [0] * start + tokens.tolist()
  if hold_end:  # melody: ending a sustained note on extension
    events = melody._set_length(events, total)  # noqa: SLF001 - same package
  else:
    events = (events + [0] * total)[:total]
  return np.asarray(events, np.int32)


@dataclasses.dataclass(frozen=True)
class TrioConverter:
  """NoteSequence <-> [windows, num_bars * 16, 3] tokens (melody, bass, drums)."""

  num_bars: int = 16
  gap_bars: int = 2
  max_bars: int = 1024
  max_windows: int | None = 5

  @property
  def name(self) -> str:
    return f"trio-{self.num_bars}bar"

  @property
  def num_steps(self) -> int:
    return self.num_bars * STEPS_PER_BAR

  @property
  def track_depths(self) -> tuple[int, ...]:
    return (melody.NUM_CLASSES, melody.NUM_CLASSES, drums.NUM_CLASSES)

  def _encode_tracks(self, seq: NoteSequence, total_bars: int):
    """(types, coverage [bars, 128], encoded full-length tracks) per MIDI track."""
    types = np.zeros(MAX_INSTRUMENT + 1, np.int64)
    coverage = np.zeros((total_bars, MAX_INSTRUMENT + 1), bool)
    for n in seq.notes:
      i = n.instrument
      if i > MAX_INSTRUMENT:
        continue
      kind = _track_type(n.is_drum, n.program)
      types[i] = kind if types[i] in (0, kind) else INVALID
      start_bar, end_bar = n.start_step // STEPS_PER_BAR, -(-n.end_step // STEPS_PER_BAR)
      if start_bar < total_bars:
        coverage[start_bar : min(end_bar, total_bars), i] = True

    total = total_bars * STEPS_PER_BAR
    encoded: dict[int, np.ndarray] = {}
    for i in np.flatnonzero((types == MEL) | (types == BASS)).tolist():
      track_notes = melody.melody_notes(NoteSequence(tuple(n for n in seq.notes if n.instrument == i)))
      found = melody.extract_melodies(track_notes, STEPS_PER_BAR, gap_bars=float("inf"))
      if found:
        encoded[i] = _fit(found[0].tokens, found[0].start_step, total, hold_end=True)
      else:
        coverage[:, i] = False
    for i in np.flatnonzero(types == DRUMS).tolist():
      found = drums.extract_drum_tracks((n for n in seq.notes if n.instrument == i), STEPS_PER_BAR, float("inf"))
      if found:
        encoded[i] = _fit(found[0].tokens, found[0].start_step, total, hold_end=False)
      else:
        coverage[:, i] = False
    return types, coverage, encoded

  def to_tensors(self, seq: NoteSequence, rng: np.random.Generator | None = None) -> np.ndarray:
    """int32 [num_windows, num_steps, 3]; needs 4/4 and at least one track of each kind."""
    none = empty_windows(self.num_steps, 3)
    if seq.steps_per_quarter != 4 or seq.steps_per_bar != STEPS_PER_BAR:
      return none
    total_bars = min(-(-seq.total_steps // STEPS_PER_BAR), self.max_bars)
    types, coverage, encoded = self._encode_tracks(seq, total_bars)
    by_type = {t: np.flatnonzero(types == t).tolist() for t in (MEL, BASS, DRUMS)}
    if not all(by_type.values()):
      return none

    g = self.gap_bars
    filled = np.stack([coverage[max(0, j - g) : min(total_bars, j + g) + 1].any(axis=0) for j in range(total_bars)])
    windows = []
    for group in itertools.product(by_type[MEL], by_type[BASS], by_type[DRUMS]):
      if not all(i in encoded for i in group):
        continue
      covered = filled[:, list(group)].all(axis=1)
      # Magenta's leniency at the ends: the first/last gap_bars bars count if any track plays there.
      if g > 0:
        covered[:g] = filled[:g, list(group)].any()
        covered[-g:] = filled[-g:, list(group)].any()
      for j in range(total_bars - self.num_bars + 1):
        if covered[j : j + self.num_bars].all():
          span = slice(j * STEPS_PER_BAR, (j + self.num_bars) * STEPS_PER_BAR)
          windows.append(np.stack([encoded[i][span] for i in group], axis=-1))
    # No de-duplication: the reference's TrioConverter keeps a window for every covering track combination,
    # so a doubled melody track or a passage repeated note for note gives repeated windows.
    return select_windows(windows, self.num_steps, 3, self.max_windows, rng, unique=False)

  def from_tensors(self, tokens: np.ndarray) -> NoteSequence:
    """[num_steps, 3] -> melody (program 0), bass (program 33) and drums on three tracks."""
    tokens = np.asarray(tokens)
    notes = (
      melody.tokens_to_notes(tokens[:, 0], program=0, instrument=0)
      + melody.tokens_to_notes(tokens[:, 1], program=BASS_OUTPUT_PROGRAM, instrument=1)
      + drums.tokens_to_notes(tokens[:, 2], instrument=drums.DRUM_INSTRUMENT)
    )
    return NoteSequence(tuple(notes), total_steps=len(tokens))
