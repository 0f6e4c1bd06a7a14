"""MusicVAE's whole config tree, and its presets: the Magenta reference sizes by name, plus small ones
that train on 2 CPU cores (one function a preset).

Each preset's docstring gives the command that runs it and the figure it is expected to give: measured
here (README's Table 1), or the paper's (Roberts et al. 2018, Table 1) where marked.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Literal

from trajvae.music.schedules import compress_schedules, scale_sampling_to_examples
from trajvae.train.configs import OptimConfig, TrainConfig

MELODY, DRUMS, TRIO = (90,), (512,), (90, 90, 512)


@dataclasses.dataclass(frozen=True)
class MusicModelConfig:
  # Vocabulary size of each track: (90,) melody, (512,) drums, (90, 90, 512) trio.
  track_depths: tuple[int, ...] = (90,)
  num_steps: int = 32
  steps_per_bar: int = 16
  decoder: Literal["flat", "hierarchical"] = "flat"
  z_size: int = 256
  enc_rnn_sizes: tuple[int, ...] = (512,)
  dec_rnn_sizes: tuple[int, ...] = (256, 256)
  # Feed 512-way drum tokens to the encoder as the 10-d roll (9 class bits + silence), as the reference's roll_input.
  drum_roll_input: bool = False
  # How the recurrent core runs (trajvae.core.recurrent.ScanOptions); none changes the model's function.
  scan_unroll: int = 1
  compute_dtype: Literal["float32", "bfloat16"] = "float32"
  remat: bool = False
  # Recurrences over known inputs: auto (cuDNN's LSTM on CUDA with float32 compute, the scan elsewhere), scan, cudnn.
  rnn_backend: Literal["auto", "scan", "cudnn"] = "auto"

  @property
  def num_bars(self) -> int:
    return self.num_steps // self.steps_per_bar

  @property
  def scan_options(self) -> ScanOptions:  # noqa: F821 (imported here: configs stay free of JAX)
    from trajvae.core.recurrent import ScanOptions

    return ScanOptions(self.scan_unroll, self.compute_dtype, self.remat, self.rnn_backend)


@dataclasses.dataclass(frozen=True)
class MusicLossConfig:
  free_bits: float = 0.0
  max_beta: float = 1.0
  beta_rate: float = 0.0
  # teacher_forcing (p = 0), inverse_sigmoid (rate = k), or constant (rate = p).
  sampling_schedule: Literal["teacher_forcing", "inverse_sigmoid", "constant"] = "teacher_forcing"
  sampling_rate: float = 0.0


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
    name="adam",
    learning_rate=1e-3,
    schedule="exponential",
    decay_rate=0.9999,
    min_learning_rate=1e-5,
    clip_global_norm=1.0,
    zero_grads_above_norm=10_000.0,
  )
  train: TrainConfig = TrainConfig(
    steps=50_000, batch_size=512, log_every=100, eval_every=5_000, checkpoint_every=1_000
  )
  eval: MusicEvalConfig = MusicEvalConfig()
  # The run length the KL-weight schedule is fitted to (compress_schedules); 0: the reference's own
  # schedule. When train.steps is set to another length, fit_schedules re-times it to it.
  schedule_steps: int = 0


def reference_config(
  *,
  encoding: Literal["melody", "drums", "trio"],
  num_bars: int,
  decoder: Literal["flat", "hierarchical"],
  z_size: int,
  enc_rnn_sizes: tuple[int, ...],
  dec_rnn_sizes: tuple[int, ...],
  loss: MusicLossConfig,
  batch_size: int,
  drum_roll_input: bool = False,
  transpose_range: int = 0,
) -> MusicVAEConfig:
  """A Magenta reference config (configs.py of music_vae) at its exact sizes."""
  base = MusicVAEConfig()
  return dataclasses.replace(
    base,
    model=MusicModelConfig(
      track_depths={"melody": MELODY, "drums": DRUMS, "trio": TRIO}[encoding],
      num_steps=16 * num_bars,
      decoder=decoder,
      z_size=z_size,
      enc_rnn_sizes=enc_rnn_sizes,
      dec_rnn_sizes=dec_rnn_sizes,
      drum_roll_input=drum_roll_input,
    ),
    data=MusicDataConfig(encoding=encoding, num_bars=num_bars, transpose_range=transpose_range),
    loss=loss,
    train=dataclasses.replace(base.train, batch_size=batch_size),
  )


def cpu_config(
  reference: MusicVAEConfig,
  *,
  steps: int,
  batch_size: int,
  enc_rnn_sizes: tuple[int, ...],
  dec_rnn_sizes: tuple[int, ...],
  z_size: int,
  free_bits: float | None = None,
) -> MusicVAEConfig:
  """A CPU-sized variant of a reference config: same structure and loss, smaller LSTMs, and the reference's
  KL-weight schedule fitted to `steps` (compress_schedules: beta by 200k / steps), scheduled sampling moved
  to the same number of examples (scale_sampling_to_examples) and the reference's learning-rate decay."""
  loss = reference.loss if free_bits is None else dataclasses.replace(reference.loss, free_bits=free_bits)
  small = dataclasses.replace(
    reference,
    model=dataclasses.replace(reference.model, enc_rnn_sizes=enc_rnn_sizes, dec_rnn_sizes=dec_rnn_sizes, z_size=z_size),
    loss=loss,
    train=TrainConfig(steps=steps, batch_size=batch_size, log_every=50, eval_every=0, checkpoint_every=500),
    eval=MusicEvalConfig(batch_size=128, max_examples=1024),
  )
  return scale_sampling_to_examples(compress_schedules(small, steps), reference.train.batch_size)


# The reference's losses: 2-bar models anneal beta and sample their own inputs on an inverse-sigmoid
# schedule; 16-bar models use free bits and teacher forcing.
def _two_bar_loss(*, free_bits: float, max_beta: float, beta_rate: float) -> MusicLossConfig:
  return MusicLossConfig(
    free_bits=free_bits, max_beta=max_beta, beta_rate=beta_rate, sampling_schedule="inverse_sigmoid", sampling_rate=1000
  )


def _sixteen_bar_loss(*, free_bits: float, max_beta: float) -> MusicLossConfig:
  return MusicLossConfig(free_bits=free_bits, max_beta=max_beta, sampling_schedule="teacher_forcing")


def _reference_16bar(
  encoding: str, decoder: str, *, batch_size: int, free_bits: float = 256, max_beta: float = 0.2
) -> MusicVAEConfig:
  """The reference's 16-bar shapes: z = 512, a 2 x 2048 BiLSTM encoder, and 2 x 1024 conductor-fed
  (hierarchical) or 3 x 2048 (flat) decoder layers."""
  return reference_config(
    encoding=encoding,
    num_bars=16,
    decoder=decoder,
    z_size=512,
    enc_rnn_sizes=(2048, 2048),
    dec_rnn_sizes=(1024, 1024) if decoder == "hierarchical" else (2048, 2048, 2048),
    loss=_sixteen_bar_loss(free_bits=free_bits, max_beta=max_beta),
    batch_size=batch_size,
  )


def cat_mel_2bar_small() -> MusicVAEConfig:
  """The reference's small 2-bar melody model (flat decoder, z = 256); sized for an accelerator.

  Run: `make train-musicvae CONFIG=cat-mel_2bar_small`. Expected: not measured here. The paper's
  Table 1 gives 0.986 teacher-forced / 0.951 sampled accuracy for 2-bar melodies (the paper's figure,
  on its data).
  """
  return reference_config(
    encoding="melody",
    num_bars=2,
    decoder="flat",
    z_size=256,
    enc_rnn_sizes=(512,),
    dec_rnn_sizes=(256, 256),
    loss=_two_bar_loss(free_bits=0, max_beta=0.2, beta_rate=0.99999),
    batch_size=512,
    transpose_range=5,
  )


def cat_mel_2bar_big() -> MusicVAEConfig:
  """The reference's big 2-bar melody model (flat decoder, z = 512); sized for an accelerator.

  Run: `make train-musicvae CONFIG=cat-mel_2bar_big`. Expected: not measured here. The paper's Table 1
  gives 0.986 teacher-forced / 0.951 sampled accuracy for 2-bar melodies (the paper's figure).
  """
  return reference_config(
    encoding="melody",
    num_bars=2,
    decoder="flat",
    z_size=512,
    enc_rnn_sizes=(2048,),
    dec_rnn_sizes=(2048, 2048, 2048),
    loss=_two_bar_loss(free_bits=0, max_beta=0.5, beta_rate=0.99999),
    batch_size=512,
    transpose_range=5,
  )


def cat_drums_2bar_small() -> MusicVAEConfig:
  """The reference's small 2-bar drum model (roll input, 512-way tokens); sized for an accelerator.

  Run: `make train-musicvae CONFIG=cat-drums_2bar_small SET="data.source=/path/to/drum/midi"`.
  Expected: not measured here (no drum data ships offline); the paper's Table 1 has a 2-bar drum row.
  """
  return reference_config(
    encoding="drums",
    num_bars=2,
    decoder="flat",
    z_size=256,
    enc_rnn_sizes=(512,),
    dec_rnn_sizes=(256, 256),
    loss=_two_bar_loss(free_bits=48, max_beta=0.2, beta_rate=0.0),
    batch_size=512,
    drum_roll_input=True,
  )


def hierdec_mel_16bar() -> MusicVAEConfig:
  """The reference's 16-bar melody model with the hierarchical (conductor) decoder; for an accelerator.

  Run: `make train-musicvae CONFIG=hierdec-mel_16bar`. Expected: not measured here. The paper's Table 1:
  0.919 teacher-forced / 0.812 sampled accuracy (the paper's figures).
  """
  return _reference_16bar("melody", "hierarchical", batch_size=512)


def flat_mel_16bar() -> MusicVAEConfig:
  """The reference's 16-bar melody model with a flat decoder; for an accelerator.

  Run: `make train-musicvae CONFIG=flat-mel_16bar`. Expected: not measured here. The paper's Table 1:
  0.883 teacher-forced / 0.620 sampled accuracy (the paper's figures).
  """
  return _reference_16bar("melody", "flat", batch_size=512)


def hierdec_trio_16bar() -> MusicVAEConfig:
  """The reference's 16-bar trio model (melody, bass, drums) with one conductor-fed decoder per track.

  Run: `make train-musicvae CONFIG=hierdec-trio_16bar SET="data.source=/path/to/midi"`. Expected: not
  measured here (no trio data ships offline); the paper's Table 1 has a 16-bar trio row.
  """
  return _reference_16bar("trio", "hierarchical", batch_size=256)


def flat_trio_16bar() -> MusicVAEConfig:
  """The reference's 16-bar trio model with a flat decoder (logits split by track).

  Run: `make train-musicvae CONFIG=flat-trio_16bar SET="data.source=/path/to/midi"`. Expected: not
  measured here (no trio data ships offline); the paper's Table 1 has a 16-bar trio row.
  """
  return _reference_16bar("trio", "flat", batch_size=256, free_bits=0, max_beta=1.0)


def cat_mel_2bar_cpu() -> MusicVAEConfig:
  """cat-mel_2bar_small at CPU size (128-unit LSTMs, z = 64, 2,000 steps of batch 64): a few minutes on 2 cores.

  Run: `make demo-musicvae`, or `make train-musicvae CONFIG=cat-mel_2bar_cpu` then
  `make eval-musicvae CONFIG=cat-mel_2bar_cpu`. Expected (docs/music_data.md, the demo): KL 15.8 bits,
  0.734 teacher-forced / 0.714 sampled accuracy on the offline corpus's held-out 2-bar windows (always-hold
  0.692); with `--set train.steps=8000` (README Table 1): KL 43.6 bits, 0.872 / 0.779.
  """
  return cpu_config(
    cat_mel_2bar_small(), steps=2000, batch_size=64, enc_rnn_sizes=(128,), dec_rnn_sizes=(128, 128), z_size=64
  )


def cat_drums_2bar_cpu() -> MusicVAEConfig:
  """cat-drums_2bar_small at CPU size (128-unit LSTMs, z = 64, 2,000 steps of batch 64).

  Run: `trajvae train musicvae --preset cat-drums_2bar_cpu --workdir runs/drums
  --set data.source=/path/to/drum/midi`. Expected: not measured here (no drum data ships offline).
  """
  return cpu_config(
    cat_drums_2bar_small(), steps=2000, batch_size=64, enc_rnn_sizes=(128,), dec_rnn_sizes=(128, 128), z_size=64
  )


def hierdec_mel_16bar_cpu() -> MusicVAEConfig:
  """The Table 1 comparison at CPU scale, hierarchical side: same encoder, z, free bits and data as
  flat-mel_16bar_cpu; 128-unit LSTMs, z = 128, free bits 64, batch 32.

  Run: `make experiment-musicvae` (experiments/musicvae_table1.py with `--steps 2000`). Expected (README,
  Table 1): 0.746 teacher-forced / 0.711 sampled accuracy at 2,000 steps (always-hold 0.718).
  """
  return cpu_config(
    hierdec_mel_16bar(), steps=1500, batch_size=32, enc_rnn_sizes=(128,), dec_rnn_sizes=(128,), z_size=128, free_bits=64
  )


def flat_mel_16bar_cpu() -> MusicVAEConfig:
  """The Table 1 comparison at CPU scale, flat side (see hierdec-mel_16bar_cpu).

  Run: `make experiment-musicvae` (`--steps 2000`). Expected (README, Table 1): 0.755 teacher-forced / 0.713
  sampled accuracy at 2,000 steps (always-hold 0.718).
  """
  return cpu_config(
    flat_mel_16bar(),
    steps=1500,
    batch_size=32,
    enc_rnn_sizes=(128,),
    dec_rnn_sizes=(128, 128),
    z_size=128,
    free_bits=64,
  )


def hierdec_trio_16bar_cpu() -> MusicVAEConfig:
  """hierdec-trio_16bar at CPU size (128-unit LSTMs, z = 128, free bits 64, batch 32).

  Run: `make train-musicvae CONFIG=hierdec-trio_16bar_cpu SET="data.source=/path/to/midi"`.
  Expected: not measured here (no trio data ships offline).
  """
  return cpu_config(
    hierdec_trio_16bar(),
    steps=1500,
    batch_size=32,
    enc_rnn_sizes=(128,),
    dec_rnn_sizes=(128,),
    z_size=128,
    free_bits=64,
  )


def flat_trio_16bar_cpu() -> MusicVAEConfig:
  """flat-trio_16bar at CPU size (128-unit LSTMs, z = 128, no free bits, batch 32).

  Run: `make train-musicvae CONFIG=flat-trio_16bar_cpu SET="data.source=/path/to/midi"`.
  Expected: not measured here (no trio data ships offline).
  """
  return cpu_config(
    flat_trio_16bar(),
    steps=1500,
    batch_size=32,
    enc_rnn_sizes=(128,),
    dec_rnn_sizes=(128, 128),
    z_size=128,
    free_bits=0,
  )


def study_16bar_cpu(
  decoder: Literal["flat", "hierarchical"],
  *,
  width: int = 64,
  steps: int = 1500,
  batch_size: int = 32,
  z_size: int = 128,
  free_bits: float = 64,
  max_beta: float = 0.2,
  transpose_range: int = 5,
) -> MusicVAEConfig:
  """The 16-bar study's CPU model (issue 25): the reference's shapes at reduced width.

  As hierdec-mel_16bar / flat-mel_16bar: a 2-layer bidirectional encoder of twice the hierarchical width
  (2048 = 2 x 1024 there), for both arms; hierarchical: 2-layer conductor and 2-layer bottom decoder of
  `width` (1024 there); flat: 3 layers of 2 x width (2048 there). The same z, free bits and beta for
  both. Unlike the reference's 16-bar configs, training windows are transposed by up to +-5 semitones
  (docs/music_data.md: ~3k windows here against ~1.5M files there); evaluation is untransposed.
  """
  reference = hierdec_mel_16bar() if decoder == "hierarchical" else flat_mel_16bar()
  dec = (width, width) if decoder == "hierarchical" else (2 * width,) * 3
  config = cpu_config(
    reference,
    steps=steps,
    batch_size=batch_size,
    enc_rnn_sizes=(2 * width, 2 * width),
    dec_rnn_sizes=dec,
    z_size=z_size,
    free_bits=free_bits,
  )
  return dataclasses.replace(
    config,
    loss=dataclasses.replace(config.loss, max_beta=max_beta),
    data=dataclasses.replace(config.data, transpose_range=transpose_range),
  )


def hierdec_mel_16bar_study() -> MusicVAEConfig:
  """The 16-bar study's hierarchical arm (study_16bar_cpu): conductor 2 x 64, bottom decoder 2 x 64.

  Run: `make experiment-musicvae-16bar` (experiments/music_16bar_study.py, 3 seeds per arm, which runs it at
  --width 32 --steps 1500 by default). Expected there (docs/music_16bar_study.md): latent use 9.1 +- 14.0 bits
  (flat 79.5 +- 19.7), sampled accuracy at always-hold (~0.72); not measured at this preset's own size.
  """
  return study_16bar_cpu("hierarchical")


def flat_mel_16bar_study() -> MusicVAEConfig:
  """The 16-bar study's flat arm (study_16bar_cpu): 3 x 128 decoder, the same encoder, z and free bits.

  Run: `make experiment-musicvae-16bar` (at --width 32 --steps 1500 by default). Expected there
  (docs/music_16bar_study.md): latent use 79.5 +- 19.7 bits (hierarchical 9.1 +- 14.0), sampled accuracy at
  always-hold (~0.72); not measured at this size.
  """
  return study_16bar_cpu("flat")


def smoke_mel_2bar() -> MusicVAEConfig:
  """Twenty steps of a tiny 2-bar melody model on 40 pieces: seconds, for tests.

  Run: `trajvae train musicvae --preset smoke-mel_2bar --workdir runs/smoke`. Expected: no figure; it
  checks that data, training, evaluation and sampling run.
  """
  reference = cat_mel_2bar_small()
  return dataclasses.replace(
    cpu_config(reference, steps=20, batch_size=16, enc_rnn_sizes=(32,), dec_rnn_sizes=(32,), z_size=8),
    data=dataclasses.replace(reference.data, max_pieces=40),
    train=TrainConfig(steps=20, batch_size=16, log_every=10, eval_every=0, checkpoint_every=10),
    eval=MusicEvalConfig(batch_size=32, max_examples=64),
  )


PRESETS: dict[str, Callable[[], MusicVAEConfig]] = {
  "cat-mel_2bar_small": cat_mel_2bar_small,
  "cat-mel_2bar_big": cat_mel_2bar_big,
  "cat-drums_2bar_small": cat_drums_2bar_small,
  "hierdec-mel_16bar": hierdec_mel_16bar,
  "flat-mel_16bar": flat_mel_16bar,
  "hierdec-trio_16bar": hierdec_trio_16bar,
  "flat-trio_16bar": flat_trio_16bar,
  "cat-mel_2bar_cpu": cat_mel_2bar_cpu,
  "cat-drums_2bar_cpu": cat_drums_2bar_cpu,
  "hierdec-mel_16bar_cpu": hierdec_mel_16bar_cpu,
  "flat-mel_16bar_cpu": flat_mel_16bar_cpu,
  "hierdec-trio_16bar_cpu": hierdec_trio_16bar_cpu,
  "flat-trio_16bar_cpu": flat_trio_16bar_cpu,
  "hierdec-mel_16bar_study": hierdec_mel_16bar_study,
  "flat-mel_16bar_study": flat_mel_16bar_study,
  "smoke-mel_2bar": smoke_mel_2bar,
}
DEFAULT_PRESET = "cat-mel_2bar_cpu"
