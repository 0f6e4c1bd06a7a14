"""Step-indexed token batches, with windows and shifts drawn per piece and epoch.

make_batches(windows, batch_size, seed, ...)(step) is a pure function of
(seed, step), so a resumed run sees exactly the batches it would have seen,
without iterator state.

The training stream follows the reference's data pipeline read without a
cache: every epoch, each piece (a note sequence) is transposed by one shift
drawn uniformly from [-r, r] and contributes at most `max_per_piece` of its
distinct windows, drawn at random. The epoch's chosen windows are shuffled, and
consecutive global batches are consecutive slices of the endless stream of
epochs (a batch may straddle two epochs; nothing is dropped). Both draws are
seeded by (seed, epoch), so the stream is deterministic.

Transposition shifts note-on tokens, which equals transposing the note sequence
before extraction unless a note crosses the MIDI 21-108 boundary; the dataset
stores the exactly re-extracted windows of those (piece, shift) pairs (`shifts`
!= 0) and they are used instead. A (piece, shift) with neither a stored group
nor an in-range token shift has no windows in the reference either (every note
would be deleted), so the piece sits that epoch out.

The windows are gathered with one numpy take per batch; grain's per-element
shuffle (MapDataset.range(N).shuffle().repeat().batch()) costs ~13 us per
example, 7 ms per batch of 512, which would hold back small models, and a
step -> batch function needs no dataset object around it (docs/music_data.md).
Each JAX process takes its own contiguous slice of the global batch.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import jax
import numpy as np

from trajvae.music.data import melody


def transpose_tokens(tokens: np.ndarray, shifts: np.ndarray) -> np.ndarray:
  """Melody tokens [B, T, 1] with each example's note-ons (>= 2) shifted by shifts[b]; holds and note-offs kept."""
  pitched = tokens >= melody.NUM_SPECIAL
  return (tokens + np.where(pitched, np.asarray(shifts)[:, None, None], 0)).astype(np.int32)


@dataclasses.dataclass(frozen=True)
class EpochPlan:
  """The windows one epoch feeds, in order: indices into the stored windows and the token shift of each."""

  indices: np.ndarray  # int64 [M]
  shifts: np.ndarray  # int32 [M]


@dataclasses.dataclass(frozen=True)
class PieceGroups:
  """Stored windows grouped by (piece, stored shift); what an epoch draws from.

  group_of[p, s + r] is the group of piece p's windows re-extracted at shift s (-1: none; the column s = 0 is
  the untransposed windows); lo/hi are the lowest and highest note-on token of each piece's untransposed
  windows (lo > hi when it has none).
  """

  group: np.ndarray  # [N] group of each window (ids follow (piece, shift) order)
  rank_base: np.ndarray  # [num_groups] index of each group's first window in group order
  sizes: np.ndarray  # [num_groups]
  group_of: np.ndarray  # [num_pieces, 2r + 1]
  lo: np.ndarray  # [num_pieces]
  hi: np.ndarray  # [num_pieces]
  transpose_range: int


def group_windows(tokens: np.ndarray, pieces: np.ndarray, shifts: np.ndarray, transpose_range: int) -> PieceGroups:
  """Index the windows by (piece, shift); every piece needs untransposed (shift 0) windows."""
  num_pieces = int(pieces.max()) + 1
  r = transpose_range
  keep = np.abs(shifts) <= r  # windows stored at shifts beyond the range form a group that is never drawn
  keys = np.where(keep, pieces.astype(np.int64) * (2 * r + 1) + (shifts + r), -1)
  unique, group = np.unique(keys, return_inverse=True)
  sizes = np.bincount(group, minlength=len(unique))
  group_of = np.full((num_pieces, 2 * r + 1), -1, np.int64)
  valid = unique >= 0
  group_of.reshape(-1)[unique[valid]] = np.flatnonzero(valid)
  if np.any(group_of[:, r] < 0):
    missing = np.flatnonzero(group_of[:, r] < 0)[:5].tolist()
    raise ValueError(f"pieces {missing} have no untransposed (shift 0) windows")
  base = np.cumsum(sizes) - sizes
  untransposed = shifts == 0
  pitched = tokens[..., 0] >= melody.NUM_SPECIAL if tokens.shape[2] == 1 else np.zeros(tokens.shape[:2], bool)
  big = np.iinfo(np.int32).max
  window_lo = np.where(pitched, tokens[..., 0], big).min(axis=1)
  window_hi = np.where(pitched, tokens[..., 0], -1).max(axis=1)
  lo = np.full(num_pieces, big, np.int64)
  hi = np.full(num_pieces, -1, np.int64)
  np.minimum.at(lo, pieces[untransposed], window_lo[untransposed])
  np.maximum.at(hi, pieces[untransposed], window_hi[untransposed])
  return PieceGroups(group, base, sizes, group_of, lo, hi, r)


def epoch_shifts(groups: PieceGroups, seed: int, epoch: int) -> np.ndarray:
  """One shift per piece for the epoch, uniform in [-r, r]."""
  r = groups.transpose_range
  if not r:
    return np.zeros(len(groups.group_of), np.int64)
  return np.random.default_rng([seed, epoch, 1]).integers(-r, r + 1, len(groups.group_of))


def chosen_groups(groups: PieceGroups, shifts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(group per piece, or -1 if the piece sits out; token shift still to apply) for the drawn shifts."""
  r = groups.transpose_range
  pieces = np.arange(len(shifts))
  stored = groups.group_of[pieces, shifts + r]
  untransposed = groups.group_of[:, r]
  in_range = (
    (shifts == 0)
    | (groups.lo > groups.hi)
    | ((groups.lo + shifts >= melody.NUM_SPECIAL) & (groups.hi + shifts < melody.NUM_CLASSES))
  )
  chosen = np.where(stored >= 0, stored, np.where(in_range, untransposed, -1))
  token_shift = np.where(stored >= 0, 0, shifts)
  return chosen, token_shift


def epoch_size(groups: PieceGroups, max_per_piece: int | None, seed: int, epoch: int) -> int:
  chosen, _ = chosen_groups(groups, epoch_shifts(groups, seed, epoch))
  sizes = groups.sizes[chosen[chosen >= 0]]
  return int(np.sum(sizes if max_per_piece is None else np.minimum(sizes, max_per_piece)))


def epoch_plan(groups: PieceGroups, max_per_piece: int | None, seed: int, epoch: int) -> EpochPlan:
  """The epoch's windows: per piece its drawn shift's group, at most max_per_piece at random, all shuffled."""
  chosen, token_shift = chosen_groups(groups, epoch_shifts(groups, seed, epoch))
  num_windows = len(groups.group)
  in_use = np.zeros(len(groups.sizes), bool)
  in_use[chosen[chosen >= 0]] = True
  piece_of_group = np.full(len(groups.sizes), -1, np.int64)
  piece_of_group[chosen[chosen >= 0]] = np.flatnonzero(chosen >= 0)
  selected = in_use[groups.group]
  if max_per_piece is not None:
    order = np.lexsort((np.random.default_rng([seed, epoch, 2]).random(num_windows), groups.group))
    rank = np.empty(num_windows, np.int64)
    rank[order] = np.arange(num_windows) - groups.rank_base[groups.group[order]]
    selected &= rank < max_per_piece
  indices = np.flatnonzero(selected)
  indices = indices[np.random.default_rng([seed, epoch]).permutation(len(indices))]
  shifts = token_shift[piece_of_group[groups.group[indices]]].astype(np.int32)
  return EpochPlan(indices, shifts)


class WindowStream:
  """Position k of the endless epoch stream -> (window index, token shift); epoch sizes cached as they are met."""

  def __init__(self, groups: PieceGroups, max_per_piece: int | None, seed: int):
    self.groups, self.max_per_piece, self.seed = groups, max_per_piece, seed
    self._ends = [0]  # _ends[e] = first stream position of epoch e
    # Without transposition every epoch draws the same number of windows.
    self._constant = epoch_size(groups, max_per_piece, seed, 0) if not groups.transpose_range else None
    self.plan = functools.lru_cache(maxsize=3)(lambda epoch: epoch_plan(groups, max_per_piece, seed, epoch))

  def _epoch_of(self, position: int) -> int:
    if self._constant is not None:
      return position // self._constant
    while self._ends[-1] <= position:
      size = epoch_size(self.groups, self.max_per_piece, self.seed, len(self._ends) - 1)
      if size == 0 and len(self._ends) > 1000 and self._ends[-1] == self._ends[-1000]:
        raise ValueError("no windows are drawn in a thousand epochs: every shift leaves the pitch range")
      self._ends.append(self._ends[-1] + size)
    return int(np.searchsorted(self._ends, position, side="right")) - 1

  def take(self, start: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    indices, shifts = [], []
    position = start
    while position < start + count:
      epoch = self._epoch_of(position)
      plan = self.plan(epoch)
      offset = position - (epoch * self._constant if self._constant is not None else self._ends[epoch])
      n = min(start + count - position, len(plan.indices) - offset)
      indices.append(plan.indices[offset : offset + n])
      shifts.append(plan.shifts[offset : offset + n])
      position += n
    return np.concatenate(indices), np.concatenate(shifts)


def make_batches(
  windows: np.ndarray,
  batch_size: int,
  seed: int,
  transpose_range: int = 0,
  *,
  pieces: np.ndarray | None = None,
  shifts: np.ndarray | None = None,
  max_per_piece: int | None = None,
) -> Callable[[int], dict[str, np.ndarray]]:
  """step -> {"tokens": int32 [batch_size / processes, steps, tracks]}, this process's share of the step's batch.

  A pure function of (seed, step): a resumed run sees the batches it would have seen, without iterator state.

  pieces[i] is the piece of window i (default: each window its own piece); shifts[i] the transposition it
  was stored at (default 0); max_per_piece caps the windows a piece gives each epoch (default: no cap).
  """
  windows = np.asarray(windows, np.int32)
  if windows.ndim != 3 or len(windows) == 0:
    raise ValueError(f"need a non-empty [N, steps, tracks] array of windows, got shape {windows.shape}")
  pieces = np.arange(len(windows)) if pieces is None else np.asarray(pieces, np.int64)
  shifts = np.zeros(len(windows), np.int64) if shifts is None else np.asarray(shifts, np.int64)
  if pieces.shape != (len(windows),) or shifts.shape != (len(windows),):
    raise ValueError(f"pieces and shifts need one entry per window ({len(windows)})")
  if transpose_range and (windows.shape[2] != 1 or windows.max() >= melody.NUM_CLASSES):
    raise ValueError("transposition applies to melody tokens only ([N, steps, 1], tokens < 90)")
  groups = group_windows(windows, pieces, shifts, transpose_range)
  sizes = groups.sizes[groups.group_of[:, transpose_range]]
  typical = int(np.sum(sizes if max_per_piece is None else np.minimum(sizes, max_per_piece)))
  if batch_size > typical:
    raise ValueError(f"batch size {batch_size} exceeds the {typical} training windows an epoch draws")
  processes, index = jax.process_count(), jax.process_index()
  if batch_size % processes:
    raise ValueError(f"batch size {batch_size} is not divisible by the {processes} processes")
  local = slice(index * (batch_size // processes), (index + 1) * (batch_size // processes))
  stream = WindowStream(groups, max_per_piece, seed)

  def gather(step: int) -> dict[str, np.ndarray]:
    indices, token_shifts = stream.take(int(step) * batch_size, batch_size)
    tokens = windows[indices[local]]
    if transpose_range:
      tokens = transpose_tokens(tokens, token_shifts[local])
    return {"tokens": tokens}

  return gather
