"""The 16-bar study (issue 25): its presets keep the reference's shapes; its seed-level statistics."""

import importlib.util
import pathlib
import sys

import numpy as np
import pytest

from trajvae.music.configs import PRESETS, flat_mel_16bar, hierdec_mel_16bar, study_16bar_cpu

_spec = importlib.util.spec_from_file_location(
  "music_16bar_study", pathlib.Path(__file__).parents[1] / "experiments" / "music_16bar_study.py"
)
study = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = study  # its dataclasses look their module up
_spec.loader.exec_module(study)


@pytest.mark.parametrize("width", [16, 64])
def test_study_presets_keep_the_reference_shapes_at_reduced_width(width):
  hier, flat = study_16bar_cpu("hierarchical", width=width), study_16bar_cpu("flat", width=width)
  ref_h, ref_f = hierdec_mel_16bar(), flat_mel_16bar()
  # Reference: conductor and bottom decoder 2 x 1024; flat 3 x 2048; encoder 2 x 2048 for both.
  assert len(ref_h.model.dec_rnn_sizes) == 2 and len(ref_f.model.dec_rnn_sizes) == 3
  assert hier.model.decoder == "hierarchical" and hier.model.dec_rnn_sizes == (width, width)
  assert flat.model.decoder == "flat" and flat.model.dec_rnn_sizes == (2 * width,) * 3
  assert hier.model.enc_rnn_sizes == flat.model.enc_rnn_sizes == (2 * width, 2 * width)
  assert len(hier.model.enc_rnn_sizes) == len(ref_h.model.enc_rnn_sizes)
  for a, b in ((hier, flat),):
    assert a.model.z_size == b.model.z_size and a.loss == b.loss and a.data == b.data and a.train == b.train
  assert hier.model.num_steps == 256 and hier.loss.sampling_schedule == ref_h.loss.sampling_schedule
  assert hier.loss.max_beta == ref_h.loss.max_beta and hier.loss.beta_rate == ref_h.loss.beta_rate == 0
  assert hier.data.transpose_range == 5 and ref_h.data.transpose_range == 0  # the stated deviation
  assert PRESETS["hierdec-mel_16bar_study"]().model == study_16bar_cpu("hierarchical").model


def test_the_positive_control_has_no_free_bits_and_beta_one():
  args = study.parse_args(["--control-seeds", "2", "--seeds", "3"])
  control = study.run_config(study.Run("control", "flat", 1), args)
  main = study.run_config(study.Run("main", "flat", 1), args)
  assert control.loss.free_bits == 0 and control.loss.max_beta == 1.0 and control.train.seed == 1
  assert control.train.steps == args.control_steps and main.train.steps == args.steps
  assert main.loss.free_bits == 64 and main.loss.max_beta == 0.2
  names = [r.name for r in study.schedule(args)]
  assert len(names) == 10 and names[:4] == [
    "main-hierarchical-s0",
    "main-flat-s0",
    "control-hierarchical-s0",
    "control-flat-s0",
  ]


def test_welch_interval_and_per_bar_slope():
  same = study.welch_interval(np.array([1.0, 1.0, 1.0]), np.array([1.0, 1.0, 1.0]))
  assert same["difference"] == 0 and same["lo"] == same["hi"] == 0
  apart = study.welch_interval(np.array([0.80, 0.81, 0.82]), np.array([0.60, 0.61, 0.62]))
  assert apart["lo"] > 0.15 and apart["hi"] < 0.25
  noisy = study.welch_interval(np.array([0.5, 0.9, 0.1]), np.array([0.4, 0.8, 0.2]))
  assert noisy["lo"] < 0 < noisy["hi"]
  assert study.bar_slope(np.linspace(0.9, 0.6, 16)) == pytest.approx(-0.02)


def test_nested_bootstrap_sees_a_seed_level_difference_and_event_accuracy_pools_hits():
  pieces = np.repeat(np.arange(5), 2)

  def seed(level):
    return {
      "own__sampled_accuracy": np.full(10, level),
      "own__sampled_event_hits": np.full(10, 2),
      "events": np.full(10, 4),
    }

  a, b = [seed(0.8), seed(0.82)], [seed(0.6), seed(0.61)]
  lo, hi = study.nested_bootstrap(a, b, "own/sampled_accuracy", pieces, draws=200)
  assert 0.19 - 1e-9 <= lo < hi <= 0.22 + 1e-9  # the extremes of the seed resamples
  assert study.seed_values(a, "own/sampled_event_accuracy").tolist() == [0.5, 0.5]


@pytest.mark.slow
def test_one_run_trains_scores_and_caches_its_scores(tmp_path):
  """A tiny hierarchical run of the study on 40 corpus pieces: trained, scored on test windows, cached."""
  args = study.parse_args(
    [
      "--width",
      "8",
      "--steps",
      "2",
      "--log-every",
      "1",
      "--set",
      "data.max_pieces=40",
      "train.batch_size=4",
      f"data.data_dir={tmp_path}",
    ]
  )
  run = study.Run("main", "hierarchical", 0)
  config = study.run_config(run, args)
  tokens, _ = study.load_window_records(config.data, "test")
  workdir = tmp_path / run.group / run.name
  summary = study.train_and_score(run, config, workdir, tokens[:3], train=True)
  assert (summary["run"], summary["arm"], summary["seed"], summary["step"]) == (run.name, "hierarchical", 0, 2)
  assert summary["windows"] == 3 and np.isfinite(summary["latent_use_bits"]) and (workdir / "scores.npz").exists()
  assert study.train_and_score(run, config, workdir, tokens[:3], train=False) == summary  # cached, not rescored
