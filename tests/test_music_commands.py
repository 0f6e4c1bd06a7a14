"""MusicVAE end to end through the shared loop and the CLI, on a few dozen real corpus tunes."""

import dataclasses
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest

from trajvae.config import override, select_preset
from trajvae.music import commands
from trajvae.music.configs import PRESETS
from trajvae.music.data.loading import validate_tokens
from trajvae.music.data.note_sequence import Note, NoteSequence, write_midi

REPO = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> str:
  return str(tmp_path_factory.mktemp("note_windows"))


def smoke(data_dir: str, *sets: str):
  return override(select_preset(PRESETS, "smoke-mel_2bar"), [f"data.data_dir={data_dir}", *sets])


@pytest.mark.e2e
def test_resume_after_crash_is_exact(tmp_path, data_dir):
  config = smoke(data_dir, "train.steps=20", "train.checkpoint_every=10")
  straight = commands.train(config, tmp_path / "a", verbose=False)

  def crash(step):
    if step == 15:
      raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt):
    commands.train(config, tmp_path / "b", verbose=False, on_step=crash)
  resumed = commands.train(config, tmp_path / "b", verbose=False)
  for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.e2e
def test_cli_train_evaluate_sample_interpolate(tmp_path, data_dir):
  def cli(*args):
    return subprocess.run(
      [sys.executable, "-m", "trajvae", *args], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout

  workdir = str(tmp_path / "run")
  cli(
    "train",
    "musicvae",
    "--preset",
    "smoke-mel_2bar",
    "--workdir",
    workdir,
    "--quiet",
    "--set",
    f"data.data_dir={data_dir}",
  )
  out = cli("eval", "musicvae", "--workdir", workdir)
  assert '"accuracy_sampled"' in out and '"accuracy_teacher_forced"' in out
  paths = cli("sample", "musicvae", "--workdir", workdir, "--num", "3").split()
  assert sum(p.endswith(".mid") for p in paths) == 3 and any(p.endswith(".png") for p in paths)
  # Interpolate between two MIDI files of our own.
  for name, base in (("a.mid", 60), ("b.mid", 67)):
    notes = tuple(Note(base + (i % 4), 90, 4 * i, 4 * i + 3) for i in range(8))
    write_midi(NoteSequence(notes, total_steps=32), tmp_path / name)
  paths = cli(
    "interpolate",
    "musicvae",
    "--workdir",
    workdir,
    "--start",
    str(tmp_path / "a.mid"),
    "--end",
    str(tmp_path / "b.mid"),
    "--steps",
    "4",
  ).split()
  assert sum(p.endswith(".mid") for p in paths) == 4
  assert pathlib.Path(paths[0]).stat().st_size > 1000


def test_encoding_config_mismatch_is_a_clear_error(data_dir):
  config = smoke(data_dir)
  drums_model = dataclasses.replace(config.model, track_depths=(512,))
  with pytest.raises(ValueError, match=r"track depths \(90,\), but the model expects 32 steps with \(512,\)"):
    commands.build_task(dataclasses.replace(config, model=drums_model))
  with pytest.raises(ValueError, match="tokens outside"):
    validate_tokens(np.full((2, 32, 1), 95), config.model)
  with pytest.raises(ValueError, match=r"expected token batches \[batch, 32, 1\]"):
    validate_tokens(np.zeros((2, 256, 1)), config.model)


def test_empty_dataset_fails_before_training(tmp_path):
  folder = tmp_path / "midi"
  folder.mkdir()
  (folder / "broken.mid").write_bytes(b"not a midi file")
  config = override(
    select_preset(PRESETS, "smoke-mel_2bar"), [f"data.source={folder}", f"data.data_dir={tmp_path / 'data'}"]
  )
  with pytest.raises(ValueError, match="no windows"):
    commands.train(config, tmp_path / "run", verbose=False)
  assert not (tmp_path / "run" / "checkpoints").exists() or not any((tmp_path / "run" / "checkpoints").iterdir())
