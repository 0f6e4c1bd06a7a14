"""The reference's converter tests (magenta music_vae/data_test.py), ported to trajvae's converters.

The reference tests quantize at 1 step per quarter (4 steps a bar, times in
seconds at 60 qpm = steps). trajvae's converters work at 16 steps a bar, so every
time here is scaled by SCALE = 4: a reference step k becomes step 4k, and each
expected event list becomes the same events with three empty steps after each
(no-event for melodies, silence for drums), which is exactly what extraction at
4x the resolution gives. The expected values are the reference's own; only the
chord/key-conditioned, end-token and TF-op variants are left out (trajvae has
no conditioning, no end token and no TF graph).
"""

import dataclasses

import numpy as np

from trajvae.music.data import drums, melody
from trajvae.music.data.drums import DrumsConverter
from trajvae.music.data.encodings import drum_roll
from trajvae.music.data.melody import MelodyConverter
from trajvae.music.data.note_sequence import Note, NoteSequence
from trajvae.music.data.trio import TrioConverter

SCALE = 4  # trajvae steps per reference step
NO_EVENT, NOTE_OFF = -2, -1  # note_seq's MELODY_NO_EVENT / MELODY_NOTE_OFF (token = event + 2)
NO_DRUMS = 0


def reference_sequence(tracks) -> NoteSequence:
  """tracks: [(instrument, [(pitch, velocity, start, end)], is_drum, program)] in reference steps.

  note_seq's quantizer gives a zero-length note one step; it is applied before scaling.
  """
  notes = [
    Note(p, v, SCALE * s, SCALE * max(e, s + 1), program, is_drum, instrument)
    for instrument, track, is_drum, program in tracks
    for p, v, s, e in track
  ]
  return NoteSequence(tuple(notes))


def expand(labels) -> np.ndarray:
  """Reference labels at 4 steps a bar -> the same labels at 16 steps a bar."""
  labels = np.asarray(labels)
  out = np.zeros((len(labels) * SCALE,) + labels.shape[1:], labels.dtype)
  out[::SCALE] = labels
  return out


def as_set(windows) -> list[bytes]:
  return sorted(np.asarray(w, np.int64).reshape(-1).tobytes() for w in windows)


def assert_same_windows(actual, expected):
  assert len(actual) == len(expected)
  assert as_set(actual) == as_set(expected)


def only_instrument(seq: NoteSequence, instrument: int) -> NoteSequence:
  return dataclasses.replace(seq, notes=tuple(n for n in seq.notes if n.instrument == instrument))


# --- OneHotMelodyConverterTest ---------------------------------------------------------------------

MELODY_SEQUENCE = reference_sequence(
  [
    (0, [(32, 100, 2, 4), (33, 1, 6, 11), (34, 1, 11, 13), (35, 1, 17, 19)], False, 0),
    (
      1,
      [(35, 127, 2, 4), (36, 50, 6, 8), (71, 100, 33, 37), (73, 100, 34, 37), (33, 1, 50, 55), (34, 1, 55, 56)],
      False,
      0,
    ),
  ]
)
MELODY_UNSLICED = [
  (
    NO_EVENT,
    NO_EVENT,
    11,
    NO_EVENT,
    NOTE_OFF,
    NO_EVENT,
    12,
    NO_EVENT,
    NO_EVENT,
    NO_EVENT,
    NO_EVENT,
    13,
    NO_EVENT,
    NOTE_OFF,
    NO_EVENT,
    NO_EVENT,
  ),
  (NO_EVENT, 14, NO_EVENT, NOTE_OFF),
  (NO_EVENT, NO_EVENT, 14, NO_EVENT, NOTE_OFF, NO_EVENT, 15, NO_EVENT),
  (NO_EVENT, 50, 52, NO_EVENT, NO_EVENT, NOTE_OFF, NO_EVENT, NO_EVENT),
  (NO_EVENT, NO_EVENT, 12, NO_EVENT, NO_EVENT, NO_EVENT, NO_EVENT, 13),
]
# Five, not six: the window at bars 1-2 of the first melody starts with a rest after a note-off, which the
# reference's Melody constructor turns into no-events; it then equals the last melody and is de-duplicated.
MELODY_SLICED = [
  (NO_EVENT, NO_EVENT, 11, NO_EVENT, NOTE_OFF, NO_EVENT, 12, NO_EVENT),
  (NO_EVENT, NO_EVENT, 12, NO_EVENT, NO_EVENT, NO_EVENT, NO_EVENT, 13),
  (NO_EVENT, NO_EVENT, NO_EVENT, 13, NO_EVENT, NOTE_OFF, NO_EVENT, NO_EVENT),
  (NO_EVENT, NO_EVENT, 14, NO_EVENT, NOTE_OFF, NO_EVENT, 15, NO_EVENT),
  (NO_EVENT, 50, 52, NO_EVENT, NO_EVENT, NOTE_OFF, NO_EVENT, NO_EVENT),
]


def melody_labels(events) -> list[np.ndarray]:
  return [expand(np.array(e) + 2) for e in events]


def melody_converter(num_bars, max_windows=None) -> MelodyConverter:
  return MelodyConverter(num_bars, valid_programs=None, max_windows=max_windows)


def test_melody_unsliced():
  tracks = melody_converter(2).token_tracks(MELODY_SEQUENCE)
  assert_same_windows(tracks, melody_labels(MELODY_UNSLICED))


def test_melody_sliced():
  windows = melody_converter(2).to_tensors(MELODY_SEQUENCE)
  assert windows.shape == (5, 32, 1)
  assert_same_windows(windows[..., 0], melody_labels(MELODY_SLICED))


def test_melody_max_outputs_per_note_sequence_and_training_mode():
  assert len(melody_converter(2, 2).to_tensors(MELODY_SEQUENCE)) == 2
  assert len(melody_converter(2, 3).to_tensors(MELODY_SEQUENCE)) == 3
  assert len(melody_converter(2, 100).to_tensors(MELODY_SEQUENCE)) == 5
  # set_mode('train'): a random subset of the same size.
  assert len(melody_converter(2, 2).to_tensors(MELODY_SEQUENCE, np.random.default_rng(0))) == 2
  assert len(melody_converter(2, None).to_tensors(MELODY_SEQUENCE, np.random.default_rng(0))) == 5


def test_melody_to_note_sequence():
  converter = melody_converter(4, 1)
  windows = converter.to_tensors(only_instrument(MELODY_SEQUENCE, 0))
  assert len(windows) == 1
  seq = converter.from_tensors(windows[0])
  assert seq.qpm == 120
  dt = seq.seconds_per_step
  got = [(n.pitch, n.velocity, n.start_step * dt, n.end_step * dt, n.instrument) for n in seq.notes]
  assert got == [(32, 80, 1.0, 2.0, 0), (33, 80, 3.0, 5.5, 0), (34, 80, 5.5, 6.5, 0)]


# --- OneHotDrumsConverterTest (and the roll-input variant) -----------------------------------------

DRUMS_SEQUENCE = reference_sequence(
  [
    (
      0,
      [
        (35, 100, 0, 10),
        (44, 55, 1, 2),
        (40, 45, 4, 5),
        (35, 45, 9, 10),
        (40, 45, 13, 13),
        (55, 120, 16, 18),
        (60, 100, 16, 17),
        (53, 99, 19, 20),
      ],
      True,
      0,
    ),
    (1, [(35, 55, 1, 2), (40, 45, 25, 26), (55, 120, 28, 30), (60, 100, 28, 29), (53, 99, 31, 33)], True, 0),
  ]
)
DRUMS_UNSLICED = [
  (1, 5, NO_DRUMS, NO_DRUMS, 2, NO_DRUMS, NO_DRUMS, NO_DRUMS),
  (NO_DRUMS, 1, NO_DRUMS, NO_DRUMS, NO_DRUMS, 2, NO_DRUMS, NO_DRUMS, 160, NO_DRUMS, NO_DRUMS, 256),
  (NO_DRUMS, 2, NO_DRUMS, NO_DRUMS, 160, NO_DRUMS, NO_DRUMS, 256),
]
DRUMS_SLICED = [
  (1, 5, NO_DRUMS, NO_DRUMS, 2, NO_DRUMS, NO_DRUMS, NO_DRUMS),
  (NO_DRUMS, 1, NO_DRUMS, NO_DRUMS, NO_DRUMS, 2, NO_DRUMS, NO_DRUMS),
  (NO_DRUMS, 2, NO_DRUMS, NO_DRUMS, 160, NO_DRUMS, NO_DRUMS, 256),
]


def test_drums_unsliced():
  tracks = DrumsConverter(2, max_windows=None).token_tracks(DRUMS_SEQUENCE)
  assert_same_windows(tracks, [expand(e) for e in DRUMS_UNSLICED])


def test_drums_sliced_and_roll_inputs():
  windows = DrumsConverter(2, max_windows=None).to_tensors(DRUMS_SEQUENCE)[..., 0]
  expected = [expand(e) for e in DRUMS_SLICED]
  assert_same_windows(windows, expected)
  # RollInputsOneHotDrumsConverterTest: bit j of the label for class j, the last bit for silence.
  for window in windows:
    roll = drum_roll(window)
    for label, row in zip(window, roll):
      bits = [(int(label) >> j) & 1 for j in range(drums.NUM_DRUM_CLASSES)]
      assert row.tolist() == bits + [int(label == 0)]


def test_drums_max_outputs_per_note_sequence_and_training_mode():
  one_bar = lambda k: DrumsConverter(1, max_windows=k)  # noqa: E731
  assert len(one_bar(2).to_tensors(DRUMS_SEQUENCE)) == 2
  assert len(one_bar(3).to_tensors(DRUMS_SEQUENCE)) == 3
  assert len(one_bar(100).to_tensors(DRUMS_SEQUENCE)) == 5
  assert len(one_bar(2).to_tensors(DRUMS_SEQUENCE, np.random.default_rng(0))) == 2
  assert len(one_bar(None).to_tensors(DRUMS_SEQUENCE, np.random.default_rng(0))) == 5


def drum_notes(seq: NoteSequence):
  """(pitch, velocity, start s, instrument, is_drum) per note, sorted, and every note lasting one step."""
  assert all(n.end_step == n.start_step + 1 for n in seq.notes)  # the reference's DrumTrack.to_sequence
  dt = seq.seconds_per_step
  return sorted((n.pitch, n.velocity, n.start_step * dt, n.instrument, n.is_drum) for n in seq.notes)


def test_drums_to_note_sequence():
  converter = DrumsConverter(2, max_windows=1)
  windows = converter.to_tensors(only_instrument(DRUMS_SEQUENCE, 1))
  assert len(windows) == 1
  # Reference end times are start + 0.5 s (one step at 1 step per quarter); here one step is 0.125 s.
  expected = [(38, 80, 0.5), (48, 80, 2.0), (49, 80, 2.0), (51, 80, 3.5)]
  assert drum_notes(converter.from_tensors(windows[0])) == sorted((p, v, s, 9, True) for p, v, s in expected)


# --- RollOutputsDrumsConverterTest (class sets; trajvae outputs their 512-way bitmask) --------------

ROLL_SEQUENCE = reference_sequence(
  [
    (
      0,
      [
        (35, 100, 0, 10),
        (35, 55, 1, 2),
        (44, 55, 1, 2),
        (40, 45, 4, 5),
        (35, 45, 9, 10),
        (40, 45, 13, 13),
        (55, 120, 16, 18),
        (60, 100, 16, 17),
        (53, 99, 19, 20),
        (40, 45, 33, 34),
        (55, 120, 36, 37),
        (60, 100, 36, 37),
        (53, 99, 39, 42),
      ],
      True,
      0,
    ),
    (1, [(35, 100, 5, 10), (35, 55, 6, 8), (44, 55, 7, 9)], False, 0),
  ]
)


def test_drum_class_sets_sliced():
  expected_classes = [
    ([0], [0, 2], [], [], [1], [], [], []),
    ([], [0], [], [], [], [1], [], []),
    ([], [1], [], [], [5, 7], [], [], [8]),
  ]
  expected_silent = [
    [0, 0, 1, 1, 0, 1, 1, 1],
    [1, 0, 1, 1, 1, 0, 1, 1],
    [1, 0, 1, 1, 0, 1, 1, 0],
  ]
  windows = DrumsConverter(2, max_windows=None).to_tensors(ROLL_SEQUENCE)[..., 0]
  expected = [expand([drums.encode_classes(c) for c in events]) for events in expected_classes]
  assert_same_windows(windows, expected)
  silent = [drum_roll(w)[::SCALE, -1].astype(int).tolist() for w in windows]
  assert sorted(silent) == sorted(expected_silent)


def test_drum_class_sets_to_note_sequence():
  converter = DrumsConverter(2, gap_bars=float("inf"), max_windows=None)
  tracks = converter.token_tracks(ROLL_SEQUENCE)  # slice_bars=None, gap_bars=None: one track
  assert len(tracks) == 1
  expected = [
    (36, 0),
    (42, 0.5),
    (36, 0.5),
    (38, 2.0),
    (36, 4.5),
    (38, 6.5),
    (48, 8.0),
    (49, 8.0),
    (51, 9.5),
    (38, 16.5),
    (48, 18.0),
    (49, 18.0),
    (51, 19.5),
  ]
  assert drum_notes(converter.from_tensors(tracks[0])) == sorted((p, 80, s, 9, True) for p, s in expected)


# --- TrioConverterTest -----------------------------------------------------------------------------

TRIO_SEQUENCE = reference_sequence(
  [
    (1, [(51, 1, 13, 37)], False, 0),  # mel 1, coverage bars [3, 9]
    (2, [(52, 1, 4, 16)], False, 10),  # mel 2, coverage bars [1, 3]
    (3, [(50, 1, 2, 5), (49, 1, 16, 25)], False, 33),  # bass, coverage bars [0, 1], [4, 6]
    (4, [(35, 1, 0, 1), (40, 1, 4, 5), (35, 1, 9, 9), (35, 1, 25, 25), (40, 1, 29, 29)], True, 0),  # drums
  ]
)
M1 = np.array([NO_EVENT] * 13 + [30] + [NO_EVENT] * 23 + [NOTE_OFF] + [NO_EVENT] * 2) + 2
M2 = np.array([NO_EVENT] * 4 + [31] + [NO_EVENT] * 11 + [NOTE_OFF] + [NO_EVENT] * 23) + 2
BASS = (
  np.array(
    [NO_EVENT, NO_EVENT, 29, NO_EVENT, NO_EVENT, NOTE_OFF]
    + [NO_EVENT] * 10
    + [28]
    + [NO_EVENT] * 8
    + [NOTE_OFF]
    + [NO_EVENT] * 14
  )
  + 2
)
DRUMS = np.array([1, 0, 0, 0, 2, 0, 0, 0, 0, 1, 0, 0] + [0] * 12 + [0, 1, 0, 0, 0, 2, 0, 0] + [0] * 4)
TRIO_SLICED = [
  ((2, 4), (M1, BASS, DRUMS)),
  ((5, 7), (M1, BASS, DRUMS)),
  ((6, 8), (M1, BASS, DRUMS)),
  ((0, 2), (M2, BASS, DRUMS)),
  ((1, 3), (M2, BASS, DRUMS)),
  ((2, 4), (M2, BASS, DRUMS)),
]


def trio_labels():
  return [np.stack([expand(track[4 * i : 4 * j]) for track in tracks], axis=-1) for (i, j), tracks in TRIO_SLICED]


def test_trio_sliced():
  windows = TrioConverter(num_bars=2, gap_bars=1, max_windows=None).to_tensors(TRIO_SEQUENCE)
  assert windows.shape == (6, 32, 3)
  assert_same_windows(windows, trio_labels())


def test_trio_to_note_sequence():
  seq = TrioConverter(num_bars=2, max_windows=1).from_tensors(trio_labels()[3])
  dt = seq.seconds_per_step
  pitched = sorted(
    (n.instrument, n.pitch, n.start_step * dt, n.end_step * dt, n.program, n.velocity)
    for n in seq.notes
    if not n.is_drum
  )
  assert pitched == [(0, 52, 2.0, 4.0, 0, 80), (1, 50, 1.0, 2.5, 33, 80)]
  hits = [n for n in seq.notes if n.is_drum]
  assert drum_notes(dataclasses.replace(seq, notes=tuple(hits))) == [(36, 80, 0.0, 9, True), (38, 80, 2.0, 9, True)]
  assert seq.total_steps * dt == 4.0
  assert melody.NUM_CLASSES == 90 and drums.NUM_CLASSES == 512  # the [90 | 90 | 512] layout of the test's tensors
