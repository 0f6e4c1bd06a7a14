"""MusicVAE latent-space studies: melody attributes, interpolation paths, attribute vectors, the experiment script."""

import importlib.util
import json

import jax
import numpy as np
import pytest

from trajvae.config import override, select_preset
from trajvae.music import attributes, commands, latent_studies
from trajvae.music.api import TrainedMusicVAE
from trajvae.music.configs import PRESETS, MusicModelConfig
from trajvae.music.model import init_model

STEPS = 32


def window(notes, offs=()):
  """A 2-bar melody window [32, 1]: notes = [(step, midi pitch)], offs = steps holding a note-off."""
  tokens = np.zeros(STEPS, np.int32)
  for step, pitch in notes:
    tokens[step] = pitch - 19
  for step in offs:
    tokens[step] = 1
  return tokens[:, None]


SCALE = window([(4 * i, p) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72])])  # quarter notes, C major
OFF_16TH = window([(1 + 4 * i, 61 if i % 2 == 0 else 66) for i in range(8)])  # C# / F# on odd 16ths, held
OFF_8TH = window([(2 + 4 * i, 60) for i in range(8)])  # on the "and" of every beat, held to the next "and"


def test_attributes_of_hand_made_windows():
  table = attributes.attribute_table(np.stack([SCALE, OFF_16TH, OFF_8TH]))
  names = list(attributes.ATTRIBUTES)
  expected = {
    "c_diatonic": [1.0, 0.0, 1.0],
    "note_density": [0.25, 0.25, 0.25],
    "average_interval": [12 / 7, 5.0, 0.0],
    "syncopation_16th": [0.0, 1.0, 0.0],
    "syncopation_8th": [0.0, 0.0, 1.0],
  }
  for name, values in expected.items():
    np.testing.assert_allclose(table[:, names.index(name)], values, err_msg=name)


def test_syncopation_onsets_and_held_notes():
  # 8th: the note on 2 stops at a note-off on 3 (before beat 4); 6 sounds until 13 (over 8); 14 until 17 (over 16).
  w = window([(2, 60), (6, 62), (13, 64), (14, 65), (17, 67)], offs=[3, 20])
  assert attributes.syncopation_8th(w, held=True) == pytest.approx(2 / 5)
  assert attributes.syncopation_8th(w) == pytest.approx(3 / 5)  # onsets on 2, 6 and 14, held or not
  # 16th: 13 is cut by the note-on at 14 (the 8th boundary); 17 sounds until 20 (over 18).
  assert attributes.syncopation_16th(w, held=True) == pytest.approx(1 / 5)
  assert attributes.syncopation_16th(w) == pytest.approx(2 / 5)
  # The last note of OFF_8TH (step 30) is cut by the window's end at the quarter boundary 32.
  assert attributes.syncopation_8th(OFF_8TH, held=True) == pytest.approx(7 / 8)
  np.testing.assert_array_equal(attributes.note_ends(w)[[2, 6, 13, 14, 17]], [3, 13, 14, 17, 20])


def test_undefined_attributes_are_nan_and_shapes_agree():
  silent, single = window([]), window([(0, 60)], offs=[4])
  table = attributes.attribute_table(np.stack([silent, single]))
  assert table[0, 1] == 0.0 and np.isnan(table[0, [0, 2, 3, 4]]).all()
  assert np.isnan(table[1, 2]) and table[1, 0] == 1.0
  np.testing.assert_array_equal(attributes.attribute_table(SCALE[None]), attributes.attribute_table(SCALE[None, :, 0]))
  with pytest.raises(ValueError, match="lie in"):
    attributes.note_density(np.full((1, STEPS, 1), 90))
  with pytest.raises(ValueError, match="unknown attributes"):
    attributes.attribute_table(SCALE[None], ("loudness",))


def test_data_space_path_switches_in_proportion_and_monotonically():
  rng = np.random.default_rng(0)
  amounts = np.linspace(0, 1, 11)
  path = latent_studies.data_space_path(SCALE, OFF_16TH, amounts, rng)
  np.testing.assert_array_equal(path[0], SCALE)
  np.testing.assert_array_equal(path[-1], OFF_16TH)
  to_start, to_end = latent_studies.hamming(path, SCALE), latent_studies.hamming(path, OFF_16TH)
  assert np.all(np.diff(to_start) >= 0) and np.all(np.diff(to_end) <= 0)
  differing = latent_studies.hamming(SCALE, OFF_16TH)
  np.testing.assert_allclose(to_start + to_end, differing)  # every interpolant lies on the path between the two
  np.testing.assert_allclose(to_start, np.round(amounts * differing * STEPS) / STEPS)
  with pytest.raises(ValueError, match="amounts"):
    latent_studies.data_space_path(SCALE, OFF_16TH, [1.5], rng)


def test_pick_pairs_gives_different_windows_without_repeats_while_they_last():
  windows = np.arange(10)[:, None, None] * np.ones((10, 4, 1), np.int32)
  starts, ends = latent_studies.pick_pairs(windows, 5, np.random.default_rng(0))
  assert starts.shape == ends.shape == (5, 4, 1)
  used = [int(w[0, 0]) for w in np.concatenate([starts, ends])]
  assert sorted(used) == list(range(10))  # 5 pairs of 10 windows: each window once
  twins = np.concatenate([windows[:3], windows[:3]])  # 3 windows twice: pairs of equal windows have no path
  for seed in range(5):
    more_s, more_e = latent_studies.pick_pairs(twins, 12, np.random.default_rng(seed))  # more than 6 // 2 pairs
    assert len(more_s) == 12 and all(not np.array_equal(a, b) for a, b in zip(more_s, more_e))
  with pytest.raises(ValueError, match="2 different windows"):
    latent_studies.pick_pairs(np.zeros((5, 4, 1), np.int32), 2, np.random.default_rng(0))


def test_latent_space_path_ends_at_the_two_means():
  a, b = np.array([1.0, 0.0, 2.0]), np.array([0.0, -1.0, 1.0])
  path = latent_studies.latent_space_path(a, b, np.linspace(0, 1, 5))
  np.testing.assert_allclose(path[0], a, atol=1e-6)
  np.testing.assert_allclose(path[-1], b, atol=1e-6)


def test_attribute_vector_points_along_a_planted_direction():
  rng = np.random.default_rng(1)
  mu = rng.normal(size=(400, 6))
  values = np.stack([2 * mu[:, 0] + 0.1 * rng.normal(size=400), -mu[:, 3]], axis=1)
  values[::7, 1] = np.nan  # undefined values are left out
  vectors = latent_studies.attribute_vectors(mu, values)
  assert np.argmax(np.abs(vectors[0])) == 0 and vectors[0, 0] > 2  # top-minus-bottom quartile of N(0,1): ~2.5
  assert np.argmax(np.abs(vectors[1])) == 3 and vectors[1, 3] < -2
  with pytest.raises(ValueError, match="does not vary"):
    latent_studies.attribute_vectors(mu, np.ones((400, 1)))
  assert np.isnan(latent_studies.attribute_vectors(mu, np.zeros((400, 1)), constant="nan")).all()
  low, high = latent_studies.quartile_split(np.arange(8.0), 0.25, rng)
  assert sorted(low) == [0, 1] and sorted(high) == [6, 7]


def test_relative_change():
  before = np.array([[1.0, 2.0], [3.0, np.nan]])
  after = np.array([[3.0, 1.0], [3.0, 1.0]])
  np.testing.assert_allclose(latent_studies.relative_change(before, after), [0.5, -0.5])


def tiny_model() -> TrainedMusicVAE:
  config = MusicModelConfig(z_size=4, enc_rnn_sizes=(8,), dec_rnn_sizes=(8,))
  return TrainedMusicVAE(config, *init_model(config, 0))


def test_interpolation_study_on_a_tiny_model():
  starts, ends = np.stack([SCALE, OFF_8TH]), np.stack([OFF_16TH, SCALE])
  out = latent_studies.interpolation_study(
    tiny_model(), starts, ends, np.linspace(0, 1, 3), jax.random.key(0), temperature=1.0, elbo_samples=2, batch=4
  )
  for method in ("latent", "data"):
    assert out[method]["tokens"].shape == (2, 3, STEPS, 1)
    for key in ("distance_to_start", "distance_to_end", "elbo"):
      assert out[method][key].shape == (2, 3) and np.isfinite(out[method][key]).all()
  np.testing.assert_array_equal(out["data"]["distance_to_start"][:, 0], 0)
  np.testing.assert_array_equal(out["data"]["distance_to_end"][:, -1], 0)
  # An untrained decoder gives every token about log(1/90); the ELBO is about 32 * log(1/90) minus a small KL.
  assert np.all(out["data"]["elbo"] < 0) and np.all(out["data"]["elbo"] > 32 * np.log(1 / 90) - 5)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
  root = tmp_path_factory.mktemp("latent")
  config = override(select_preset(PRESETS, "smoke-mel_2bar"), [f"data.data_dir={root / 'data'}"])
  commands.train(config, root / "run", verbose=False)
  return root / "run"


def load_script():
  spec = importlib.util.spec_from_file_location(
    "musicvae_latent_studies",
    str(latent_studies.__file__).replace("trajvae/music/latent_studies.py", "experiments/musicvae_latent_studies.py"),
  )
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.mark.slow
def test_script_end_to_end_on_a_smoke_model(smoke_run, tmp_path, capsys):
  script = load_script()
  results = script.main(
    [
      str(smoke_run),
      "--out",
      str(tmp_path),
      "--pairs",
      "6",
      "--amounts",
      "3",
      "--heldout",
      "16",
      "--max-train",
      "64",
      "--elbo-samples",
      "1",
      "--batch",
      "16",
      "--magnitudes=-1,0,1",
    ]
  )
  for name in ("interpolation.png", "interpolation_example.png", "attribute_matrix.png", "attribute_sweep.png"):
    assert (tmp_path / name).stat().st_size > 5000, name
  saved = json.loads((tmp_path / "latent_studies.json").read_text())
  assert saved["step"] == results["step"] == 20
  assert np.array(saved["attributes"]["relative_change"]).shape == (5, 5)
  assert saved["interpolation"]["data"]["distance_to_start"]["mean"][0] == 0.0
  assert len(saved["sweep"]["mean"]) == 3
  assert "attribute vectors, relative change" in capsys.readouterr().out
