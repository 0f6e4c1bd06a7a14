"""Piano-roll pictures of note sequences: `plot_piano_rolls` returns the Figure, `save_piano_rolls` writes a PNG."""

from __future__ import annotations

import pathlib
from typing import Sequence

from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from trajvae.figures import new_figure, save_figure
from trajvae.music.data.note_sequence import NoteSequence

_COLOURS = {"melody": "tab:blue", "bass": "tab:green", "drums": "tab:red"}


def _role(note) -> str:
  if note.is_drum:
    return "drums"
  return "bass" if 32 <= note.program <= 39 else "melody"


def pitch_range(seqs: Sequence[NoteSequence], margin: int = 2) -> tuple[int, int]:
  """(low, high) pitch axis limits covering every note of every sequence (around middle C when empty)."""
  pitches = [n.pitch for seq in seqs for n in seq.notes] or [60]
  return min(pitches) - margin, max(pitches) + margin


def draw_piano_roll(ax, seq: NoteSequence, title: str = "", pitches: tuple[int, int] | None = None) -> None:
  """Notes as bars (time in 16th steps, MIDI pitch), coloured melody / bass / drums; bar lines in grey.

  pitches fixes the pitch axis (low, high); by default it fits this sequence's notes.
  """
  total = max([seq.total_steps] + [n.end_step for n in seq.notes])
  for note in seq.notes:
    ax.add_patch(
      Rectangle(
        (note.start_step, note.pitch - 0.4),
        max(note.end_step - note.start_step, 0.6),
        0.8,
        color=_COLOURS[_role(note)],
        lw=0,
      )
    )
  steps_per_bar = seq.steps_per_quarter * 4 * seq.time_signature[0] // seq.time_signature[1]
  for bar in range(0, total + 1, steps_per_bar):
    ax.axvline(bar, color="0.85", lw=0.6, zorder=0)
  ax.set_xlim(0, max(total, 1))
  ax.set_ylim(*(pitches or pitch_range([seq])))
  ax.set_title(title, fontsize=8)
  ax.tick_params(labelsize=6)


def plot_piano_rolls(seqs: Sequence[NoteSequence], titles: Sequence[str] | None = None, columns: int = 1) -> Figure:
  """One piano roll per sequence in a grid (columns=len(seqs) gives an interpolation strip), all on one pitch axis."""
  rows = -(-len(seqs) // columns)
  shared = pitch_range(seqs)
  fig = new_figure(3.2 * columns if columns > 1 else 10, 1.8 * rows)
  axes = fig.subplots(rows, columns, squeeze=False)
  for i, ax in enumerate(axes.flat):
    if i < len(seqs):
      draw_piano_roll(ax, seqs[i], titles[i] if titles else "", shared)
    else:
      ax.axis("off")
  axes[-1, 0].set_xlabel("16th-note step", fontsize=7)
  axes[0, 0].set_ylabel("MIDI pitch", fontsize=7)
  return fig


def save_piano_rolls(
  seqs: Sequence[NoteSequence], path: str | pathlib.Path, titles: Sequence[str] | None = None, columns: int = 1
) -> pathlib.Path:
  return save_figure(plot_piano_rolls(seqs, titles, columns), path, dpi=110)
