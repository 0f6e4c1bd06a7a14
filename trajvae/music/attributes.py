"""The five melody attributes of MusicVAE's attribute-vector study (Roberts et al. 2018, §5), on token windows.

Windows are 90-way melody tokens [..., steps] or [..., steps, 1] (0 = hold,
1 = note-off, 2..89 = note-on of MIDI 21..108) on a 16th-note grid, 16 steps a
bar, the first step on a bar line. A note starts at a note-on token and lasts
until the next non-hold token (note-on or note-off) or the window's end.

The paper names the attributes but its exact formulas could not be read here
(see docs/musicvae_latent_studies.md); these are the definitions used:

- C diatonic: share of notes whose pitch class is in the C major scale
  {C, D, E, F, G, A, B}.
- note density: note onsets per 16th-note step.
- average interval: mean absolute pitch step, in semitones, between
  consecutive notes.
- 16th-note syncopation: share of notes that start on an odd 16th step (off
  the 8th-note grid).
- 8th-note syncopation: share of notes that start on the off-beat 8th of a
  quarter (step 2 of 4).

With held=True the syncopation functions count only notes that also still
sound at the next boundary of the coarser grid (the next 8th, resp. quarter),
the stricter musical sense of syncopation; a note that the window's end cuts at
that boundary does not count, since whether it goes on sounding is not in the
window. On the offline folk corpus no 2-bar training window has a held 16th
syncopation, so the study uses the onset-only definitions.

Each function returns one float per window; an attribute that a window cannot
have (a share of notes without notes, an interval with fewer than two notes)
is NaN, so means over windows use np.nanmean.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

NOTE_OFF = 1
FIRST_NOTE_ON = 2
MIN_PITCH = 21
NUM_CLASSES = 90
C_MAJOR_PITCH_CLASSES = (0, 2, 4, 5, 7, 9, 11)


def melody_tokens(tokens: np.ndarray) -> np.ndarray:
  """[..., steps] or [..., steps, 1] melody tokens -> int array [..., steps]; other shapes or values are errors."""
  tokens = np.asarray(tokens)
  if tokens.ndim >= 2 and tokens.shape[-1] == 1:
    tokens = tokens[..., 0]
  if tokens.ndim < 1 or tokens.shape[-1] == 0:
    raise ValueError(f"expected melody windows [..., steps] or [..., steps, 1], got shape {tokens.shape}")
  if not np.issubdtype(tokens.dtype, np.integer):
    raise ValueError(f"expected integer tokens, got {tokens.dtype}")
  if tokens.size and (tokens.min() < 0 or tokens.max() >= NUM_CLASSES):
    raise ValueError(f"melody tokens lie in [0, {NUM_CLASSES}), got {tokens.min()}..{tokens.max()}")
  return tokens


def onsets(tokens: np.ndarray) -> np.ndarray:
  """Boolean [..., steps]: a note starts at this step."""
  return melody_tokens(tokens) >= FIRST_NOTE_ON


def note_pitches(tokens: np.ndarray) -> np.ndarray:
  """MIDI pitch of the note starting at each step, -1 where none starts -> [..., steps]."""
  tokens = melody_tokens(tokens)
  return np.where(tokens >= FIRST_NOTE_ON, tokens - FIRST_NOTE_ON + MIN_PITCH, -1)


def note_ends(tokens: np.ndarray) -> np.ndarray:
  """For every step t, the first step after t holding an event (note-on or note-off), or steps -> [..., steps].

  At an onset this is where the note stops sounding (exclusive end).
  """
  tokens = melody_tokens(tokens)
  steps = tokens.shape[-1]
  event_at = np.where(tokens != 0, np.arange(steps), steps)
  # after[t] = event_at[t + 1], with the window's end after the last step; then a running minimum from the right.
  after = np.concatenate([event_at[..., 1:], np.full(tokens.shape[:-1] + (1,), steps)], axis=-1)
  return np.flip(np.minimum.accumulate(np.flip(after, -1), axis=-1), -1)


def _share_of_notes(selected: np.ndarray, starts: np.ndarray) -> np.ndarray:
  """Share of onsets (starts) that are selected, per window; NaN for windows without notes."""
  count = starts.sum(-1)
  with np.errstate(invalid="ignore", divide="ignore"):
    return np.where(count > 0, (selected & starts).sum(-1) / np.maximum(count, 1), np.nan)


def c_diatonic(tokens: np.ndarray) -> np.ndarray:
  """Share of notes whose pitch class is in C major (C D E F G A B) -> [...]; NaN without notes."""
  pitches = note_pitches(tokens)
  in_scale = np.isin(pitches % 12, C_MAJOR_PITCH_CLASSES)
  return _share_of_notes(in_scale, pitches >= 0)


def note_density(tokens: np.ndarray) -> np.ndarray:
  """Note onsets per step -> [...] in [0, 1]."""
  return onsets(tokens).mean(-1)


def average_interval(tokens: np.ndarray) -> np.ndarray:
  """Mean |pitch difference| in semitones between consecutive notes -> [...]; NaN with fewer than two notes."""
  pitches = note_pitches(tokens)
  steps = pitches.shape[-1]
  starts = pitches >= 0
  # Index of the latest onset at or before each step (-1 before the first), then the pitch there.
  last = np.maximum.accumulate(np.where(starts, np.arange(steps), -1), axis=-1)
  previous = np.concatenate([np.full(last.shape[:-1] + (1,), -1), last[..., :-1]], axis=-1)
  has_previous = starts & (previous >= 0)
  previous_pitch = np.take_along_axis(pitches, np.maximum(previous, 0), axis=-1)
  jumps = np.where(has_previous, np.abs(pitches - previous_pitch), 0)
  count = has_previous.sum(-1)
  with np.errstate(invalid="ignore", divide="ignore"):
    return np.where(count > 0, jumps.sum(-1) / np.maximum(count, 1), np.nan)


def _syncopation(tokens: np.ndarray, unit: int, held: bool) -> np.ndarray:
  """Share of notes starting halfway between two boundaries `unit` steps apart (held: and sounding past the next)."""
  tokens = melody_tokens(tokens)
  steps = np.arange(tokens.shape[-1])
  half = unit // 2
  selected = (steps % unit) == half
  if held:
    selected = selected & (note_ends(tokens) > steps + half)
  return _share_of_notes(selected, tokens >= FIRST_NOTE_ON)


def syncopation_16th(tokens: np.ndarray, held: bool = False) -> np.ndarray:
  """Share of notes starting on an odd 16th step (held: and sounding past the next 8th boundary) -> [...]; NaN without notes."""
  return _syncopation(tokens, 2, held)


def syncopation_8th(tokens: np.ndarray, held: bool = False) -> np.ndarray:
  """Share of notes starting on the off-beat 8th (held: and sounding past the next quarter) -> [...]; NaN without notes."""
  return _syncopation(tokens, 4, held)


ATTRIBUTES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
  "c_diatonic": c_diatonic,
  "note_density": note_density,
  "average_interval": average_interval,
  "syncopation_16th": syncopation_16th,
  "syncopation_8th": syncopation_8th,
}
LABELS = {
  "c_diatonic": "C diatonic",
  "note_density": "note density",
  "average_interval": "average interval",
  "syncopation_16th": "16th syncopation",
  "syncopation_8th": "8th syncopation",
}


def attribute_table(tokens: np.ndarray, names: tuple[str, ...] = tuple(ATTRIBUTES)) -> np.ndarray:
  """All attributes of every window -> [N, len(names)] (columns in the order of names)."""
  unknown = [n for n in names if n not in ATTRIBUTES]
  if unknown:
    raise ValueError(f"unknown attributes {unknown}; known: {list(ATTRIBUTES)}")
  return np.stack([ATTRIBUTES[n](tokens) for n in names], axis=-1)
