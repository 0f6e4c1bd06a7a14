"""Per-epoch window draws and piece-level transposition, as the reference's uncached pipeline does them."""

import dataclasses

import numpy as np
import pytest

from trajvae.music.data import melody
from trajvae.music.data.encodings import get_converter
from trajvae.music.data.feeding import epoch_plan, group_windows, make_batches
from trajvae.music.data.note_sequence import Note, NoteSequence
from trajvae.music.data.tfds_notes import piece_window_groups, transposition_changes_notes


def climbing(num_bars, low=48, step=4):
  """Notes climbing a semitone per quarter: every bar differs, so every window is distinct."""
  return NoteSequence(
    tuple(Note(low + k % 48, 100, step * k, step * k + step - 1) for k in range(num_bars * 16 // step))
  )


def test_each_epoch_draws_a_new_subset_of_at_most_five_windows_per_piece():
  converter = dataclasses.replace(get_converter("melody", 2), max_windows=None)
  long_piece = piece_window_groups(converter, [climbing(12)], 0)[0][1]  # 11 distinct windows
  short_piece = piece_window_groups(converter, [climbing(3, low=70)], 0)[0][1]  # 2 windows
  assert len(long_piece) == 11 and len(short_piece) == 2
  tokens = np.concatenate([long_piece, short_piece])
  pieces = np.array([0] * 11 + [1] * 2)
  groups = group_windows(tokens, pieces, np.zeros(13, np.int64), 0)
  reached = set()
  for epoch in range(8):
    plan = epoch_plan(groups, 5, seed=3, epoch=epoch)
    assert np.sum(pieces[plan.indices] == 0) == 5 and np.sum(pieces[plan.indices] == 1) == 2
    reached |= set(plan.indices.tolist())
    np.testing.assert_array_equal(plan.indices, epoch_plan(groups, 5, seed=3, epoch=epoch).indices)
  assert len(reached) == 13  # over epochs every window of the long piece is used, not a fixed five


def test_batches_straddle_epochs_and_resume_exactly():
  tokens = np.arange(13 * 32).reshape(13, 32, 1).astype(np.int32) % 88 + 2
  pieces = np.array([0] * 11 + [1] * 2)
  batches = make_batches(tokens, 4, seed=5, pieces=pieces, max_per_piece=5)  # 7 windows an epoch
  stream = np.concatenate([batches(s)["tokens"] for s in range(7)])  # 28 windows = 4 epochs
  groups = group_windows(tokens, pieces, np.zeros(13, np.int64), 0)
  expected = np.concatenate([tokens[epoch_plan(groups, 5, 5, e).indices] for e in range(4)])
  np.testing.assert_array_equal(stream, expected)
  np.testing.assert_array_equal(
    make_batches(tokens, 4, seed=5, pieces=pieces, max_per_piece=5)(6)["tokens"], batches(6)["tokens"]
  )
  with pytest.raises(ValueError, match="exceeds the 7 training windows"):
    make_batches(tokens, 8, seed=5, pieces=pieces, max_per_piece=5)


def test_a_shift_that_moves_a_note_out_of_range_uses_the_exactly_transposed_windows():
  """The reference transposes the note sequence and drops notes outside MIDI 21-108: a 107 shifted by +3 goes."""
  notes = [(60, 0, 4), (107, 4, 12), (62, 12, 16), (64, 16, 32)]
  seq = NoteSequence(tuple(Note(p, 100, s, e) for p, s, e in notes))
  converter = get_converter("melody", 2)
  assert not transposition_changes_notes([seq], 1, converter.valid_programs)
  assert transposition_changes_notes([seq], 2, converter.valid_programs)
  groups = dict(piece_window_groups(converter, [seq], 5))
  assert sorted(groups) == [0, 2, 3, 4, 5]
  shifted = groups[3][0, :, 0]
  # 63 ends at step 4, then a rest until 65 at step 12: the 110 never existed.
  assert shifted[0] == melody.pitch_to_token(63) and shifted[4] == melody.NOTE_OFF and not shifted[5:12].any()
  assert shifted[12] == melody.pitch_to_token(65) and shifted.max() < melody.NUM_CLASSES
  tokens = np.concatenate([groups[s] for s in sorted(groups)])
  shifts = np.concatenate([[s] * len(groups[s]) for s in sorted(groups)])
  stored = group_windows(tokens, np.zeros(len(tokens), np.int64), shifts, 5)
  for epoch in range(30):
    plan = epoch_plan(stored, 5, seed=0, epoch=epoch)
    batch = tokens[plan.indices] + np.where(tokens[plan.indices] >= 2, plan.shifts[:, None, None], 0)
    assert batch.max() < melody.NUM_CLASSES
    if len(plan.indices) and shifts[plan.indices[0]] == 3:
      np.testing.assert_array_equal(batch[0, :, 0], shifted)
      assert plan.shifts[0] == 0  # stored already transposed


def test_beta_is_zero_at_the_first_step_without_annealing():
  import jax.numpy as jnp

  from trajvae.music.configs import MusicLossConfig
  from trajvae.music.objective import kl_beta

  config = MusicLossConfig(max_beta=0.2, beta_rate=0.0)
  assert float(kl_beta(config, jnp.asarray(0))) == 0.0  # tf.pow(0., 0.) = 1 in the reference
  assert float(kl_beta(config, jnp.asarray(1))) == pytest.approx(0.2)
