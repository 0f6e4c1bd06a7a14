"""Quantized note sequences and MIDI input/output.

A NoteSequence is one stretch of music with a single tempo and time signature,
quantized to `steps_per_quarter` steps (4: sixteenth notes). read_midi splits a
MIDI file wherever the tempo or time signature changes and quantizes each
section with its own tempo, as Magenta's note_seq does
(split_note_sequence_on_time_changes, then quantize_note_sequence with a
rounding cutoff of half a step).
"""

from __future__ import annotations

import dataclasses
import io
import pathlib
import warnings

import numpy as np

from trajvae.errors import InputError, extra_imports

DEFAULT_QPM = 120.0
STEPS_PER_QUARTER = 4


class CorruptMidiError(InputError):
  """Data that pretty_midi cannot read as a Standard MIDI File."""


@dataclasses.dataclass(frozen=True)
class Note:
  pitch: int
  velocity: int
  start_step: int
  end_step: int
  program: int = 0
  is_drum: bool = False
  # The MIDI track (pretty_midi instrument index) the note came from: melodies are
  # extracted per track, and trio takes the cross product of tracks, as in Magenta.
  instrument: int = 0


@dataclasses.dataclass(frozen=True)
class NoteSequence:
  notes: tuple[Note, ...]
  steps_per_quarter: int = STEPS_PER_QUARTER
  qpm: float = DEFAULT_QPM
  time_signature: tuple[int, int] = (4, 4)
  # Length in steps; raised to the last note end if smaller.
  total_steps: int = 0

  def __post_init__(self):
    object.__setattr__(self, "notes", tuple(self.notes))
    last_end = max((n.end_step for n in self.notes), default=0)
    object.__setattr__(self, "total_steps", max(int(self.total_steps), last_end))

  @property
  def steps_per_bar(self) -> float:
    """Steps per bar; not whole for meters such as 7/32 (Magenta rejects those)."""
    numerator, denominator = self.time_signature
    return self.steps_per_quarter * 4.0 * numerator / denominator

  @property
  def seconds_per_step(self) -> float:
    return 60.0 / (self.qpm * self.steps_per_quarter)

  def transpose(self, semitones: int) -> NoteSequence:
    """Shifts every pitched (non-drum) note; drum notes keep their pitch."""
    notes = tuple(n if n.is_drum else dataclasses.replace(n, pitch=n.pitch + semitones) for n in self.notes)
    return dataclasses.replace(self, notes=notes)


def quantize_seconds(seconds: float | np.ndarray, steps_per_second: float):
  """note_seq's quantize_to_step: round to the nearest step (cutoff 0.5)."""
  return np.floor(np.asarray(seconds) * steps_per_second + 0.5).astype(np.int64)


def read_midi(source: str | pathlib.Path | bytes, steps_per_quarter: int = STEPS_PER_QUARTER) -> list[NoteSequence]:
  """MIDI file (path or bytes) -> one quantized NoteSequence per constant tempo and meter section.

  Raises CorruptMidiError naming the file when pretty_midi cannot parse it.
  """
  with extra_imports("music"):
    import pretty_midi

  name = "<bytes>" if isinstance(source, (bytes, bytearray)) else str(source)
  data = bytes(source) if isinstance(source, (bytes, bytearray)) else pathlib.Path(source).read_bytes()
  try:
    with warnings.catch_warnings():
      warnings.simplefilter("ignore")  # e.g. "Tempo, Key or Time signature change events found on non-zero tracks"
      midi = pretty_midi.PrettyMIDI(io.BytesIO(data))
  except Exception as e:  # noqa: BLE001 - pretty_midi/mido raise many exception types on bad data
    raise CorruptMidiError(f"{name} is not a readable MIDI file ({type(e).__name__}: {e})") from e
  return _split_and_quantize(midi, steps_per_quarter)


def _time_changes(midi) -> list[tuple[float, str, object]]:
  """(time, kind, value) for every tempo and time-signature event, time signatures first on ties."""
  events = [(float(ts.time), "meter", (int(ts.numerator), int(ts.denominator))) for ts in midi.time_signature_changes]
  times, qpms = midi.get_tempo_changes()
  events += [(float(t), "tempo", float(q)) for t, q in zip(times, qpms)]
  order = sorted(range(len(events)), key=lambda i: (events[i][0], events[i][1] != "meter", i))
  return [events[i] for i in order]


def _split_and_quantize(midi, steps_per_quarter: int) -> list[NoteSequence]:
  """note_seq's split_note_sequence_on_time_changes + quantize_note_sequence, on a PrettyMIDI."""
  raw = [
    (
      float(note.start),
      float(note.end),
      int(note.pitch),
      int(note.velocity),
      int(inst.program),
      bool(inst.is_drum),
      index,
    )
    for index, inst in enumerate(midi.instruments)
    for note in inst.notes
  ]
  total_time = max((r[1] for r in raw), default=0.0)
  if total_time <= 0:
    return []
  changes = [c for c in _time_changes(midi) if c[0] < total_time]

  # Split wherever the tempo or meter actually changes; remember the state in force at each split.
  meter, qpm = (4, 4), DEFAULT_QPM
  splits: list[float] = [0.0]
  states: list[tuple[tuple[int, int], float]] = []
  for time, kind, value in changes:
    if (kind == "meter" and value == meter) or (kind == "tempo" and value == qpm):
      continue
    if time > splits[-1]:
      states.append((meter, qpm))
      splits.append(time)
    if kind == "meter":
      meter = value
    else:
      qpm = value
  states.append((meter, qpm))
  splits.append(total_time)

  raw.sort(key=lambda r: r[0])
  starts = np.array([r[0] for r in raw])
  sections = []
  for (meter, qpm), begin, end in zip(states, splits[:-1], splits[1:]):
    steps_per_second = steps_per_quarter * qpm / 60.0
    lo, hi = np.searchsorted(starts, begin, "left"), np.searchsorted(starts, end, "left")
    notes, section_end = [], 0.0
    for start, stop, pitch, velocity, program, is_drum, instrument in raw[lo:hi]:
      stop = min(stop, end) - begin
      start -= begin
      section_end = max(section_end, stop)
      q_start, q_end = int(quantize_seconds(start, steps_per_second)), int(quantize_seconds(stop, steps_per_second))
      q_end = max(q_end, q_start + 1)
      notes.append(Note(pitch, velocity, q_start, q_end, program, is_drum, instrument))
    total = int(quantize_seconds(section_end, steps_per_second))
    sections.append(NoteSequence(tuple(notes), steps_per_quarter, qpm, tuple(meter), total))
  return sections


def to_pretty_midi(seq: NoteSequence):
  """NoteSequence -> pretty_midi.PrettyMIDI, one instrument per (track, program, drum flag)."""
  with extra_imports("music"):
    import pretty_midi

  midi = pretty_midi.PrettyMIDI(initial_tempo=seq.qpm)
  midi.time_signature_changes.append(pretty_midi.TimeSignature(*seq.time_signature, 0.0))
  instruments: dict[tuple[int, int, bool], pretty_midi.Instrument] = {}
  dt = seq.seconds_per_step
  for n in sorted(seq.notes, key=lambda n: (n.start_step, n.pitch)):
    key = (n.instrument, n.program, n.is_drum)
    if key not in instruments:
      instruments[key] = pretty_midi.Instrument(program=n.program, is_drum=n.is_drum)
    instruments[key].notes.append(pretty_midi.Note(n.velocity, n.pitch, n.start_step * dt, n.end_step * dt))
  midi.instruments.extend(instruments[k] for k in sorted(instruments))
  return midi


def write_midi(seq: NoteSequence, path: str | pathlib.Path) -> None:
  """Writes a NoteSequence as a Standard MIDI File (drums on a drum instrument, programs kept)."""
  to_pretty_midi(seq).write(str(path))
