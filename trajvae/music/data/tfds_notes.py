"""TFDS dataset of MusicVAE token windows, written as array_record (no TensorFlow needed).

Builder `note_windows`, configs melody-2bar, melody-16bar, drums-2bar, trio-16bar.
The source is a builder argument, not part of the TFDS name, so that one data_dir
can hold several sources: build_note_windows(config, source, data_dir) writes
under data_dir/<source tag>/note_windows/<config>/1.0.0/, the tag naming the
source (e.g. "music21-all", "midi-myfolder-3f2a9c1b07", "-max40" for a capped build).

Sources:
- a folder of MIDI files (*.mid, *.midi, searched recursively); a piece is a file,
  its id the path relative to the folder;
- "music21" or "music21:<collection>,<collection>" (melody configs only): the
  offline corpus of trajvae.music.data.corpus.

Splits are train/validation/test = 80/10/10 by a hash of the piece id, so no
piece has windows in two splits. Every distinct window of every piece is stored
(version 2); the training pipeline draws at most 5 per piece each epoch
(trajvae.music.data.feeding), and load_split keeps at most 5 evenly spaced ones per
piece. For melody training data, the windows of a piece transposed by s in
[-5, 5] are also stored (with shift=s) wherever transposing the note sequence
before extraction differs from shifting its tokens (a note crosses MIDI 21/108);
elsewhere the feeder shifts tokens, which is then exact. Unreadable files are
skipped with a warning; the counts (files, corrupt files, pieces without
windows, windows per split) are logged, stored in the dataset's metadata and
written to build_counts.json next to it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import pathlib
import re
import sys
from collections import Counter
from typing import Iterable, Iterator

import numpy as np
import tensorflow_datasets as tfds

from trajvae.music.data.encodings import get_converter, piece_to_tensors
from trajvae.music.data.melody import MAX_PITCH, MIN_PITCH
from trajvae.music.data.note_sequence import CorruptMidiError, NoteSequence, read_midi

log = logging.getLogger(__name__)

CONFIGS = {
  "melody-2bar": ("melody", 2),
  "melody-16bar": ("melody", 16),
  "drums-2bar": ("drums", 2),
  "trio-16bar": ("trio", 16),
}
SPLITS = ("train", "validation", "test")
# Transpositions stored exactly for melody training data: the reference's 2-bar augmentation range.
STORED_TRANSPOSE_RANGE = 5
WINDOWS_PER_PIECE = 5  # the reference's max_tensors_per_notesequence
MIDI_SUFFIXES = (".mid", ".midi")
COUNTS_FILE = "build_counts.json"


def split_of(piece_id: str) -> str:
  """train / validation / test (80/10/10) from a stable hash of the piece id."""
  bucket = int.from_bytes(hashlib.sha256(piece_id.encode()).digest()[:8], "big") % 100
  return "train" if bucket < 80 else "validation" if bucket < 90 else "test"


def _piece_order(piece_id: str) -> bytes:
  """A stable pseudo-random order of pieces, so that the first windows of a split come from all collections."""
  return hashlib.sha256(b"order:" + piece_id.encode()).digest()


def _is_corpus(source: str) -> bool:
  return source == "music21" or source.startswith("music21:")


def _corpus_collections(source: str) -> tuple[str, ...]:
  from trajvae.music.data.corpus import COLLECTIONS

  return tuple(c for c in source.split(":", 1)[1].split(",") if c) if ":" in source else COLLECTIONS


def midi_files(folder: str | pathlib.Path) -> list[pathlib.Path]:
  root = pathlib.Path(folder).expanduser()
  return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES)


def source_pieces(
  source: str, encoding: str, max_pieces: int | None, counts: Counter
) -> Iterator[tuple[str, list[NoteSequence]]]:
  """(piece_id, sections) of a MIDI folder or the music21 corpus; counts files, corrupt files, ..."""
  if _is_corpus(source):
    if encoding != "melody":
      raise ValueError(f"the music21 corpus holds melodies only; it has no {encoding} data (use a MIDI folder)")
    from trajvae.music.data.corpus import load_corpus

    # Every core for a whole-corpus parse; a capped load (tests, quick experiments) reads a few files in order.
    workers = (os.cpu_count() or 1) if max_pieces is None else 1
    corpus = load_corpus(_corpus_collections(source), max_pieces=max_pieces, num_workers=workers, progress=True)
    counts.update({f"corpus_{k}": v for k, v in corpus.counts.items()})
    for piece in corpus.pieces:
      counts["pieces"] += 1
      yield piece.piece_id, list(piece.sections)
    return
  root = pathlib.Path(source).expanduser()
  if not root.is_dir():
    raise ValueError(f"source {source!r} is neither 'music21[:collections]' nor a folder of MIDI files")
  for path in midi_files(root)[:max_pieces]:
    counts["files"] += 1
    try:
      sections = read_midi(path)
    except CorruptMidiError as e:
      log.warning("skipping unreadable MIDI: %s", e)
      counts["corrupt_files"] += 1
      continue
    counts["pieces"] += 1
    yield path.relative_to(root).as_posix(), sections


def transposition_changes_notes(sections, semitones: int, valid_programs) -> bool:
  """Whether transposing the sections moves a usable melody note across MIDI 21-108 (in or out)."""
  for seq in sections:
    for n in seq.notes:
      if n.is_drum or (valid_programs is not None and n.program not in valid_programs):
        continue
      inside = MIN_PITCH <= n.pitch <= MAX_PITCH
      if inside != (MIN_PITCH <= n.pitch + semitones <= MAX_PITCH):
        return True
  return False


def piece_window_groups(converter, sections, transpose_range: int) -> list[tuple[int, np.ndarray]]:
  """(shift, every distinct window) of one piece: shift 0, plus each shift in [-r, r] whose windows differ
  from shifted tokens (the reference transposes the note sequence and then drops notes outside 21-108)."""
  groups = [(0, piece_to_tensors(converter, sections))]
  if len(groups[0][1]) == 0:
    return []
  programs = getattr(converter, "valid_programs", None)
  for shift in range(-transpose_range, transpose_range + 1):
    if shift and transposition_changes_notes(sections, shift, programs):
      windows = piece_to_tensors(converter, [seq.transpose(shift) for seq in sections])
      if len(windows):
        groups.append((shift, windows))
  return groups


def convert_pieces(config_name: str, source: str, max_pieces: int | None = None, progress: bool = False):
  """{split: [(piece_id, shift, windows [n, steps, tracks])]} and the counts, over the whole source.

  Every distinct window of a piece is kept (no cap); melody training pieces also get their exactly
  transposed groups where those differ from shifted tokens (see piece_window_groups).
  """
  encoding, num_bars = CONFIGS[config_name]
  converter = dataclasses.replace(get_converter(encoding, num_bars), max_windows=None)
  counts: Counter = Counter()
  by_split: dict[str, list[tuple[str, int, np.ndarray]]] = {s: [] for s in SPLITS}
  pieces = source_pieces(source, encoding, max_pieces, counts)
  if progress:
    from tqdm import tqdm

    pieces = tqdm(pieces, desc=f"{config_name} windows", unit=" pieces", file=sys.stderr, mininterval=1.0)
  for piece_id, sections in pieces:
    split = split_of(piece_id)
    transpose = STORED_TRANSPOSE_RANGE if encoding == "melody" and split == "train" else 0
    groups = piece_window_groups(converter, sections, transpose)
    if not groups:
      counts["pieces_without_windows"] += 1
      continue
    for shift, windows in groups:
      by_split[split].append((piece_id, shift, windows))
      if shift:
        counts[f"windows_transposed_{split}"] += len(windows)
    counts[f"pieces_{split}"] += 1
    counts[f"windows_{split}"] += len(groups[0][1])
    counts[f"windows_capped_{split}"] += min(len(groups[0][1]), WINDOWS_PER_PIECE)
  for s in SPLITS:
    counts.setdefault(f"windows_{s}", 0)
  return by_split, dict(counts)


class NoteWindowsConfig(tfds.core.BuilderConfig):
  def __init__(self, *, encoding: str, num_bars: int, **kwargs):
    super().__init__(**kwargs)
    self.encoding = encoding
    self.num_bars = num_bars


class NoteWindows(tfds.core.GeneratorBasedBuilder):
  """MusicVAE token windows of a MIDI folder or the music21 corpus (pass source=...)."""

  VERSION = tfds.core.Version("2.0.0")
  RELEASE_NOTES = {
    "1.0.0": "Initial release: at most 5 windows per piece, chosen at build time.",
    "2.0.0": "Every distinct window of every piece, with its piece-level transposition (shift) and order (index).",
  }
  BUILDER_CONFIGS = [
    NoteWindowsConfig(name=name, encoding=enc, num_bars=bars, description=f"{bars}-bar {enc} windows")
    for name, (enc, bars) in CONFIGS.items()
  ]

  def __init__(self, *, source: str | None = None, max_pieces: int | None = None, **kwargs):
    self.source = source
    self.max_pieces = max_pieces
    self.counts: dict[str, int] = {}
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    converter = get_converter(self.builder_config.encoding, self.builder_config.num_bars)
    return self.dataset_info_from_configs(
      features=tfds.features.FeaturesDict(
        {
          "tokens": tfds.features.Tensor(shape=(converter.num_steps, len(converter.track_depths)), dtype=np.int32),
          "piece_id": tfds.features.Text(),
          "shift": tfds.features.Tensor(shape=(), dtype=np.int32),
          "index": tfds.features.Tensor(shape=(), dtype=np.int32),
        }
      ),
      metadata=tfds.core.MetadataDict(),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # everything is local
    if self.source is None:
      raise ValueError("NoteWindows needs source=<MIDI folder> or source='music21'")
    by_split, self.counts = convert_pieces(self.builder_config.name, self.source, self.max_pieces, progress=True)
    self.info.metadata["counts"] = self.counts
    self.info.metadata["source"] = self.source
    log.info("note_windows/%s from %s: %s", self.builder_config.name, self.source, self.counts)
    if not any(by_split.values()):
      raise ValueError(
        f"no windows for {self.builder_config.name} in {self.source} (counts: {self.counts}); "
        "check the source holds 4/4 music of the right kind"
      )
    # An empty split is left out (TFDS cannot write one); load_split reports it.
    return {split: self._generate_examples(items) for split, items in by_split.items() if items}

  def _generate_examples(self, items):
    for piece_id, shift, windows in items:
      for k, window in enumerate(windows):
        yield f"{piece_id}#{shift}#{k}", {"tokens": window, "piece_id": piece_id, "shift": shift, "index": k}


def source_tag(source: str, max_pieces: int | None = None) -> str:
  """The data_dir subfolder of a source: readable and unique per corpus selection or folder."""
  if _is_corpus(source):
    collections = _corpus_collections(source)
    from trajvae.music.data.corpus import COLLECTIONS

    tag = "music21-all" if collections == COLLECTIONS else "music21-" + "-".join(collections)
  else:
    path = pathlib.Path(source).expanduser().resolve()
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", path.name)[:40] or "root"
    tag = f"midi-{name}-{hashlib.sha256(str(path).encode()).hexdigest()[:10]}"
  return tag + (f"-max{max_pieces}" if max_pieces else "")


def note_windows_builder(
  config_name: str, source: str, data_dir: str | pathlib.Path, max_pieces: int | None = None
) -> NoteWindows:
  if config_name not in CONFIGS:
    raise ValueError(f"unknown note_windows config {config_name!r}; expected one of {tuple(CONFIGS)}")
  root = pathlib.Path(data_dir).expanduser() / source_tag(source, max_pieces)
  return NoteWindows(
    config=config_name, data_dir=str(root), source=source, max_pieces=max_pieces, file_format="array_record"
  )


def _read_counts(builder: NoteWindows) -> dict[str, int]:
  path = pathlib.Path(builder.data_dir) / COUNTS_FILE
  return json.loads(path.read_text()) if path.exists() else dict(builder.info.metadata.get("counts", {}))


@contextlib.contextmanager
def build_lock(path: pathlib.Path) -> Iterator[None]:
  """Hold an exclusive lock on the file at path (created if needed) while the block runs.

  flock: the kernel drops it when the holder dies, so a crashed build leaves no
  stale lock. Where the filesystem cannot lock (some FUSE mounts), the block
  runs unlocked.
  """
  path.parent.mkdir(parents=True, exist_ok=True)
  with open(path, "a") as f:
    try:
      fcntl.flock(f, fcntl.LOCK_EX)
      locked = True
    except OSError as e:
      log.warning("cannot lock %s (%s); concurrent builds into this data_dir may collide", path, e)
      locked = False
    try:
      yield
    finally:
      if locked:
        fcntl.flock(f, fcntl.LOCK_UN)


def build_note_windows(config_name: str, source: str, data_dir: str, max_pieces: int | None = None) -> dict[str, int]:
  """Builds the dataset if it is not there yet; returns its counts.

  Safe to call from several processes at once (the processes of a multi-host
  run, parallel jobs): a file lock lets one build while the others wait, then
  read what it built. A first build of the music21 corpus parses it on every
  core, with progress bars on stderr; later builds of any config reuse the parse.
  """
  builder = note_windows_builder(config_name, source, data_dir, max_pieces)
  if builder.is_prepared() and (pathlib.Path(builder.data_dir) / COUNTS_FILE).exists():
    return _read_counts(builder)
  # Prepared but without its counts file: a build that is just finishing (TFDS
  # renames the folder before the counts are written) -- wait for its lock.
  root = pathlib.Path(data_dir).expanduser() / source_tag(source, max_pieces)
  with build_lock(root / f".{config_name}.lock"):
    builder = note_windows_builder(config_name, source, data_dir, max_pieces)
    if not builder.is_prepared():
      builder.download_and_prepare()
      (pathlib.Path(builder.data_dir) / COUNTS_FILE).write_text(json.dumps(builder.counts, indent=2, sort_keys=True))
  return _read_counts(builder)


@dataclasses.dataclass(frozen=True)
class SplitWindows:
  """Every stored window of a split, ordered by piece (a stable hash order), shift, then position in the piece."""

  tokens: np.ndarray  # int32 [N, steps, tracks]
  piece: np.ndarray  # int64 [N], index into piece_ids
  shift: np.ndarray  # int64 [N], the transposition the window was re-extracted at (0: untransposed)
  piece_ids: list[str]


def load_split_windows(
  config_name: str, source: str, data_dir: str, split: str, max_pieces: int | None = None
) -> SplitWindows:
  """All windows of one split with their pieces and shifts (what training feeds from), building first if needed."""
  if split not in SPLITS:
    raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
  counts = build_note_windows(config_name, source, data_dir, max_pieces)
  builder = note_windows_builder(config_name, source, data_dir, max_pieces)
  if split not in builder.info.splits or builder.info.splits[split].num_examples == 0:
    raise ValueError(f"no windows in the {split} split of {source} for {config_name} (counts: {counts})")
  data = builder.as_data_source()[split]
  records = data.__getitems__(range(len(data)))
  ids = [r["piece_id"].decode() if isinstance(r["piece_id"], bytes) else str(r["piece_id"]) for r in records]
  piece_ids = sorted(set(ids), key=_piece_order)
  number = {piece_id: i for i, piece_id in enumerate(piece_ids)}
  piece = np.array([number[i] for i in ids], np.int64)
  shift = np.array([int(r["shift"]) for r in records], np.int64)
  index = np.array([int(r["index"]) for r in records], np.int64)
  order = np.lexsort((index, shift, piece))
  tokens = np.stack([np.asarray(records[i]["tokens"], np.int32) for i in order])
  return SplitWindows(tokens, piece[order], shift[order], piece_ids)


def evenly_spaced_per_piece(windows: SplitWindows, max_windows: int | None) -> np.ndarray:
  """Indices of each piece's untransposed windows, at most max_windows evenly spaced ones (None: all)."""
  keep = []
  untransposed = np.flatnonzero(windows.shift == 0)
  starts = np.flatnonzero(np.diff(windows.piece[untransposed], prepend=-1))
  for begin, end in zip(starts, list(starts[1:]) + [len(untransposed)]):
    mine = untransposed[begin:end]
    if max_windows is not None and len(mine) > max_windows:
      mine = mine[np.round(np.linspace(0, len(mine) - 1, max_windows)).astype(np.int64)]
    keep.append(mine)
  return np.concatenate(keep) if keep else np.zeros(0, np.int64)


def load_split_records(
  config_name: str,
  source: str,
  data_dir: str,
  split: str,
  max_pieces: int | None = None,
  max_windows: int | None = WINDOWS_PER_PIECE,
) -> tuple[np.ndarray, list[str]]:
  """(tokens int32 [N, steps, tracks], piece ids [N]): at most max_windows evenly spaced untransposed windows
  per piece (the reference's evaluation mode takes a fixed subset too; None keeps all)."""
  windows = load_split_windows(config_name, source, data_dir, split, max_pieces)
  keep = evenly_spaced_per_piece(windows, max_windows)
  return windows.tokens[keep], [windows.piece_ids[p] for p in windows.piece[keep]]


def load_split(
  config_name: str,
  source: str,
  data_dir: str,
  split: str,
  max_pieces: int | None = None,
  max_windows: int | None = WINDOWS_PER_PIECE,
) -> np.ndarray:
  """Token windows int32 [N, steps, tracks] of one split; source "groove" reads TFDS groove/2bar-midionly."""
  if source == "groove":
    if config_name != "drums-2bar":
      raise ValueError(f"the groove source only provides drums-2bar windows, not {config_name}")
    return load_groove_windows(split, data_dir)
  return load_split_records(config_name, source, data_dir, split, max_pieces, max_windows)[0]


def load_groove_windows(
  split: str = "train", data_dir: str | None = None, max_examples: int | None = None
) -> np.ndarray:
  """TFDS groove/2bar-midionly through the drums-2bar converter (needs a one-off 3.3 MB download)."""
  try:
    builder = tfds.builder("groove/2bar-midionly", data_dir=data_dir, file_format="array_record")
    builder.download_and_prepare()
    data = builder.as_data_source()[split]
  except Exception as e:  # noqa: BLE001 - any download/prepare failure means the same thing to the user
    raise RuntimeError(
      f"could not obtain TFDS groove/2bar-midionly ({type(e).__name__}: {e}); it needs a one-off download "
      "from storage.googleapis.com. Offline, unpack the Groove MIDI Dataset's MIDI files into a folder and use "
      "it as the source: build_note_windows('drums-2bar', '/path/to/groove', data_dir)."
    ) from e
  count = len(data) if max_examples is None else min(max_examples, len(data))
  return groove_windows((bytes(data[i]["midi"]) for i in range(count)), f"the {split} split of groove/2bar-midionly")


def groove_windows(midi_files: Iterable[bytes], source: str = "groove") -> np.ndarray:
  """drums-2bar windows int32 [N, 32, 1] of MIDI byte strings (Groove examples); corrupt ones are skipped."""
  converter = get_converter("drums", 2)
  windows, skipped = [], 0
  for i, midi in enumerate(midi_files):
    try:
      sections = read_midi(midi)
    except CorruptMidiError as e:
      log.warning("skipping %s example %d: %s", source, i, e)
      skipped += 1
      continue
    windows.append(piece_to_tensors(converter, sections))
  tokens = np.concatenate(windows) if windows else np.zeros((0, converter.num_steps, 1), np.int32)
  if len(tokens) == 0:
    raise ValueError(f"no drums-2bar windows in {source} ({skipped} corrupt files skipped)")
  return tokens
