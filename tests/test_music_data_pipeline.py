"""MusicVAE data pipeline: TFDS note_windows builds from MIDI folders and the music21 corpus."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pretty_midi
import pytest

from trajvae.music.data import tfds_notes
from trajvae.music.data.corpus import COLLECTIONS, corpus_sources, load_corpus
from trajvae.music.data.encodings import get_converter, piece_to_tensors
from trajvae.music.data.note_sequence import read_midi


def write_pm(path, tracks, meter=(4, 4)):
  pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
  pm.time_signature_changes.append(pretty_midi.TimeSignature(*meter, 0.0))
  dt = 60 / 120 / 4
  for program, is_drum, notes in tracks:
    inst = pretty_midi.Instrument(program, is_drum=is_drum)
    inst.notes = [pretty_midi.Note(100, p, s * dt, e * dt) for p, s, e in notes]
    pm.instruments.append(inst)
  path.parent.mkdir(parents=True, exist_ok=True)
  pm.write(str(path))


def tune(seed, num_bars=8):
  rng = np.random.default_rng(seed)
  return [(int(p), 2 * k, 2 * k + 1) for k, p in enumerate(rng.integers(55, 80, num_bars * 8))]


def names_covering_splits(per_split=2):
  """File names whose hash puts at least per_split of them in each split."""
  names, seen = [], {s: 0 for s in tfds_notes.SPLITS}
  k = 0
  while min(seen.values()) < per_split:
    name = f"piece{k:03d}.mid"
    split = tfds_notes.split_of(name)
    if seen[split] < per_split:
      names.append(name)
      seen[split] += 1
    k += 1
  return names


@pytest.fixture(scope="module")
def midi_folder(tmp_path_factory):
  root = tmp_path_factory.mktemp("midi")
  for i, name in enumerate(names_covering_splits()):
    write_pm(root / ("nested" if i % 2 else "") / name, [(0, False, tune(i))])
  (root / "broken.mid").write_bytes(b"RIFF not a midi file at all")
  write_pm(root / "waltz.midi", [(0, False, tune(99))], meter=(3, 4))  # readable, but no 4/4 window
  (root / "notes.txt").write_text("ignored: not a .mid file")
  return root


def test_folder_build_counts_and_split_by_piece(midi_folder, tmp_path, caplog):
  counts = tfds_notes.build_note_windows("melody-2bar", str(midi_folder), str(tmp_path))
  assert counts["files"] == 8 and counts["corrupt_files"] == 1 and counts["pieces_without_windows"] == 1
  assert "broken.mid" in caplog.text
  owner = {}
  total = 0
  for split in tfds_notes.SPLITS:
    tokens, ids = tfds_notes.load_split_records("melody-2bar", str(midi_folder), str(tmp_path), split)
    assert tokens.shape[1:] == (32, 1) and tokens.dtype == np.int32 and len(tokens) == counts[f"windows_capped_{split}"]
    every = tfds_notes.load_split("melody-2bar", str(midi_folder), str(tmp_path), split, max_windows=None)
    assert len(every) == counts[f"windows_{split}"] >= len(tokens)
    assert tokens.min() >= 0 and tokens.max() < 90 and (tokens > 0).any()
    for piece_id in ids:
      assert owner.setdefault(piece_id, split) == split  # no piece in two splits
      assert tfds_notes.split_of(piece_id) == split
    total += len(tokens)
  assert len(owner) == 6 and any(i.startswith("nested/") for i in owner)
  np.testing.assert_array_equal(
    tfds_notes.load_split("melody-2bar", str(midi_folder), str(tmp_path), "test"),
    tfds_notes.load_split_records("melody-2bar", str(midi_folder), str(tmp_path), "test")[0],
  )
  # The counts are kept next to the dataset, and a second call reuses the build.
  written = list(pathlib.Path(tmp_path).rglob(tfds_notes.COUNTS_FILE))
  assert len(written) == 1 and json.loads(written[0].read_text()) == counts
  assert tfds_notes.build_note_windows("melody-2bar", str(midi_folder), str(tmp_path)) == counts


def test_max_pieces_is_a_separate_build_and_every_window_is_stored(midi_folder, tmp_path):
  counts = tfds_notes.build_note_windows("melody-2bar", str(midi_folder), str(tmp_path), max_pieces=2)
  assert counts["files"] == 2
  assert len({p.name for p in tmp_path.iterdir()}) == 1 and next(tmp_path.iterdir()).name.endswith("-max2")
  full = tfds_notes.build_note_windows("melody-2bar", str(midi_folder), str(tmp_path))
  assert full["windows_train"] > full["windows_capped_train"] == 5 * full["pieces_train"]
  windows = tfds_notes.load_split_windows("melody-2bar", str(midi_folder), str(tmp_path), "train")
  assert len(windows.tokens) == full["windows_train"] + full.get("windows_transposed_train", 0)
  assert (windows.shift == 0).all()  # these tunes stay inside MIDI 21-108 under every shift of +-5
  assert len(windows.piece_ids) == full["pieces_train"] and windows.piece.max() == len(windows.piece_ids) - 1
  assert (np.diff(windows.piece) >= 0).all()  # grouped by piece
  assert len({w.tobytes() for w in windows.tokens[windows.piece == 0]}) == np.sum(windows.piece == 0)  # distinct


def test_drums_and_trio_builds(tmp_path):
  folder = tmp_path / "band"
  for i, name in enumerate(names_covering_splits(per_split=1)):
    mel = tune(i, num_bars=17)
    bass = [(36 + k % 5, 8 * k, 8 * k + 6) for k in range(34)]
    kit = [(36 + 6 * (k % 2), 4 * k, 4 * k + 1) for k in range(68)] + [(42 + i, 2 * k + 1, 2 * k + 2) for k in range(8)]
    write_pm(folder / name, [(0, False, mel), (33, False, bass), (0, True, kit)])
  for config, shape in (("drums-2bar", (32, 1)), ("trio-16bar", (256, 3))):
    counts = tfds_notes.build_note_windows(config, str(folder), str(tmp_path / "data"))
    assert counts["files"] == 3 and counts.get("pieces_without_windows", 0) == 0
    tokens = tfds_notes.load_split(config, str(folder), str(tmp_path / "data"), "train")
    assert tokens.shape[1:] == shape
    if config == "trio-16bar":
      assert tokens[..., :2].max() < 90 and tokens[..., 2].max() < 512 and (tokens[..., 2] > 0).any()


def test_empty_sources_raise_clear_errors(midi_folder, tmp_path):
  bad = tmp_path / "bad"
  bad.mkdir()
  (bad / "x.mid").write_bytes(b"\x00" * 100)
  with pytest.raises(ValueError, match="no windows for melody-2bar in .*bad"):
    tfds_notes.build_note_windows("melody-2bar", str(bad), str(tmp_path / "data"))
  with pytest.raises(ValueError, match="no windows"):
    tfds_notes.load_split("melody-2bar", str(bad), str(tmp_path / "data"), "train")
  one = tmp_path / "one"
  write_pm(one / "piece.mid", [(0, False, tune(0))])  # one piece: its split has windows, the others none
  split = tfds_notes.split_of("piece.mid")
  other = next(s for s in tfds_notes.SPLITS if s != split)
  assert len(tfds_notes.load_split("melody-2bar", str(one), str(tmp_path / "data"), split)) > 0
  with pytest.raises(ValueError, match=f"no windows in the {other} split of .*one for melody-2bar"):
    tfds_notes.load_split("melody-2bar", str(one), str(tmp_path / "data"), other)
  with pytest.raises(ValueError, match="melodies only"):
    tfds_notes.build_note_windows("drums-2bar", "music21", str(tmp_path / "data"))
  with pytest.raises(ValueError, match="neither"):
    tfds_notes.build_note_windows("melody-2bar", str(tmp_path / "missing"), str(tmp_path / "data"))
  with pytest.raises(ValueError, match="unknown note_windows config"):
    tfds_notes.build_note_windows("melody-4bar", str(one), str(tmp_path / "data"))


def test_groove_without_download_says_how_to_proceed(monkeypatch, tmp_path):
  import tensorflow_datasets as tfds

  def offline(*args, **kwargs):
    raise ConnectionError("storage.googleapis.com unreachable")

  monkeypatch.setattr(tfds, "builder", offline)
  with pytest.raises(RuntimeError, match="groove/2bar-midionly.*download.*folder"):
    tfds_notes.load_split("drums-2bar", "groove", str(tmp_path), "train")
  with pytest.raises(ValueError, match="drums-2bar"):
    tfds_notes.load_split("melody-2bar", "groove", str(tmp_path), "train")


@pytest.mark.slow
def test_music21_folk_subset_parses_once_and_gives_real_windows(tmp_path):
  corpus = load_corpus(["ryansMammoth"], max_pieces=30, cache_dir=tmp_path)
  assert len(corpus.pieces) == 30 and corpus.counts["off_grid"] > 0  # tunes with triplets are skipped, counted
  assert corpus.counts["tunes"] == corpus.counts["pieces"] + corpus.counts["off_grid"]
  assert len(list(tmp_path.rglob("*.pkl"))) == corpus.counts["sources"]
  again = load_corpus(["ryansMammoth"], max_pieces=30, cache_dir=tmp_path)  # from the cache
  assert [p.piece_id for p in again.pieces] == [p.piece_id for p in corpus.pieces]
  assert again.pieces[0].sections == corpus.pieces[0].sections
  converter = get_converter("melody", 2)
  windows = np.concatenate([piece_to_tensors(converter, p.sections) for p in corpus.pieces])
  assert len(windows) >= 20
  assert windows.min() >= 0 and windows.max() < 90
  assert (windows >= 2).sum(axis=(1, 2)).min() >= 1  # every window has notes
  assert np.mean(windows >= 2) > 0.15
  quantized = load_corpus(["ryansMammoth"], max_pieces=30, cache_dir=tmp_path, off_grid="quantize")
  assert "off_grid" not in quantized.counts


@pytest.mark.slow
def test_music21_chorales_give_the_soprano(tmp_path):
  sources = corpus_sources(["bach"])
  assert len(sources) == 350 and "bach" in COLLECTIONS
  corpus = load_corpus(["bach"], max_pieces=2, cache_dir=tmp_path)
  first = corpus.pieces[0]
  assert first.piece_id == "bach/bwv269"
  pitches = [n.pitch for s in first.sections for n in s.notes]
  assert 60 <= min(pitches) and max(pitches) <= 81  # a soprano line
  assert first.sections[0].time_signature == (3, 4) and first.sections[0].notes[0].start_step == 8  # pickup beat


@pytest.mark.slow
def test_music21_source_builds_a_tfds_dataset(tmp_path, monkeypatch):
  monkeypatch.setenv("TRAJVAE_CACHE", str(tmp_path / "cache"))
  counts = tfds_notes.build_note_windows("melody-2bar", "music21:ryansMammoth", str(tmp_path / "data"), max_pieces=30)
  assert counts["pieces"] == 30 and counts["corpus_off_grid"] > 0
  assert sum(counts[f"windows_{s}"] for s in tfds_notes.SPLITS) > 20
  assert (tmp_path / "data" / "music21-ryansMammoth-max30").is_dir()
  tokens = tfds_notes.load_split("melody-2bar", "music21:ryansMammoth", str(tmp_path / "data"), "train", max_pieces=30)
  assert tokens.shape[1:] == (32, 1) and 0 < len(tokens) == counts["windows_capped_train"]


def test_groove_examples_go_through_the_drums_converter(tmp_path, caplog):
  """The bytes a groove/2bar-midionly example holds become drums-2bar windows; corrupt bytes are skipped."""
  beat = [(36, 0, 1), (42, 2, 3), (38, 4, 5), (42, 6, 7)] * 8  # kick, hat, snare, hat on eighths; 4 bars
  notes = [(p, s + 8 * (k // 4), e + 8 * (k // 4)) for k, (p, s, e) in enumerate(beat)]
  write_pm(tmp_path / "groove.mid", [(0, True, notes)])
  midi = (tmp_path / "groove.mid").read_bytes()
  with caplog.at_level("WARNING"):
    windows = tfds_notes.groove_windows([midi, b"not a midi file", midi], "generated groove")
  assert windows.shape == (
    2,
    32,
    1,
  )  # the 3 identical windows of each file de-duplicated to 1 and windows.dtype == np.int32
  expected = piece_to_tensors(get_converter("drums", 2), read_midi(midi))
  np.testing.assert_array_equal(windows[0], expected[0])
  assert np.count_nonzero(windows[0]) == 16  # one hit per eighth note over 2 bars
  assert "skipping generated groove example 1" in caplog.text
  with pytest.raises(ValueError, match="no drums-2bar windows in generated groove \\(1 corrupt"):
    tfds_notes.groove_windows([b"junk"], "generated groove")


@pytest.mark.multiprocess
def test_concurrent_first_builds_into_one_data_dir(midi_folder, tmp_path):
  """Processes that find the dataset missing at once (e.g. the workers of a multi-host run) all get it."""
  code = (
    "import json, sys; from trajvae.music.data import tfds_notes; "
    "print(json.dumps(tfds_notes.build_note_windows('melody-2bar', sys.argv[1], sys.argv[2])))"
  )
  procs = [
    subprocess.Popen(
      [sys.executable, "-c", code, str(midi_folder), str(tmp_path)],
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
    )
    for _ in range(3)
  ]
  outs = [proc.communicate(timeout=300) for proc in procs]
  assert [proc.returncode for proc in procs] == [0, 0, 0], [err[-2000:] for _, err in outs]
  counts = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
  assert counts[0] == counts[1] == counts[2] and counts[0]["windows_train"] > 0
  assert len(list(tmp_path.glob("*/note_windows/melody-2bar/*"))) == 1  # one build, no leftover incomplete.* folder


def test_corpus_progress_counts_bytes_so_the_eta_holds_with_big_files_first(capsys):
  from trajvae.music.data.corpus import _progress_bar

  bar = _progress_bar([3_000, 1_000, 1_000], enabled=True)
  bar.advance(3_000)  # the big file first: most of the work is done after one file of three
  bar.bar.refresh()
  line = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
  assert "music21 corpus" in line and "1/3 files" in line and " 60%" in line
  bar.advance(1_000)
  bar.advance(1_000)
  bar.close()
  assert "3/3 files" in capsys.readouterr().err


def test_every_corpus_source_has_its_bytes_on_the_bar_chorales_included():
  from trajvae.music.data.corpus import _source_size

  sources = corpus_sources(["bach", "miscFolk"])
  sizes = {source: _source_size(collection, source) for collection, source in sources}
  assert all(size > 0 for size in sizes.values()), [s for s, n in sizes.items() if n == 0][:5]
  assert _source_size("bach", "bach/no-such-chorale") == 0  # the parse reports it; the bar just skips it


def test_the_corpus_parse_without_beaming_reads_the_same_tunes_as_music21s_default():
  from collections import Counter

  from music21 import converter, stream

  from trajvae.music.data.corpus import _parse_source, extract_tune

  by_name = dict((pathlib.PurePath(path).name, path) for _, path in corpus_sources(["oneills1850", "miscFolk"]))
  for name in ("0501-0550.abc", "americanfifeopus.abc"):  # 50 jigs and reels; 56 fife tunes (triplets, ties)
    fast, counts = _parse_source("folk", by_name[name])
    default = converter.parse(by_name[name], forceSource=True, storePickle=False)  # beamed, as music21 reads it
    scores = list(default.scores) if isinstance(default, stream.Opus) else [default]
    tunes = [extract_tune(s.parts[0] if s.parts else s, Counter()) for s in scores]
    assert counts["tunes"] == len(scores) > 40
    assert [tune for _, tune in fast] == [t for t in tunes if t is not None]
  assert stream.Stream.makeBeams is not None and "no_beams" not in stream.Stream.makeBeams.__name__  # restored
