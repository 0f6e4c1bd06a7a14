"""The MusicVAE encodings by name, plus token-level helpers shared by data and model code.

get_converter("melody", 2) is the cat-mel_2bar data (programs 0-31),
("melody", 16) the 16-bar melody data (all pitched programs), ("drums", 2) the
cat-drums_2bar data and ("trio", 16) the trio_16bar data. ("drums", 16) has no
Magenta config but is the paper's 16-bar drum task.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

from trajvae.music.data import drums, melody
from trajvae.music.data.drums import DrumsConverter
from trajvae.music.data.melody import MelodyConverter
from trajvae.music.data.note_sequence import NoteSequence
from trajvae.music.data.trio import TrioConverter
from trajvae.music.data.windows import subsample

ENCODINGS = ("melody", "drums", "trio")
SUPPORTED_BARS = {"melody": (2, 16), "drums": (2, 16), "trio": (16,)}


class Converter(Protocol):
  name: str
  num_steps: int
  track_depths: tuple[int, ...]
  max_windows: int | None

  def to_tensors(self, seq: NoteSequence, rng: np.random.Generator | None = None) -> np.ndarray: ...

  def from_tensors(self, tokens: np.ndarray) -> NoteSequence: ...


def get_converter(encoding: str, num_bars: int) -> Converter:
  if encoding not in SUPPORTED_BARS:
    raise ValueError(f"unknown encoding {encoding!r}; expected one of {ENCODINGS}")
  if num_bars not in SUPPORTED_BARS[encoding]:
    raise ValueError(f"{encoding} supports {SUPPORTED_BARS[encoding]} bars, not {num_bars!r}")
  if encoding == "melody":
    return MelodyConverter(num_bars, valid_programs=melody.MEL_PROGRAMS if num_bars == 2 else None)
  if encoding == "drums":
    return DrumsConverter(num_bars)
  return TrioConverter(num_bars)


def piece_to_tensors(
  converter: Converter, sections: Sequence[NoteSequence], rng: np.random.Generator | None = None
) -> np.ndarray:
  """All sections of one piece -> at most converter.max_windows windows, as Magenta's split_process_and_combine."""
  per_section = [converter.to_tensors(s, rng) for s in sections]
  if not per_section:
    return np.zeros((0, converter.num_steps, len(converter.track_depths)), np.int32)
  return subsample(np.concatenate(per_section), converter.max_windows, rng)


def drum_roll(tokens: np.ndarray) -> np.ndarray:
  """Drum tokens [...] -> float32 [..., 10]: the 9 class bits and a final 'no hit' bit (the roll input)."""
  tokens = np.asarray(tokens)
  bits = (tokens[..., None] >> np.arange(drums.NUM_DRUM_CLASSES)) & 1
  silence = (tokens == 0)[..., None]
  return np.concatenate([bits, silence], axis=-1).astype(np.float32)


def transpose_melody_tokens(tokens: np.ndarray, semitones: int) -> np.ndarray | None:
  """Shifts note-on tokens (>= 2) by semitones; None if a note would leave MIDI 21-108."""
  tokens = np.asarray(tokens)
  pitched = tokens >= melody.NUM_SPECIAL
  shifted = np.where(pitched, tokens + semitones, tokens)
  if np.any(pitched & ((shifted < melody.NUM_SPECIAL) | (shifted >= melody.NUM_CLASSES))):
    return None
  return shifted.astype(tokens.dtype)
