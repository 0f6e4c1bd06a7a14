"""MusicVAE configs: the Magenta reference presets by name, plus small ones that train on 2 CPU cores."""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

from trajvae.music.model import MusicModelConfig
from trajvae.music.objective import MusicLossConfig
from trajvae.train.optim import OptimConfig
from trajvae.train.supervised import TrainConfig

MELODY, DRUMS, TRIO = (90,), (512,), (90, 90, 512)
# music_vae_train.py's default --num_steps: the horizon the reference's schedules were set for.
REFERENCE_STEPS = 200_000


@dataclasses.dataclass(frozen=True)
class MusicDataConfig:
  encoding: Literal["melody", "drums", "trio"] = "melody"
  num_bars: int = 2
  # "music21" (the offline folk-tune and chorale corpus), "groove" (TFDS, needs a download), or a MIDI folder.
  source: str = "music21"
  data_dir: str = "~/.cache/trajvae/note_windows"
  # Cap on pieces read from the source (0: all); small values make quick experiments.
  max_pieces: int = 0
  # Training melodies: one random shift in [-r, r] semitones per piece and epoch (the reference: 5 for its
  # 2-bar melody configs, none for 16-bar melody, drums and trio).
  transpose_range: int = 5
  # Windows a piece gives each training epoch, drawn anew every epoch (the reference: 5; 0: all).
  windows_per_piece: int = 5


@dataclasses.dataclass(frozen=True)
class MusicEvalConfig:
  batch_size: int = 256
  # Held-out windows used for the accuracy figures (0: all of the split).
  max_examples: int = 2048
  split: str = "test"
  seed: int = 1234


@dataclasses.dataclass(frozen=True)
class MusicVAEConfig:
  model: MusicModelConfig = MusicModelConfig()
  data: MusicDataConfig = MusicDataConfig()
  loss: MusicLossConfig = MusicLossConfig()
  # The reference: Adam, lr (1e-3 - 1e-5) * 0.9999^step + 1e-5, global-norm clip 1.0, skip steps with norm >= 1e4.
  optim: OptimConfig = OptimConfig(
      name="adam", learning_rate=1e-3, schedule="exponential", decay_rate=0.9999, min_learning_rate=1e-5,
      clip_global_norm=1.0, zero_grads_above_norm=10_000.0,
  )
  train: TrainConfig = TrainConfig(steps=50_000, batch_size=512, log_every=100, eval_every=5_000, checkpoint_every=1_000)
  eval: MusicEvalConfig = MusicEvalConfig()


def _config(
    depths, bars, decoder, z, enc, dec, free_bits, max_beta, beta_rate, schedule, rate, batch, *,
    encoding, drum_roll=False, transpose=0, steps=50_000,
) -> MusicVAEConfig:
  base = MusicVAEConfig()
  return dataclasses.replace(
      base,
      model=MusicModelConfig(
          track_depths=depths, num_steps=16 * bars, decoder=decoder, z_size=z, enc_rnn_sizes=enc,
          dec_rnn_sizes=dec, drum_roll_input=drum_roll,
      ),
      data=MusicDataConfig(encoding=encoding, num_bars=bars, transpose_range=transpose),
      loss=MusicLossConfig(free_bits, max_beta, beta_rate, schedule, rate),
      train=dataclasses.replace(base.train, batch_size=batch, steps=steps),
  )


def inverse_sigmoid_rate_for_midpoint(midpoint: float) -> float:
  """k with k * ln k = midpoint: the inverse-sigmoid schedule 1 - k / (k + exp(step / k)) is 1/2 there."""
  k = max(midpoint / max(math.log(max(midpoint, math.e)), 1.0), 1.0 + 1e-6)
  for _ in range(50):  # Newton on k ln k - midpoint
    k = max(k - (k * math.log(k) - midpoint) / (math.log(k) + 1.0), 1.0 + 1e-6)
  return k


def compress_schedules(config: MusicVAEConfig, steps: int) -> MusicVAEConfig:
  """The reference's schedules, set for REFERENCE_STEPS (200k), fitted to a run of `steps` steps.

  - KL weight: beta_rate ** (200k / steps), so beta ends at the share of max_beta the reference reaches at
    200k steps (1 - e^-2 = 86% for 0.99999). beta_rate 0 (constant beta) is unchanged.
  - Scheduled sampling: the inverse-sigmoid midpoint k ln k (6,908 steps for k = 1000, 3.5% of 200k) moves
    to the same share of the run. Teacher forcing is unchanged.
  - Learning rate: decay_rate chosen so that (lr - min_lr) * decay_rate**steps = min_lr, i.e. the rate meets
    its floor at the last step. The reference meets it at step 45,950 (23% of 200k) and trains on at 1e-5;
    compressed 100-fold, a 2,000-step run would spend 1,540 steps at 1e-5 and learn little.
  """
  factor = REFERENCE_STEPS / steps
  loss = config.loss
  if 0 < loss.beta_rate < 1:
    loss = dataclasses.replace(loss, beta_rate=loss.beta_rate**factor)
  if loss.sampling_schedule == "inverse_sigmoid":
    k = loss.sampling_rate
    loss = dataclasses.replace(loss, sampling_rate=inverse_sigmoid_rate_for_midpoint(k * math.log(k) / factor))
  optim = config.optim
  if optim.schedule == "exponential":
    floor = optim.min_learning_rate / (optim.learning_rate - optim.min_learning_rate)
    optim = dataclasses.replace(optim, decay_rate=floor ** (1.0 / steps))
  return dataclasses.replace(config, loss=loss, optim=optim)


def _small(config: MusicVAEConfig, steps: int, batch: int, enc, dec, z, free_bits=None) -> MusicVAEConfig:
  """A CPU-sized variant of a reference preset: same structure and loss, smaller LSTMs, and the reference's
  schedules compressed to `steps` (compress_schedules: beta and scheduled sampling by 200k / steps, the
  learning rate so that it meets its floor at the last step)."""
  loss = config.loss if free_bits is None else dataclasses.replace(config.loss, free_bits=free_bits)
  small = dataclasses.replace(
      config,
      model=dataclasses.replace(config.model, enc_rnn_sizes=enc, dec_rnn_sizes=dec, z_size=z),
      loss=loss,
      train=TrainConfig(steps=steps, batch_size=batch, log_every=50, eval_every=0, checkpoint_every=500),
      eval=MusicEvalConfig(batch_size=128, max_examples=1024),
  )
  return compress_schedules(small, steps)


REFERENCE = {
    "cat-mel_2bar_small": lambda: _config(MELODY, 2, "flat", 256, (512,), (256, 256), 0, 0.2, 0.99999,
                                          "inverse_sigmoid", 1000, 512, encoding="melody", transpose=5),
    "cat-mel_2bar_big": lambda: _config(MELODY, 2, "flat", 512, (2048,), (2048, 2048, 2048), 0, 0.5, 0.99999,
                                        "inverse_sigmoid", 1000, 512, encoding="melody", transpose=5),
    "cat-drums_2bar_small": lambda: _config(DRUMS, 2, "flat", 256, (512,), (256, 256), 48, 0.2, 0.0,
                                            "inverse_sigmoid", 1000, 512, encoding="drums", drum_roll=True),
    "hierdec-mel_16bar": lambda: _config(MELODY, 16, "hierarchical", 512, (2048, 2048), (1024, 1024), 256, 0.2, 0.0,
                                         "teacher_forcing", 0, 512, encoding="melody"),
    "flat-mel_16bar": lambda: _config(MELODY, 16, "flat", 512, (2048, 2048), (2048, 2048, 2048), 256, 0.2, 0.0,
                                      "teacher_forcing", 0, 512, encoding="melody"),
    "hierdec-trio_16bar": lambda: _config(TRIO, 16, "hierarchical", 512, (2048, 2048), (1024, 1024), 256, 0.2, 0.0,
                                          "teacher_forcing", 0, 256, encoding="trio"),
    "flat-trio_16bar": lambda: _config(TRIO, 16, "flat", 512, (2048, 2048), (2048, 2048, 2048), 0, 1.0, 0.0,
                                       "teacher_forcing", 0, 256, encoding="trio"),
}

SMALL = {
    # Hundreds of steps per minute on 2 CPU cores; what the notebook and `make demo-musicvae` use.
    "cat-mel_2bar_cpu": lambda: _small(REFERENCE["cat-mel_2bar_small"](), 2000, 64, (128,), (128, 128), 64),
    "cat-drums_2bar_cpu": lambda: _small(REFERENCE["cat-drums_2bar_small"](), 2000, 64, (128,), (128, 128), 64),
    # The Table 1 comparison at CPU scale: same encoder, z, free bits and data; flat vs conductor decoder.
    "hierdec-mel_16bar_cpu": lambda: _small(REFERENCE["hierdec-mel_16bar"](), 1500, 32, (128,), (128,), 128, 64),
    "flat-mel_16bar_cpu": lambda: _small(REFERENCE["flat-mel_16bar"](), 1500, 32, (128,), (128, 128), 128, 64),
    "hierdec-trio_16bar_cpu": lambda: _small(REFERENCE["hierdec-trio_16bar"](), 1500, 32, (128,), (128,), 128, 64),
    "flat-trio_16bar_cpu": lambda: _small(REFERENCE["flat-trio_16bar"](), 1500, 32, (128,), (128, 128), 128, 0),
    # Seconds-long runs for tests.
    "smoke-mel_2bar": lambda: dataclasses.replace(
        _small(REFERENCE["cat-mel_2bar_small"](), 20, 16, (32,), (32,), 8),
        data=dataclasses.replace(REFERENCE["cat-mel_2bar_small"]().data, max_pieces=40),
        train=TrainConfig(steps=20, batch_size=16, log_every=10, eval_every=0, checkpoint_every=10),
        eval=MusicEvalConfig(batch_size=32, max_examples=64),
    ),
}

PRESETS = {**REFERENCE, **SMALL}
