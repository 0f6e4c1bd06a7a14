"""Monophonic melodies as 90-way tokens (Magenta's OneHotMelodyConverter).

Tokens: 0 = no event (hold the current note or rest), 1 = note-off,
2..89 = note-on of MIDI pitch 21..108. Extraction follows note_seq's
Melody.from_quantized_sequence and extract_melodies: one track at a time, the
highest pitch wins when notes start together, a later onset cuts the sounding
note, a melody ends once a gap of `gap_bars` bars follows a note-off, and it is
padded to whole bars.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Sequence

import numpy as np

from trajvae.music.data.note_sequence import Note, NoteSequence
from trajvae.music.data.windows import STEPS_PER_BAR, SingleTrackConverter, consecutive_tracks

MIN_PITCH = 21
MAX_PITCH = 108
NO_EVENT = 0
NOTE_OFF = 1
NUM_SPECIAL = 2
NUM_CLASSES = MAX_PITCH - MIN_PITCH + 1 + NUM_SPECIAL  # 90
MEL_PROGRAMS = tuple(range(0, 32))  # piano, chromatic percussion, organ, guitar
BASS_PROGRAMS = tuple(range(32, 40))
OUTPUT_VELOCITY = 80


def pitch_to_token(pitch: int) -> int:
  return pitch - MIN_PITCH + NUM_SPECIAL


def token_to_pitch(token: int) -> int:
  return token + MIN_PITCH - NUM_SPECIAL


@dataclasses.dataclass(frozen=True)
class Melody:
  """Tokens of one extracted melody; start_step is a bar line of the source sequence."""

  start_step: int
  tokens: np.ndarray

  @property
  def end_step(self) -> int:
    return self.start_step + len(self.tokens)


def _set_length(events: list[int], length: int) -> list[int]:
  """note_seq Melody.set_length: pad with holds on the right, ending a sustained note with a note-off."""
  old = len(events)
  if length <= old:
    return events[:length]
  events = events + [NO_EVENT] * (length - old)
  for token in reversed(events[:old]):
    if token == NOTE_OFF:
      break
    if token != NO_EVENT:
      events[old] = NOTE_OFF
      break
  return events


def _one_melody(
  notes: Sequence[Note], search_start: int, steps_per_bar: int, gap_steps: float, pad_end: bool
) -> Melody | None:
  """The first melody at or after search_start; notes are sorted by (start, -pitch)."""
  notes = [n for n in notes if n.start_step >= search_start]
  if not notes:
    return None
  melody_start = notes[0].start_step - (notes[0].start_step - search_start) % steps_per_bar
  events: list[int] = []
  last_on = last_off = 0
  for note in notes:
    start, end = note.start_step - melody_start, note.end_step - melody_start
    if events:
      if start == last_on:
        continue  # same onset as the note just added, which is higher: skyline
      if start - last_off >= gap_steps:
        break
    events = events[: end + 1] + [NO_EVENT] * (end + 1 - len(events))
    events[start] = pitch_to_token(note.pitch)
    events[start + 1 : end] = [NO_EVENT] * (end - start - 1)
    events[end] = NOTE_OFF
    last_on, last_off = start, end
  if events[-1] == NOTE_OFF:
    events.pop()
  if pad_end:
    events = _set_length(events, len(events) + (-len(events)) % steps_per_bar)
  return Melody(melody_start, np.asarray(events, np.int32))


def extract_melodies(
  notes: Iterable[Note],
  steps_per_bar: int = STEPS_PER_BAR,
  gap_bars: float = 1.0,
  max_bars: int | None = None,
  pad_end: bool = True,
) -> list[Melody]:
  """note_seq extract_melodies (min_bars 1, min_unique_pitches 1, skyline), track by track.

  Drum and zero-velocity notes are ignored; melodies longer than max_bars are truncated.
  """
  notes = [n for n in notes if not n.is_drum and n.velocity > 0]
  melodies = []
  for instrument in sorted({n.instrument for n in notes}):
    track = sorted((n for n in notes if n.instrument == instrument), key=lambda n: (n.start_step, -n.pitch))
    melodies += consecutive_tracks(
      lambda start, track=track: _one_melody(track, start, steps_per_bar, gap_bars * steps_per_bar, pad_end),
      steps_per_bar,
      max_bars,
    )
  return melodies


def melody_notes(seq: NoteSequence, valid_programs: Sequence[int] | None = None) -> list[Note]:
  """The notes the melody encoding can use: pitched, in [21, 108], from the allowed programs."""
  return [
    n
    for n in seq.notes
    if not n.is_drum and MIN_PITCH <= n.pitch <= MAX_PITCH and (valid_programs is None or n.program in valid_programs)
  ]


def drop_leading_note_offs(tokens: np.ndarray) -> np.ndarray:
  """Note-offs before the first note-on become no-event, as note_seq's Melody constructor does to every slice."""
  tokens = np.array(tokens, copy=True)
  onsets = np.flatnonzero(tokens >= NUM_SPECIAL)
  tokens[: onsets[0] if len(onsets) else len(tokens)] = NO_EVENT
  return tokens


def tokens_to_notes(
  tokens: np.ndarray, program: int = 0, instrument: int = 0, velocity: int = OUTPUT_VELOCITY
) -> list[Note]:
  """Melody tokens -> notes (note_seq Melody.to_sequence): a note lasts until the next onset or note-off."""
  notes, current = [], None
  for step, token in enumerate(np.asarray(tokens).tolist()):
    if token >= NUM_SPECIAL or token == NOTE_OFF:
      if current is not None:
        notes.append(Note(current[0], velocity, current[1], step, program, False, instrument))
        current = None
      if token >= NUM_SPECIAL:
        current = (token_to_pitch(token), step)
  if current is not None:
    notes.append(Note(current[0], velocity, current[1], len(tokens), program, False, instrument))
  return notes


@dataclasses.dataclass(frozen=True)
class MelodyConverter(SingleTrackConverter):
  """NoteSequence <-> [windows, num_bars * 16, 1] melody tokens.

  MusicVAE's 2-bar melody configs keep programs 0-31 (MEL_PROGRAMS); its 16-bar
  configs keep every pitched program (valid_programs None).
  """

  ENCODING = "melody"
  DEPTH = NUM_CLASSES
  num_bars: int = 2
  valid_programs: tuple[int, ...] | None = MEL_PROGRAMS
  gap_bars: float = 1.0
  max_bars: int | None = 100  # melodies are truncated to this length before slicing
  max_windows: int | None = 5

  def token_tracks(self, seq: NoteSequence) -> list[np.ndarray]:
    notes = melody_notes(seq, self.valid_programs)
    return [m.tokens for m in extract_melodies(notes, STEPS_PER_BAR, self.gap_bars, self.max_bars)]

  def clean_window(self, window: np.ndarray) -> np.ndarray:
    """A window that starts in a rest begins with no-events, not with the note-off of the note before it."""
    return drop_leading_note_offs(window)

  def tokens_to_notes(self, tokens: np.ndarray) -> list[Note]:
    """Velocity 80 notes, as the reference decodes melodies."""
    return tokens_to_notes(tokens)
