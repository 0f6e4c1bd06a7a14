"""Drum patterns as 512-way tokens (Magenta's DrumsConverter, reduced 9-class map).

Each General MIDI drum pitch belongs to one of 9 classes (note_seq's
DEFAULT_DRUM_TYPE_PITCHES). A step's token is the bitmask sum 2^i over the
classes struck at that step (0 = silence), so 2^9 = 512 tokens. Extraction
follows note_seq's DrumTrack.from_quantized_sequence and extract_drum_tracks:
all drum tracks together, a pattern ends once `gap_bars` bars pass without a
hit, padded to whole bars. Decoding plays each class as its first pitch.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Iterable

import numpy as np

from trajvae.music.data.note_sequence import Note, NoteSequence
from trajvae.music.data.windows import STEPS_PER_BAR, SingleTrackConverter, consecutive_tracks

DRUM_PITCH_CLASSES: tuple[tuple[int, ...], ...] = (
  (36, 35),  # kick
  (38, 27, 28, 31, 32, 33, 34, 37, 39, 40, 56, 65, 66, 75, 85),  # snare
  (42, 44, 54, 68, 69, 70, 71, 73, 78, 80, 22),  # closed hi-hat
  (46, 67, 72, 74, 79, 81, 26),  # open hi-hat
  (45, 29, 41, 43, 61, 64, 84),  # low tom
  (48, 47, 60, 63, 77, 86, 87),  # mid tom
  (50, 30, 62, 76, 83),  # high tom
  (49, 52, 55, 57, 58),  # crash
  (51, 53, 59, 82),  # ride
)
NUM_DRUM_CLASSES = len(DRUM_PITCH_CLASSES)  # 9
NUM_CLASSES = 2**NUM_DRUM_CLASSES  # 512
PITCH_TO_CLASS = {pitch: c for c, pitches in enumerate(DRUM_PITCH_CLASSES) for pitch in pitches}
OUTPUT_VELOCITY = 80
DRUM_INSTRUMENT = 9


def encode_classes(classes: Iterable[int]) -> int:
  """Set of drum classes -> token (sum of 2^class)."""
  return sum(1 << c for c in set(classes))


def decode_token(token: int) -> tuple[int, ...]:
  """Token -> the drum classes it contains, ascending."""
  return tuple(c for c in range(NUM_DRUM_CLASSES) if (int(token) >> c) & 1)


@dataclasses.dataclass(frozen=True)
class DrumTrack:
  start_step: int
  tokens: np.ndarray

  @property
  def end_step(self) -> int:
    return self.start_step + len(self.tokens)


def _onsets(notes: Iterable[Note]) -> list[tuple[int, int]]:
  """(step, token) for every step where a mapped drum note with velocity > 0 starts, sorted by step."""
  masks: dict[int, int] = collections.defaultdict(int)
  for n in notes:
    if n.is_drum and n.velocity > 0 and n.pitch in PITCH_TO_CLASS:
      masks[n.start_step] |= 1 << PITCH_TO_CLASS[n.pitch]
  return sorted(masks.items())


def _one_track(onsets: list[tuple[int, int]], search_start: int, steps_per_bar: int, gap_steps: float, pad_end: bool):
  onsets = [(s, m) for s, m in onsets if s >= search_start]
  if not onsets:
    return None
  track_start = onsets[0][0] - (onsets[0][0] - search_start) % steps_per_bar
  events: list[int] = []
  gap_start = 0
  for step, mask in onsets:
    index = step - track_start
    if events and index - gap_start >= gap_steps:
      break
    events.extend([0] * (index + 1 - len(events)))
    events[index] = mask
    gap_start = index + 1
  if pad_end:
    events.extend([0] * ((-len(events)) % steps_per_bar))
  return DrumTrack(track_start, np.asarray(events, np.int32))


def extract_drum_tracks(
  notes: Iterable[Note],
  steps_per_bar: int = STEPS_PER_BAR,
  gap_bars: float = 1.0,
  max_bars: int | None = None,
  pad_end: bool = True,
) -> list[DrumTrack]:
  """note_seq extract_drum_tracks (min_bars 1) over all drum notes, as class-bitmask tokens."""
  onsets = _onsets(notes)
  return consecutive_tracks(
    lambda start: _one_track(onsets, start, steps_per_bar, gap_bars * steps_per_bar, pad_end), steps_per_bar, max_bars
  )


def tokens_to_notes(
  tokens: np.ndarray, instrument: int = DRUM_INSTRUMENT, velocity: int = OUTPUT_VELOCITY
) -> list[Note]:
  """Drum tokens -> one-step drum notes, each class played as its first pitch."""
  return [
    Note(DRUM_PITCH_CLASSES[c][0], velocity, step, step + 1, 0, True, instrument)
    for step, token in enumerate(np.asarray(tokens).tolist())
    for c in decode_token(token)
  ]


@dataclasses.dataclass(frozen=True)
class DrumsConverter(SingleTrackConverter):
  """NoteSequence <-> [windows, num_bars * 16, 1] drum tokens."""

  ENCODING = "drums"
  DEPTH = NUM_CLASSES
  num_bars: int = 2
  gap_bars: float = 1.0
  max_bars: int | None = 100
  max_windows: int | None = 5

  def token_tracks(self, seq: NoteSequence) -> list[np.ndarray]:
    return [t.tokens for t in extract_drum_tracks(seq.notes, STEPS_PER_BAR, self.gap_bars, self.max_bars)]

  def tokens_to_notes(self, tokens: np.ndarray) -> list[Note]:
    return tokens_to_notes(tokens)
