"""The structured-prediction study's whole config tree: problems, learners, the study, and its presets.

Each preset's docstring gives the command that runs it and the figures it is expected to give (measured
here, docs/structured.md).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Literal

# classic: CCCP latent structural SVM with the problem's structured exact inference;
# randomized: Bello & Honorio; direct: the randomized learner's solver on the full loss (control);
# exhaustive: classic with inference by enumerating Y x H (synthetic only; the alignment
# problem's inference already enumerates Y, so there it would repeat "classic").
METHODS = ("classic", "randomized", "direct", "exhaustive")


@dataclasses.dataclass(frozen=True)
class LearnerConfig:
  # l2 weight: the objective is lam/2 ||w||^2 + mean loss.
  lam: float = 1e-3
  # Passes over the training set in all (the classic learner splits them over its outer iterations).
  epochs: int = 40
  batch_size: int = 10
  # Pegasos steps 1/(lam (t + step_offset)): an offset damps the first, largest steps.
  step_offset: int = 100
  # Classic: CCCP outer iterations (impute latents, then epochs // outer_iterations passes).
  outer_iterations: int = 4
  # Both learners start from w0 ~ N(0, init_scale^2 I), the same draw: at w = 0 every (y, h) ties,
  # and a deterministic tie-break would bias every example towards the same first pair.
  init_scale: float = 1e-3
  # Classic: "slack" (same loss as the randomized learner) or "margin" (Yu & Joachims' form).
  rescaling: Literal["slack", "margin"] = "slack"
  # Randomized: pairs per example; None means ceil(samples_per_log_n * log n).
  num_samples: int | None = None
  samples_per_log_n: float = 2.0
  # Randomized: draw fresh pairs at every epoch, i.e. every visit of an example (True), or one fixed set per example.
  resample: bool = True
  seed: int = 0

  def __post_init__(self):
    if self.lam <= 0:
      raise ValueError(f"lam must be > 0, got {self.lam}")
    if self.epochs < 1 or self.batch_size < 1 or self.outer_iterations < 1:
      raise ValueError(
        f"epochs, batch_size and outer_iterations must be >= 1, got {self.epochs}, {self.batch_size}, {self.outer_iterations}"
      )
    if self.outer_iterations > self.epochs:
      raise ValueError(f"outer_iterations ({self.outer_iterations}) cannot exceed epochs ({self.epochs})")
    if self.num_samples is not None and self.num_samples < 1:
      raise ValueError(
        f"empty proposal: num_samples={self.num_samples}; the randomized loss needs at least one sampled (y, h) pair"
      )
    if self.samples_per_log_n <= 0:
      raise ValueError(f"empty proposal: samples_per_log_n must be > 0, got {self.samples_per_log_n}")


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
  num_bits: int = 6
  view_dim: int = 10
  label_noise: float = 0.05
  salience: float = 3.0


@dataclasses.dataclass(frozen=True)
class AlignmentConfig:
  noise: float = 0.1
  # Unmodelled nuisance: each digit is also turned by up to this many degrees.
  max_rotation_deg: float = 10.0


@dataclasses.dataclass(frozen=True)
class StructuredStudyConfig:
  problems: tuple[str, ...] = ("synthetic", "alignment")
  synthetic_latents: tuple[int, ...] = (4, 16, 64, 256, 1024)
  # Alignment |H| = (canvas - 7)^2, so these must be squares.
  alignment_latents: tuple[int, ...] = (9, 25, 81, 225)
  train_sizes: tuple[int, ...] = (200, 800)
  test_size: int = 500
  seeds: tuple[int, ...] = (0, 1, 2)
  methods: tuple[str, ...] = ("classic", "randomized", "direct", "exhaustive")
  gibbs_draws: int = 20
  # sigma of the Gibbs decoder; <= 0 means the PAC-Bayes choice `pac_bayes_sigma` for each fitted w.
  gibbs_sigma: float = 0.0
  learner: LearnerConfig = LearnerConfig()
  synthetic: SyntheticConfig = SyntheticConfig()
  alignment: AlignmentConfig = AlignmentConfig()

  def __post_init__(self):
    for method in self.methods:
      if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    for kind in self.problems:
      if kind not in ("synthetic", "alignment"):
        raise ValueError(f"unknown problem {kind!r}; expected 'synthetic' or 'alignment'")


def default() -> StructuredStudyConfig:
  """Both problems, |H| in {4, ..., 1024} (synthetic) and {9, ..., 225} (alignment), n in {200, 800},
  3 seeds, all four methods, 40 epochs, lam = 1e-3, Gibbs decoder with 20 draws at the PAC-Bayes sigma.

  Run: `make experiment-structured` (experiments/structured_compare.py; about 10 min on 2 CPU cores).
  Expected (docs/structured.md): at |H| = 1024, n = 800 (synthetic), test distortion 0.329 ± 0.065
  (classic) vs 0.259 ± 0.097 (randomized), the randomized learner 5.8x faster; at |H| = 225, n = 800
  (alignment), 0.331 ± 0.019 vs 0.244 ± 0.043, 3.4x faster. Not the paper's >10x speed-up.
  """
  return StructuredStudyConfig()


def small() -> StructuredStudyConfig:
  """Two small |H| per problem, one seed, classic vs randomized, 8 epochs: seconds, for CI and the notebook.

  Run: `python experiments/structured_compare.py --out /tmp/s --small` (about 40 s). Expected: no figure;
  it checks that every step of the study runs.
  """
  return StructuredStudyConfig(
    synthetic_latents=(4, 16),
    alignment_latents=(4, 16),
    train_sizes=(60,),
    test_size=60,
    seeds=(0,),
    methods=("classic", "randomized"),
    gibbs_draws=4,
    learner=LearnerConfig(epochs=8, outer_iterations=2),
  )


PRESETS: dict[str, Callable[[], StructuredStudyConfig]] = {"default": default, "small": small}
DEFAULT_PRESET = "default"
