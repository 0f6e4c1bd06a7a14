"""The VAE's whole config tree and its named presets (one function a preset).

Each preset's docstring gives the command that runs it and the figure it is
expected to give (measured here, or the paper's where marked).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Literal

from trajvae.train.configs import OptimConfig, TrainConfig


@dataclasses.dataclass(frozen=True)
class VAEModelConfig:
  input_dim: int = 64
  hidden_dim: int = 500
  latent_dim: int = 2
  likelihood: Literal["bernoulli", "gaussian"] = "bernoulli"
  init_std: float = 0.01


@dataclasses.dataclass(frozen=True)
class VAEDataConfig:
  # digits ships inside scikit-learn (1797 8x8 images, 17 grey levels); fashion_mnist reads the four
  # idx.gz files of Debian's dataset-fashion-mnist (or data_dir); mnist / binarized_mnist come from TFDS.
  name: Literal["digits", "fashion_mnist", "mnist", "binarized_mnist"] = "digits"
  binarize: bool = True
  # digits only: share of the data held out as the test split, drawn once with split_seed.
  test_fraction: float = 0.2
  split_seed: int = 0
  # TFDS data_dir; None uses TFDS's default (~/tensorflow_datasets).
  tfds_data_dir: str | None = None
  # fashion_mnist only: the folder of the idx.gz files (None: /usr/share/datasets/fashion-mnist).
  data_dir: str | None = None
  # fashion_mnist only: images of the train file held out (seeded by split_seed) as the validation split,
  # and how many of the rest to train on (None: all; the paper's Fig. 3 uses 1,000 and 50,000).
  validation_size: int = 5_000
  train_size: int | None = None
  # fashion_mnist, binarize=true: the seed of the stochastic binarisation, drawn once per image (x ~ Bernoulli(intensity)).
  binarize_seed: int = 0


@dataclasses.dataclass(frozen=True)
class VAELossConfig:
  # aevb: the paper's SGVB estimator B; wake_sleep: Hinton et al. 1995 with the same encoder and decoder
  # (the wake phase fits the decoder to encoder samples, the sleep phase the encoder to dreamed (x, z)).
  # mcem: Monte Carlo EM with HMC (trajvae.vae.mcem), decoder only.
  algorithm: Literal["aevb", "wake_sleep", "mcem"] = "aevb"
  beta: float = 1.0
  free_nats: float = 0.0


@dataclasses.dataclass(frozen=True)
class VAEMCEMConfig:
  """Monte Carlo EM (loss.algorithm=mcem): the paper's HMC with 10 leapfrog steps, step size tuned to 90%
  acceptance, then 5 decoder updates on the sample."""

  leapfrog_steps: int = 10
  hmc_transitions: int = 1
  target_acceptance: float = 0.9
  initial_step_size: float = 0.05
  # Robbins-Monro rate of log step size += rate * (acceptance - target), once a step.
  adapt_rate: float = 0.05
  m_steps: int = 5


@dataclasses.dataclass(frozen=True)
class VAEEvalConfig:
  # k for the headline importance-weighted log-likelihood (Burda et al. use 5000).
  iwae_samples: int = 5000
  iwae_chunk: int = 500
  # k for the cheaper estimate logged during training (0: ELBO only).
  train_iwae_samples: int = 100
  batch_size: int = 500
  seed: int = 1234


@dataclasses.dataclass(frozen=True)
class VAEConfig:
  model: VAEModelConfig = VAEModelConfig()
  data: VAEDataConfig = VAEDataConfig()
  optim: OptimConfig = OptimConfig(name="adagrad", learning_rate=0.02)
  train: TrainConfig = TrainConfig()
  loss: VAELossConfig = VAELossConfig()
  eval: VAEEvalConfig = VAEEvalConfig()
  mcem: VAEMCEMConfig = VAEMCEMConfig()


def digits_config(*, latent_dim: int, binarize: bool = True, steps: int = 20_000) -> VAEConfig:
  """The paper's MLP VAE sized for the 8x8 digits: 200 tanh units, Adagrad lr 0.02, minibatch 100."""
  return VAEConfig(
    model=VAEModelConfig(
      input_dim=64, hidden_dim=200, latent_dim=latent_dim, likelihood="bernoulli" if binarize else "gaussian"
    ),
    data=VAEDataConfig(name="digits", binarize=binarize),
    optim=OptimConfig(name="adagrad", learning_rate=0.02),
    train=TrainConfig(steps=steps, batch_size=100, log_every=500, eval_every=5_000, checkpoint_every=5_000),
  )


def mnist_config(*, latent_dim: int) -> VAEConfig:
  """The paper's MNIST model: 500 tanh units, Adagrad, minibatch 100 (TFDS downloads the data once)."""
  return VAEConfig(
    model=VAEModelConfig(input_dim=784, hidden_dim=500, latent_dim=latent_dim, likelihood="bernoulli"),
    data=VAEDataConfig(name="binarized_mnist"),
    optim=OptimConfig(name="adagrad", learning_rate=0.02),
    train=TrainConfig(steps=1_000_000, batch_size=100, log_every=1_000, eval_every=50_000, checkpoint_every=10_000),
  )


FASHION_TRAIN = 55_000  # the train file's 60,000 less the default 5,000 validation images


def fashion_mnist_config(
  *,
  latent_dim: int,
  hidden_dim: int = 500,
  algorithm: str = "aevb",
  learning_rate: float = 0.02,
  train_size: int | None = None,
  steps: int = 10_000,
) -> VAEConfig:
  """The paper's MNIST set-up on Fashion-MNIST: 784-hidden-latent tanh MLPs, Adagrad, minibatch 100, L = 1,
  N(0, 0.01^2) init, and the N(0, I) prior on the weights as weight decay 1/N per example-mean loss."""
  num_train = train_size or FASHION_TRAIN
  return VAEConfig(
    model=VAEModelConfig(input_dim=784, hidden_dim=hidden_dim, latent_dim=latent_dim, likelihood="bernoulli"),
    data=VAEDataConfig(name="fashion_mnist", train_size=train_size),
    optim=OptimConfig(name="adagrad", learning_rate=learning_rate, l2_regularization=1.0 / num_train),
    train=TrainConfig(steps=steps, batch_size=100, log_every=500, eval_every=0, checkpoint_every=1_000),
    loss=VAELossConfig(algorithm=algorithm),
    eval=VAEEvalConfig(train_iwae_samples=0),
  )


def fashion_mnist() -> VAEConfig:
  """AEVB on stochastically binarised Fashion-MNIST (Debian's dataset-fashion-mnist), N_z = 20, 500 hidden units.

  Run: `make train-vae CONFIG=fashion_mnist` (10^6 training samples). Expected: README's Fashion-MNIST
  section (`make experiment-vae-fig2`).
  """
  return fashion_mnist_config(latent_dim=20)


def fashion_mnist_wake_sleep() -> VAEConfig:
  """Wake-sleep with the same 784-500-20 encoder and decoder as `fashion_mnist`.

  Run: `make train-vae CONFIG=fashion_mnist-wake_sleep`. Expected: README's Fashion-MNIST section.
  """
  return fashion_mnist_config(latent_dim=20, algorithm="wake_sleep")


def digits_2d() -> VAEConfig:
  """2-D latent space on the offline digits: the manifold picture of the paper's Fig. 4.

  Run: `make demo` or `trajvae train vae --preset digits-2d --workdir runs/demo`.
  Expected (README, `make experiment-vae`, 3 seeds): test ELBO -20.51 ± 0.23 nats, IWAE (k=5000)
  log p(x) -20.05 ± 0.18 nats; about 40 s on 2 CPU cores.
  """
  return digits_config(latent_dim=2)


def digits() -> VAEConfig:
  """10-D latent space on the binarized digits.

  Run: `make train-vae CONFIG=digits` or `trajvae train vae --preset digits --workdir runs/digits`.
  Expected (README, 3 seeds): test ELBO -18.02 ± 0.10 nats, IWAE (k=5000) log p(x) -17.43 ± 0.03 nats.
  """
  return digits_config(latent_dim=10)


def digits_gaussian() -> VAEConfig:
  """10-D latent space, Gaussian decoder on the 17 grey levels (dequantised).

  Run: `make train-vae CONFIG=digits-gaussian`.
  Expected (README, 3 seeds): test ELBO 71.21 ± 0.91, IWAE (k=5000) 74.30 ± 0.99 nats of log-density;
  as a bound on the discrete images' log-probability (`iwae_discrete_bound`) -107.02 nats.
  """
  return digits_config(latent_dim=10, binarize=False)


def binarized_mnist() -> VAEConfig:
  """The paper's binarized MNIST model with a 20-D latent space; needs a TFDS download.

  Run: `make train-vae CONFIG=binarized_mnist` then `make eval-vae CONFIG=binarized_mnist`.
  Expected: not measured here (no download on the machines used). The paper gives its MNIST bound only
  as a curve (its Fig. 2); the literature figure the README compares with is Burda et al. 2016's
  IWAE (k=5000) of about -86.8 nats for a one-stochastic-layer VAE (their figure, another architecture).
  """
  return mnist_config(latent_dim=20)


def binarized_mnist_2d() -> VAEConfig:
  """The paper's binarized MNIST model with a 2-D latent space (its Fig. 4 manifold); needs a TFDS download.

  Run: `make train-vae CONFIG=binarized_mnist-2d`. Expected: not measured here.
  """
  return mnist_config(latent_dim=2)


def smoke() -> VAEConfig:
  """A few hundred steps of a small model, for tests and the notebook's small setting.

  Run: `trajvae train vae --preset smoke --workdir runs/smoke` (seconds). Expected: no figure; it checks
  that training, evaluation and pictures run.
  """
  return dataclasses.replace(
    digits_config(latent_dim=2, steps=300),
    model=VAEModelConfig(input_dim=64, hidden_dim=64, latent_dim=2),
    train=TrainConfig(steps=300, batch_size=100, log_every=100, eval_every=0, checkpoint_every=100),
    eval=VAEEvalConfig(iwae_samples=200, iwae_chunk=100, train_iwae_samples=0),
  )


PRESETS: dict[str, Callable[[], VAEConfig]] = {
  "digits-2d": digits_2d,
  "digits": digits,
  "digits-gaussian": digits_gaussian,
  "binarized_mnist": binarized_mnist,
  "binarized_mnist-2d": binarized_mnist_2d,
  "smoke": smoke,
  "fashion_mnist": fashion_mnist,
  "fashion_mnist-wake_sleep": fashion_mnist_wake_sleep,
}
DEFAULT_PRESET = "digits-2d"
