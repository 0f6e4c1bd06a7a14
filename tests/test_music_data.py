"""MusicVAE data: MIDI I/O, melody / drums / trio encodings, and step-indexed feeding.

MIDI files are generated here with pretty_midi (and mido for tempo changes); the
TFDS and music21 corpus tests live in test_music_data_pipeline.py.
"""

import dataclasses

import mido
import numpy as np
import pretty_midi
import pytest

from trajvae.music.data import drums, melody
from trajvae.music.data.encodings import drum_roll, get_converter, piece_to_tensors, transpose_melody_tokens
from trajvae.music.data.feeding import epoch_plan, group_windows, make_batches
from trajvae.music.data.note_sequence import CorruptMidiError, Note, NoteSequence, read_midi, write_midi

STEP = 60 / 120 / 4  # seconds per 16th note at 120 qpm


def write_pm(path, tracks, qpm=120.0, meter=(4, 4)):
  """tracks: [(program, is_drum, [(pitch, start_step, end_step), ...])] -> a MIDI file."""
  pm = pretty_midi.PrettyMIDI(initial_tempo=qpm)
  pm.time_signature_changes.append(pretty_midi.TimeSignature(*meter, 0.0))
  dt = 60 / qpm / 4
  for program, is_drum, notes in tracks:
    inst = pretty_midi.Instrument(program, is_drum=is_drum)
    inst.notes = [pretty_midi.Note(100, p, s * dt, e * dt) for p, s, e in notes]
    pm.instruments.append(inst)
  pm.write(str(path))
  return path


def scale_notes(num_bars, start_bar=0, step=4, low=60):
  """Quarter notes climbing a C major scale (distinct bars), as (pitch, start, end)."""
  scale = [0, 2, 4, 5, 7, 9, 11, 12]
  out = []
  for k in range(num_bars * 16 // step):
    s = start_bar * 16 + k * step
    out.append((low + scale[k % 8] + 12 * ((k // 8) % 2), s, s + step - 1))
  return out


def seq_of(notes, meter=(4, 4), program=0):
  return NoteSequence(tuple(Note(p, 100, s, e, program) for p, s, e in notes), time_signature=meter)


# --- note sequences and MIDI ---------------------------------------------------------------------


def test_read_midi_quantizes_with_the_file_tempo(tmp_path):
  notes = [(60, 0, 3), (64, 3, 4), (67, 6, 16)]
  seqs = read_midi(write_pm(tmp_path / "a.mid", [(0, False, notes)], qpm=90))
  assert len(seqs) == 1
  seq = seqs[0]
  assert seq.qpm == pytest.approx(90, rel=1e-4) and seq.time_signature == (4, 4) and seq.steps_per_bar == 16
  assert [(n.pitch, n.start_step, n.end_step) for n in seq.notes] == notes
  assert seq.total_steps == 16


def test_read_midi_splits_at_tempo_and_meter_changes(tmp_path):
  mid = mido.MidiFile(ticks_per_beat=480)
  meta = mido.MidiTrack()
  meta += [
    mido.MetaMessage("set_tempo", tempo=500000, time=0),  # 120 qpm
    mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0),
    mido.MetaMessage("set_tempo", tempo=750000, time=8 * 480),  # 80 qpm after two bars
    mido.MetaMessage("time_signature", numerator=3, denominator=4, time=4 * 480),
  ]  # 3/4 from beat 12
  notes = mido.MidiTrack()
  for beat in range(16):  # one quarter note per beat for 16 beats
    notes += [
      mido.Message("note_on", note=60 + beat, velocity=90, time=0 if beat == 0 else 240),
      mido.Message("note_off", note=60 + beat, velocity=0, time=240),
    ]
  mid.tracks += [meta, notes]
  mid.save(tmp_path / "changes.mid")
  seqs = read_midi(tmp_path / "changes.mid")
  assert [(s.qpm, s.time_signature) for s in seqs] == [
    (pytest.approx(120, rel=1e-4), (4, 4)),
    (pytest.approx(80, rel=1e-4), (4, 4)),
    (pytest.approx(80, rel=1e-4), (3, 4)),
  ]
  assert [len(s.notes) for s in seqs] == [8, 4, 4]
  # Each section restarts at step 0 and counts steps in its own tempo.
  assert [(n.pitch, n.start_step, n.end_step) for n in seqs[1].notes][:2] == [(68, 0, 2), (69, 4, 6)]
  assert get_converter("melody", 2).to_tensors(seqs[2]).shape == (0, 32, 1)  # 3/4 gives nothing


def test_read_midi_rejects_non_midi_data(tmp_path):
  bad = tmp_path / "notes.mid"
  bad.write_text("this is not a MIDI file")
  with pytest.raises(CorruptMidiError, match="notes.mid"):
    read_midi(bad)
  with pytest.raises(ValueError):
    read_midi(b"MThd\x00\x00\x00\x06garbage")


def test_write_midi_round_trips_programs_and_drums(tmp_path):
  seq = NoteSequence((Note(60, 80, 0, 4, 0), Note(40, 70, 0, 8, 33, instrument=1), Note(36, 90, 4, 5, 0, True, 9)))
  write_midi(seq, tmp_path / "out.mid")
  back = read_midi(tmp_path / "out.mid")[0]
  key = lambda n: (n.pitch, n.velocity, n.start_step, n.end_step, n.program, n.is_drum)  # noqa: E731
  assert sorted(map(key, back.notes)) == sorted(map(key, seq.notes))


# --- melody ---------------------------------------------------------------------------------------


def test_melody_tokens_and_midi_round_trip(tmp_path):
  notes = [(60, 0, 3), (62, 4, 6), (64, 6, 12), (108, 12, 13), (21, 16, 20), (67, 20, 32)]
  seq = read_midi(write_pm(tmp_path / "m.mid", [(0, False, notes)]))[0]
  converter = get_converter("melody", 2)
  windows = converter.to_tensors(seq)
  assert windows.shape == (1, 32, 1) and windows.dtype == np.int32
  tokens = windows[0, :, 0]
  assert tokens[0] == 60 - 21 + 2 and tokens[3] == melody.NOTE_OFF and tokens[1] == melody.NO_EVENT
  assert tokens[12] == 89 and tokens[16] == 2
  decoded = converter.from_tensors(windows[0])
  write_midi(decoded, tmp_path / "back.mid")
  back = read_midi(tmp_path / "back.mid")[0]
  assert [(n.pitch, n.start_step, n.end_step) for n in back.notes] == notes
  assert {n.velocity for n in back.notes} == {80}


def test_skyline_keeps_the_highest_pitch_of_a_shared_onset():
  seq = seq_of([(60, 0, 4), (67, 0, 4), (64, 0, 8), (55, 8, 12), (59, 12, 32)])
  tokens = get_converter("melody", 2).to_tensors(seq)[0, :, 0]
  assert tokens[0] == melody.pitch_to_token(67)
  assert tokens[4] == melody.NOTE_OFF  # the 67 ends at 4; the lower 64 is dropped, not sustained
  assert tokens[8] == melody.pitch_to_token(55)


def test_a_later_onset_cuts_the_sounding_note():
  tokens = get_converter("melody", 2).to_tensors(seq_of([(60, 0, 12), (62, 4, 6), (64, 16, 32)]))[0, :, 0]
  assert tokens[:8].tolist() == [41, 0, 0, 0, 43, 0, 1, 0]


def test_a_bar_of_silence_ends_a_melody():
  converter = get_converter("melody", 2)
  # Bars 0-1, then a full silent bar (note-off at 32, next onset at 48), then bars 3-4.
  seq = seq_of(scale_notes(2) + scale_notes(2, start_bar=3, low=48))
  windows = converter.to_tensors(seq)
  all_windows = [w[:, 0].tolist() for w in windows]
  assert len(windows) == 2  # one window per melody; nothing spans the gap
  assert all(w[0] != 0 for w in all_windows)
  # A shorter gap (< 1 bar: note-off at 31, next onset at 46) keeps one melody, giving 1-bar-hop windows across it.
  short = seq_of(scale_notes(2) + [(p, s - 2, e - 2) for p, s, e in scale_notes(2, start_bar=3, low=48)])
  assert len(converter.to_tensors(short)) == 4


def test_only_sixteen_step_bars_are_used():
  converter = get_converter("melody", 2)
  notes = scale_notes(4)
  assert len(converter.to_tensors(seq_of(notes, meter=(3, 4)))) == 0
  assert len(converter.to_tensors(seq_of(notes, meter=(6, 8)))) == 0
  assert len(converter.to_tensors(seq_of(notes, meter=(2, 2)))) > 0  # 2/2 has 16 steps a bar, as in Magenta


def test_windows_hop_one_bar_are_deduplicated_and_capped_at_five():
  converter = get_converter("melody", 2)
  ten_bars = seq_of(scale_notes(10, step=2))  # 8 notes a bar, alternating octave per bar: bars repeat with period 2
  windows = converter.to_tensors(ten_bars)
  assert len(windows) == 2  # 9 windows with a 1-bar hop, but only 2 distinct
  distinct = seq_of([(40 + k, 4 * k, 4 * k + 2) for k in range(40)])  # 10 distinct bars
  full = dataclasses.replace(converter, max_windows=None).to_tensors(distinct)
  assert len(full) == 9
  np.testing.assert_array_equal(full[1, :16], full[0, 16:])  # consecutive windows overlap by one bar
  evenly = converter.to_tensors(distinct)
  np.testing.assert_array_equal(evenly, full[[0, 2, 4, 6, 8]])
  rng_windows = converter.to_tensors(distinct, np.random.default_rng(3))
  assert len(rng_windows) == 5
  np.testing.assert_array_equal(rng_windows, converter.to_tensors(distinct, np.random.default_rng(3)))
  assert {w.tobytes() for w in rng_windows} <= {w.tobytes() for w in full}


def test_melody_programs_and_piece_cap():
  violin = seq_of(scale_notes(2), program=40)
  assert len(get_converter("melody", 2).to_tensors(violin)) == 0  # 2-bar configs keep programs 0-31
  sixteen = seq_of(scale_notes(16), program=40)
  assert get_converter("melody", 16).to_tensors(sixteen).shape == (1, 256, 1)
  sections = [seq_of([(40 + k + 12 * j, 4 * k, 4 * k + 2) for k in range(16)]) for j in range(4)]
  assert len(piece_to_tensors(get_converter("melody", 2), sections[:1])) == 3
  assert len(piece_to_tensors(get_converter("melody", 2), sections)) == 5  # 3 windows a section, 5 a piece


def test_transpose_melody_tokens():
  tokens = np.array([0, 1, 2, 50, 89, 0])
  assert transpose_melody_tokens(tokens, 0).tolist() == tokens.tolist()
  assert transpose_melody_tokens(np.array([0, 1, 40, 50]), -3).tolist() == [0, 1, 37, 47]
  assert transpose_melody_tokens(tokens, 1) is None and transpose_melody_tokens(tokens, -1) is None


# --- drums ----------------------------------------------------------------------------------------


def test_drum_pitch_map_covers_the_reference_classes():
  assert drums.NUM_DRUM_CLASSES == 9 and drums.NUM_CLASSES == 512
  expected_first = [36, 38, 42, 46, 45, 48, 50, 49, 51]
  assert [c[0] for c in drums.DRUM_PITCH_CLASSES] == expected_first
  assert sum(len(c) for c in drums.DRUM_PITCH_CLASSES) == len(drums.PITCH_TO_CLASS) == 63
  for pitch, cls in {35: 0, 37: 1, 22: 2, 26: 3, 41: 4, 47: 5, 30: 6, 57: 7, 59: 8}.items():
    assert drums.PITCH_TO_CLASS[pitch] == cls


def test_drum_bitmask_tokens_roll_and_midi_round_trip(tmp_path):
  hits = [
    (36, 0),
    (42, 0),
    (38, 4),
    (42, 4),
    (46, 6),
    (45, 8),
    (48, 9),
    (50, 10),
    (49, 12),
    (51, 14),
    (35, 16),
    (42, 20),
    (36, 28),
    (51, 28),
    (38, 28),
    (57, 31),
  ]
  path = write_pm(tmp_path / "d.mid", [(0, True, [(p, s, s + 1) for p, s in hits]), (0, False, [(60, 0, 32)])])
  converter = get_converter("drums", 2)
  windows = converter.to_tensors(read_midi(path)[0])
  assert windows.shape == (1, 32, 1)
  tokens = windows[0, :, 0]
  assert tokens[0] == 1 + 4 and tokens[4] == 2 + 4 and tokens[28] == 1 + 2 + 256 and tokens[1] == 0
  assert tokens.max() < 512
  roll = drum_roll(tokens)
  assert roll.shape == (32, 10) and roll.dtype == np.float32
  assert roll[0].tolist() == [1, 0, 1, 0, 0, 0, 0, 0, 0, 0] and roll[1].tolist() == [0] * 9 + [1]
  assert drum_roll(np.array([[511]])).tolist() == [[[1] * 9 + [0]]]
  write_midi(converter.from_tensors(windows[0]), tmp_path / "back.mid")
  back = read_midi(tmp_path / "back.mid")[0]
  first = {p: drums.DRUM_PITCH_CLASSES[drums.PITCH_TO_CLASS[p]][0] for p, _ in hits}
  assert sorted((n.pitch, n.start_step) for n in back.notes) == sorted({(first[p], s) for p, s in hits})
  assert all(n.is_drum and n.end_step == n.start_step + 1 for n in back.notes)


def test_drum_patterns_end_after_a_silent_bar():
  kicks = [Note(36, 100, s, s + 1, is_drum=True) for s in [0, 8, 16, 24]]
  snares = [Note(38, 100, s, s + 1, is_drum=True) for s in [48, 56, 64, 72]]
  seq = NoteSequence(tuple(kicks + snares))
  windows = get_converter("drums", 2).to_tensors(seq)
  assert len(windows) == 2  # [0, 32) and [48, 80): the silent bar splits the pattern


# --- trio -----------------------------------------------------------------------------------------


def trio_tracks(num_bars, bass_gap=()):
  mel = [(72 + (k % 5), 4 * k, 4 * k + 3) for k in range(num_bars * 4)]
  bass = [(36 + (k % 3), 8 * k, 8 * k + 6) for k in range(num_bars * 2) if (8 * k) // 16 not in bass_gap]
  kit = [(36 if k % 2 == 0 else 38, 4 * k, 4 * k + 1) for k in range(num_bars * 4)] + [
    (42, 2 * k, 2 * k + 1) for k in range(num_bars * 8)
  ]
  return [(0, False, mel), (33, False, bass), (0, True, kit)]


def test_trio_layout_and_round_trip(tmp_path):
  converter = get_converter("trio", 16)
  assert converter.track_depths == (90, 90, 512) and sum(converter.track_depths) == 692
  assert converter.num_steps == 256
  tracks = trio_tracks(16)
  seq = read_midi(write_pm(tmp_path / "trio.mid", tracks))[0]
  windows = converter.to_tensors(seq)
  assert windows.shape == (1, 256, 3)
  assert windows[..., :2].max() < 90 and windows[..., 2].max() < 512
  write_midi(converter.from_tensors(windows[0]), tmp_path / "back.mid")
  back = read_midi(tmp_path / "back.mid")[0]
  role = lambda n: "drums" if n.is_drum else "bass" if 32 <= n.program < 40 else "melody"  # noqa: E731
  for (_, _, notes), name in zip(tracks, ("melody", "bass", "drums")):
    got = sorted((n.pitch, n.start_step) for n in back.notes if role(n) == name)
    assert got == sorted((p, s) for p, s, _ in notes), name
  mel_back = sorted((n.pitch, n.start_step, n.end_step) for n in back.notes if role(n) == "melody")
  assert mel_back == sorted(tracks[0][2])


def test_trio_needs_all_three_instruments_but_bridges_short_gaps():
  converter = get_converter("trio", 16)
  tracks = trio_tracks(18)
  to_seq = lambda ts: NoteSequence(
    tuple(  # noqa: E731
      Note(p, 100, s, e, prog, drum, i) for i, (prog, drum, notes) in enumerate(ts) for p, s, e in notes
    )
  )
  assert len(converter.to_tensors(to_seq(tracks))) == 3  # 18 bars: windows at bars 0, 1, 2
  assert len(converter.to_tensors(to_seq([tracks[0], tracks[2]]))) == 0  # no bass
  assert len(converter.to_tensors(to_seq(trio_tracks(18, bass_gap=(7, 8))))) == 3  # 2 silent bass bars: bridged
  assert len(converter.to_tensors(to_seq(trio_tracks(18, bass_gap=range(6, 11))))) == 0  # 5 bars: not
  assert len(converter.to_tensors(dataclasses.replace(to_seq(tracks), time_signature=(3, 4)))) == 0


def test_get_converter_names_and_errors():
  for (encoding, bars), depths in {
    ("melody", 2): (90,),
    ("melody", 16): (90,),
    ("drums", 2): (512,),
    ("trio", 16): (90, 90, 512),
  }.items():
    converter = get_converter(encoding, bars)
    assert converter.num_steps == 16 * bars and converter.track_depths == depths
    assert converter.name == f"{encoding}-{bars}bar"
  with pytest.raises(ValueError, match="chords"):
    get_converter("chords", 2)
  with pytest.raises(ValueError, match="trio"):
    get_converter("trio", 2)


# --- feeding --------------------------------------------------------------------------------------


def test_batches_are_fixed_shape_and_a_pure_function_of_seed_and_step():
  windows = np.random.default_rng(0).integers(0, 90, (103, 32, 1)).astype(np.int32)
  batches = make_batches(windows, 10, seed=7)
  first = batches(3)["tokens"]
  assert first.shape == (10, 32, 1) and first.dtype == np.int32
  np.testing.assert_array_equal(first, make_batches(windows, 10, seed=7)(3)["tokens"])
  assert not np.array_equal(first, make_batches(windows, 10, seed=8)(3)["tokens"])
  epoch = np.concatenate([batches(s)["tokens"] for s in range(10)])  # 10 full batches per epoch of 103
  assert len({w.tobytes() for w in epoch}) == 100
  assert batches(10**6)["tokens"].shape == (10, 32, 1)  # repeats without end


def melody_like(rng, n, low=20, high=60):
  """Windows of holds, note-offs and note-ons in [low, high)."""
  kinds = rng.integers(0, 3, (n, 32, 1))
  return np.where(kinds == 2, rng.integers(low, high, (n, 32, 1)), kinds).astype(np.int32)


def test_transposition_is_one_shift_per_piece_and_stays_in_range():
  rng = np.random.default_rng(1)
  windows = melody_like(rng, 60)
  windows[:6] = np.where(windows[:6] >= 2, 86, windows[:6])  # near the top: shifts above +3 would leave the range
  pieces = np.arange(60) // 3  # 20 pieces of 3 windows
  batches = make_batches(windows, 30, seed=0, transpose_range=5, pieces=pieces)
  for step in range(10):
    tokens = batches(step)["tokens"]
    assert tokens.min() >= 0 and tokens.max() < 90
    for t in tokens:
      # It is a stored window with the same holds and note-offs and its note-ons moved by one shift.
      held = t < 2
      found = [
        int(np.unique(t[~held] - windows[i][~held])[0])
        for i in range(60)
        if np.array_equal(held, windows[i] < 2)
        and np.array_equal(t[held], windows[i][held])
        and len(np.unique(t[~held] - windows[i][~held])) == 1
      ]
      assert found and all(abs(shift) <= 5 for shift in found)
  groups = group_windows(windows, pieces, np.zeros(60, np.int64), 5)
  all_shifts = set()
  for epoch in range(6):
    plan = epoch_plan(groups, 2, seed=0, epoch=epoch)
    for piece in range(20):
      mine = plan.shifts[pieces[plan.indices] == piece]
      assert len(mine) <= 2 and len(set(mine.tolist())) <= 1  # at most 2 windows, one shift per piece
      all_shifts |= set(mine.tolist())
      if piece < 2:
        assert all(mine <= 3)  # the pieces near the top never leave the range
    assert len(set(plan.indices.tolist())) == len(plan.indices)
  assert len(all_shifts) == 11
  np.testing.assert_array_equal(batches(7)["tokens"], make_batches(windows, 30, 0, 5, pieces=pieces)(7)["tokens"])


def test_feeding_errors_and_process_shards(monkeypatch):
  with pytest.raises(ValueError, match="non-empty"):
    make_batches(np.zeros((0, 32, 1), np.int32), 4, 0)
  with pytest.raises(ValueError, match="melody"):
    make_batches(np.full((8, 32, 1), 300, np.int32), 4, 0, transpose_range=5)
  windows = np.arange(40 * 32).reshape(40, 32, 1).astype(np.int32) % 90
  whole = make_batches(windows, 8, 5)(4)["tokens"]
  import jax

  monkeypatch.setattr(jax, "process_count", lambda: 2)
  parts = []
  for index in range(2):
    monkeypatch.setattr(jax, "process_index", lambda index=index: index)
    parts.append(make_batches(windows, 8, 5)(4)["tokens"])
  assert parts[0].shape == (4, 32, 1)
  np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_trio_keeps_repeated_windows_as_the_reference():
  """A doubled melody track gives each window twice, as magenta's TrioConverter (no de-duplication there)."""
  tracks = trio_tracks(18)
  to_seq = lambda ts: NoteSequence(
    tuple(  # noqa: E731
      Note(p, 100, s, e, prog, drum, i) for i, (prog, drum, notes) in enumerate(ts) for p, s, e in notes
    )
  )
  doubled = to_seq([tracks[0], tracks[0], tracks[1], tracks[2]])
  every = dataclasses.replace(get_converter("trio", 16), max_windows=None)
  windows = every.to_tensors(doubled)
  assert len(windows) == 6  # 3 windows x 2 melody tracks
  assert len(np.unique(windows.reshape(6, -1), axis=0)) == 3
  # The per-piece sampling still applies: at most max_windows (5) of the 6, drawn at random with an rng.
  sampled = get_converter("trio", 16).to_tensors(doubled, np.random.default_rng(0))
  assert len(sampled) == 5
  # A passage repeated note for note: one bar's pattern throughout gives 3 equal windows, all kept.
  bar = [(0, False, [(72, 0, 8), (74, 8, 16)]), (33, False, [(36, 0, 16)]), (0, True, [(36, 0, 1), (38, 8, 9)])]
  repeated = [
    (prog, drum, [(p, s + 16 * b, e + 16 * b) for b in range(18) for p, s, e in notes]) for prog, drum, notes in bar
  ]
  assert len(every.to_tensors(to_seq(repeated))) == 3
