"""Real melodies that ship inside music21, parsed once and cached: an offline MusicVAE data source.

Collections: the ABC folk-tune books (essenFolksong, oneills1850, ryansMammoth,
airdsAirs, miscFolk) and the Bach chorales ("bach": the soprano part of each of
the 350 distinct Riemenschneider chorales). Each tune becomes one NoteSequence
per constant-meter section on the 16th-note grid (step = offset * 4, 120 qpm,
program 0), with a pickup bar shifted so that bar lines fall on multiples of
the bar length. Ties are merged, chords keep their highest note, grace notes
are dropped (counted), and a tune with any onset or release off the grid
(tuplets, mostly) is skipped (counted).

Parsing all folk tunes takes minutes, so every corpus file is converted once and
cached as a pickle of plain tuples under `cache_dir` (default $TRAJVAE_CACHE/music21
or ~/.cache/trajvae/music21). The Essen collection may only be used
non-commercially (see docs/music_data.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import pathlib
import pickle
import sys
import time
from collections import Counter
from fractions import Fraction
from typing import Iterable, Sequence

from trajvae.errors import extra_imports
from trajvae.music.data.note_sequence import Note, NoteSequence

FOLK_COLLECTIONS = ("essenFolksong", "oneills1850", "ryansMammoth", "airdsAirs", "miscFolk")
COLLECTIONS = FOLK_COLLECTIONS + ("bach",)
CACHE_VERSION = 1
VELOCITY = 100
STEPS_PER_QUARTER = 4

log = logging.getLogger(__name__)

# What the cache holds per tune, in exact quarter notes so that the grid policy is applied at load time:
# (notes: ((pitch, start, end), ...), meters: ((offset, numerator, denominator), ...)). Plain tuples and
# Fractions keep the cache independent of class layouts.
_RawTune = tuple[tuple[tuple[int, Fraction, Fraction], ...], tuple[tuple[Fraction, int, int], ...]]


@dataclasses.dataclass(frozen=True)
class CorpusPiece:
  piece_id: str  # e.g. "essenFolksong/han1#12", "ryansMammoth/7thRegimentReel", "bach/bwv269"
  sections: tuple[NoteSequence, ...]


@dataclasses.dataclass(frozen=True)
class Corpus:
  pieces: list[CorpusPiece]
  # sources (files), tunes, pieces (usable), off_grid (skipped), grace_notes_dropped, chords_reduced,
  # empty, parse_errors
  counts: dict[str, int]


def default_cache_dir() -> pathlib.Path:
  root = os.environ.get("TRAJVAE_CACHE")
  base = pathlib.Path(root) if root else pathlib.Path.home() / ".cache" / "trajvae"
  return base / "music21"


def corpus_sources(collections: Sequence[str] = COLLECTIONS) -> list[tuple[str, str]]:
  """(collection, music21 corpus path) for every file of the collections, in a fixed order."""
  with extra_imports("music"):
    from music21 import corpus

  unknown = sorted(set(collections) - set(COLLECTIONS))
  if unknown:
    raise ValueError(f"unknown music21 collections {unknown}; expected some of {COLLECTIONS}")
  sources = []
  abc = sorted(corpus.getPaths(fileExtensions=["abc"]), key=str)
  for name in collections:
    if name == "bach":
      chorales = corpus.chorales.Iterator(returnType="filename")
      sources += [("bach", f) for f in dict.fromkeys(chorales)]  # the numbering lists 21 chorales twice
    else:
      # essenFolksong's test*.abc files are music21's parser fixtures, not extra tunes.
      sources += [(name, str(p)) for p in abc if p.parent.name == name and not p.stem.startswith("test")]
  return sources


def _steps(quarters: Fraction, off_grid: str) -> int | None:
  """Quarter notes -> steps: exact, or None off the grid ("skip"), or note_seq's rounding ("quantize")."""
  steps = quarters * STEPS_PER_QUARTER
  if steps.denominator == 1:
    return int(steps)
  return int(math.floor(steps + Fraction(1, 2))) if off_grid == "quantize" else None


def extract_tune(part, counts: Counter) -> _RawTune | None:
  """A music21 part -> exact note times in quarters (pickup-shifted, ties merged) and meters."""
  with extra_imports("music"):
    from music21 import chord

  measure = part.getElementsByClass("Measure").first()
  shift = Fraction(measure.paddingLeft).limit_denominator(10_000) if measure is not None else Fraction(0)
  flat = part.flatten()
  notes: list[list] = []  # [pitch, start, end]
  for el in flat.notes:
    if el.duration.isGrace or el.duration.quarterLength == 0:
      counts["grace_notes_dropped"] += 1
      continue
    if isinstance(el, chord.Chord):
      counts["chords_reduced"] += 1
      pitch = max(p.midi for p in el.pitches)
    else:
      pitch = el.pitch.midi
    start = Fraction(el.offset).limit_denominator(10_000) + shift
    end = start + Fraction(el.duration.quarterLength).limit_denominator(10_000)
    if el.tie is not None and el.tie.type in ("stop", "continue"):
      previous = next((n for n in reversed(notes) if n[0] == pitch and n[2] == start), None)
      if previous is not None:
        previous[2] = end
        continue
    notes.append([int(pitch), start, end])
  if not notes:
    counts["empty"] += 1
    return None
  meters = tuple(
    sorted(
      (
        (Fraction(ts.offset).limit_denominator(10_000) + shift if ts.offset else Fraction(0)),
        int(ts.numerator),
        int(ts.denominator),
      )
      for ts in flat.getElementsByClass("TimeSignature")
    )
  )
  return tuple(tuple(n) for n in notes), meters


def tune_to_sections(tune: _RawTune, off_grid: str = "skip") -> tuple[NoteSequence, ...] | None:
  """Exact tune -> one NoteSequence per meter; None if off_grid == "skip" and a time is off the 16th grid."""
  notes, meters = tune
  quantized = []
  for pitch, start, end in notes:
    s, e = _steps(start, off_grid), _steps(end, off_grid)
    if s is None or e is None:
      return None
    quantized.append((pitch, s, max(e, s + 1)))
  boundaries, current = [(0, (4, 4))], (4, 4)
  for offset, num, den in meters:
    step = _steps(offset, off_grid)
    if step is None:
      return None
    if (num, den) == current:
      continue
    if step > boundaries[-1][0]:
      boundaries.append((step, (num, den)))
    else:
      boundaries[-1] = (boundaries[-1][0], (num, den))
    current = (num, den)
  total = max(n[2] for n in quantized)
  sections = []
  for (begin, meter), (end, _) in zip(boundaries, boundaries[1:] + [(total, None)]):
    if end > begin:
      inside = tuple(Note(p, VELOCITY, s - begin, min(e, end) - begin) for p, s, e in quantized if begin <= s < end)
      sections.append(NoteSequence(inside, STEPS_PER_QUARTER, 120.0, meter, end - begin))
  return tuple(sections)


def _parse_source(collection: str, source: str) -> tuple[list[tuple[str, _RawTune]], dict[str, int]]:
  """One corpus file -> (piece_id, exact tune) pairs and counts: the slow music21 step."""
  with extra_imports("music"):
    from music21 import converter, stream

  counts: Counter = Counter()
  try:
    path = _source_file(collection, source)
    # From the source every time and never into music21's own pickle cache: that cache would then hold
    # scores without beams for every other user of music21 on the machine.
    with _without_beaming():
      parsed = converter.parse(path, forceSource=True, storePickle=False)
  except Exception as e:  # noqa: BLE001 - music21 raises many kinds of parse errors
    log.warning("music21 could not parse %s: %s", source, e)
    counts["parse_errors"] += 1
    return [], dict(counts)
  scores = list(parsed.scores) if isinstance(parsed, stream.Opus) else [parsed]
  stem = _stem(collection, source)
  tunes = []
  for k, score in enumerate(scores, 1):
    counts["tunes"] += 1
    part = score.parts[0] if score.parts else score  # chorales: parts[0] is the soprano
    tune = extract_tune(part, counts)
    if tune is not None:
      tunes.append((f"{collection}/{stem}#{k}" if len(scores) > 1 else f"{collection}/{stem}", tune))
  return tunes, dict(counts)


@contextlib.contextmanager
def _without_beaming():
  """music21 without its beaming pass while reading ABC files.

  abcFormat beams every part it reads (makeBeams: eighth-note beam groups and stem directions, pure
  notation), which took about 3/4 of the corpus's parse time. Pitches, offsets, durations, ties and meters,
  all that extract_tune reads, do not depend on it (tests/test_music_data_pipeline.py compares both parses).
  """
  with extra_imports("music"):
    from music21 import stream

  original = stream.Stream.makeBeams
  stream.Stream.makeBeams = _no_beams
  try:
    yield
  finally:
    stream.Stream.makeBeams = original


def _no_beams(self, *, inPlace: bool = False, **unused):  # noqa: N803 - music21's keyword
  return None if inPlace else self


def _stem(collection: str, source: str) -> str:
  return source.split("/")[-1] if collection == "bach" else pathlib.PurePath(source).stem


def _cached_parse(collection: str, source: str, cache_dir: pathlib.Path):
  with extra_imports("music"):
    import music21

  path = cache_dir / f"v{CACHE_VERSION}-music21-{music21.__version__}" / collection / f"{_stem(collection, source)}.pkl"
  if path.exists():
    with path.open("rb") as f:
      return pickle.load(f)
  result = _parse_source(collection, source)
  if result[1].get("parse_errors"):
    return result  # not cached: the next load tries again
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_suffix(f".tmp{os.getpid()}")
  with tmp.open("wb") as f:
    pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)
  tmp.replace(path)  # atomic: concurrent builders never read a half-written file
  return result


def load_corpus(
  collections: Iterable[str] = COLLECTIONS,
  max_pieces: int | None = None,
  cache_dir: str | pathlib.Path | None = None,
  off_grid: str = "skip",
  num_workers: int = 1,
  progress: bool = False,
) -> Corpus:
  """The music21 melodies as NoteSequences, parsing each corpus file at most once per cache_dir.

  max_pieces stops after that many usable pieces (files are parsed in a fixed order),
  which keeps tests fast. off_grid="skip" drops tunes with times off the 16th grid
  (counted as off_grid); "quantize" rounds them as note_seq rounds MIDI. num_workers > 1
  parses files in that many processes (largest files first, so that no core idles at
  the end). progress shows a bar on stderr (files, files/s, ETA). Nothing is kept in
  memory between calls: each call reads the per-file cache under cache_dir (keyed by
  CACHE_VERSION, the music21 version, collection and file) and parses only the files it lacks.
  """
  if off_grid not in ("skip", "quantize"):
    raise ValueError(f"off_grid must be 'skip' or 'quantize', not {off_grid!r}")
  cache = (pathlib.Path(cache_dir) if cache_dir is not None else default_cache_dir()).expanduser().resolve()
  sources = corpus_sources(tuple(collections))
  totals: Counter = Counter()
  pieces: list[CorpusPiece] = []
  began = time.perf_counter()
  sizes = [_source_size(collection, path) for collection, path in sources]
  bar = _progress_bar(sizes, progress)

  def take(result) -> bool:
    tunes, counts = result
    totals.update(counts)
    totals["sources"] += 1
    for piece_id, tune in tunes:
      sections = tune_to_sections(tune, off_grid)
      if sections is None:
        totals["off_grid"] += 1
      else:
        pieces.append(CorpusPiece(piece_id, sections))
    return max_pieces is not None and len(pieces) >= max_pieces

  if num_workers > 1 and max_pieces is None:
    from concurrent.futures import ProcessPoolExecutor, as_completed

    results: list = [None] * len(sources)
    with ProcessPoolExecutor(num_workers, mp_context=_spawn()) as pool:
      # Largest files first: the Essen books take half a minute each and would otherwise finish last.
      order = sorted(range(len(sources)), key=lambda i: -sizes[i])
      futures = {pool.submit(_cached_parse, *sources[i], cache): i for i in order}
      for future in as_completed(futures):
        results[futures[future]] = future.result()
        bar.advance(sizes[futures[future]])
    for result in results:
      take(result)
  elif num_workers > 1:
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(num_workers, mp_context=_spawn()) as pool:
      for size, result in zip(sizes, pool.map(_cached_parse, *zip(*sources), [cache] * len(sources))):
        bar.advance(size)
        if take(result):
          pool.shutdown(wait=True, cancel_futures=True)
          break
  else:
    for size, (collection, source) in zip(sizes, sources):
      bar.advance(size)
      if take(_cached_parse(collection, source, cache)):
        break
  bar.close()
  totals["pieces"] = len(pieces) if max_pieces is None else min(len(pieces), max_pieces)
  log.info(
    "music21 corpus: %d pieces from %d files in %.1f s",
    totals["pieces"],
    totals["sources"],
    time.perf_counter() - began,
  )
  return Corpus(pieces[:max_pieces] if max_pieces is not None else pieces, dict(totals))


def _spawn():
  """Fresh worker processes: forking a process that has started JAX's threads can deadlock."""
  import multiprocessing

  return multiprocessing.get_context("spawn")


def _source_file(collection: str, source: str) -> str:
  """The file a source names: a path, or for "bach" a corpus work name such as 'bach/bwv269' (of several formats
  of one chorale, e.g. .krn and .mxl, the first, as music21's corpus.parse takes)."""
  if collection != "bach":
    return source
  with extra_imports("music"):
    from music21 import corpus

  path = corpus.getWork(source)
  return str(path[0] if isinstance(path, list) else path)


def _source_size(collection: str, source: str) -> int:
  """The file's bytes, for the progress bar (0 when it cannot be found: the parse then reports the error)."""
  with extra_imports("music"):
    from music21.exceptions21 import CorpusException

  try:
    return os.path.getsize(_source_file(collection, source))
  except (OSError, CorpusException):
    return 0


def _progress_bar(sizes: Sequence[int], enabled: bool) -> _CorpusBar:
  """A bar on stderr over the corpus's bytes (so the ETA holds although the Essen books come first), with files
  done of all; a no-op when disabled."""
  return _CorpusBar(sizes, enabled)


class _CorpusBar:
  """tqdm over bytes parsed, showing `files done/all` beside the rate and ETA."""

  def __init__(self, sizes: Sequence[int], enabled: bool):
    from tqdm import tqdm

    self.files, self.total_files = 0, len(sizes)
    self.bar = tqdm(
      total=max(sum(sizes), 1),
      desc="music21 corpus",
      unit="B",
      unit_scale=True,
      file=sys.stderr,
      disable=not enabled,
      mininterval=1.0,
      smoothing=0.05,
    )

  def advance(self, size: int) -> None:
    self.files += 1
    self.bar.set_postfix_str(f"{self.files}/{self.total_files} files", refresh=False)
    self.bar.update(size)

  def close(self) -> None:
    self.bar.close()
