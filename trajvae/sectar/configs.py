"""Typed SeCTAR configs: the authors' hyperparameters per env (`waypoint`, `block`, `wheeled`, `swimmer`) and CPU-sized presets.

Authors' values (exps/*/ in wyndwarrior/Sectar, see shared/research/sectar.md):
T = 19, z in R^8, MPC K = 2048 sequences of H = 10 latents (discount 0.99;
block 0.995), episodes of 20 (waypoint) / 50 (block) latents, mpc_batch 40;
400 explorer rollouts (from 400 of the 800 MPC replan states) of 5 (waypoint) /
10 (block) segments, explorer PPO minibatches of 200 x 10 epochs, reset entropy
1.34 / 1.6; buffer FIFO (waypoint 36k, 1e6 otherwise); fit = 10 x {one pass over
the buffer in VAE minibatches of 300, at most 30 (Adam 1e-3, beta 2, BC weight
100), 1 PD PPO update of 20 rollouts}.
Physics envs (exps/wheeled/explore_exp.py, exps/swimmer/swimmer_explore.py):
Gaussian PD; wheeled T = 19, H = 20, K = 2048, 50 latents, mpc_batch 40, 400
explorer rollouts of 10 segments (explorer std init 20); swimmer T = 99, H = 30,
K = 4000, 50 latents, mpc_batch 20, 200 explorer rollouts of 2 segments
(explorer std init 1); both reset_ent 0, explorer entropy bonus 1e-3, buffer 1e6.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from trajvae.sectar.explore import ExploreConfig
from trajvae.sectar.model import ModelConfig


@dataclasses.dataclass(frozen=True)
class EnvConfig:
  name: Literal["waypoint", "block", "wheeled", "swimmer"] = "waypoint"
  task: int = 0  # which of the 5 task configs the MPC episodes solve
  continuous: bool = False  # wheeled/swimmer: must be True (continuous-only)


@dataclasses.dataclass(frozen=True)
class MPCConfig:
  num_episodes: int = 40  # the authors' mpc_batch
  num_latents: int = 20  # latents per episode (episode = num_latents * T steps)
  num_sequences: int = 2048  # K
  horizon: int = 10  # H
  discount: float = 0.99
  method: Literal["random", "cem"] = "random"


@dataclasses.dataclass(frozen=True)
class FitConfig:
  rounds: int = 10  # the fit's outer repeats of {one pass over the buffer (<= vae_steps minibatches), 1 PD PPO}
  vae_steps: int = 30  # cap on the VAE minibatches of one pass
  batch_size: int = 300
  learning_rate: float = 1e-3
  beta: float = 2.0
  bc_weight: float = 100.0
  pd_num_envs: int = 20
  pd_epochs: int = 10
  pd_minibatches: int = 2
  pd_learning_rate: float = 3e-4
  pd_entropy_coef: float = 0.0


@dataclasses.dataclass(frozen=True)
class LoopConfig:
  iterations: int = 1000
  seed: int = 0
  buffer_capacity: int = 36_000
  checkpoint_every: int = 10
  keep_checkpoints: int = 2


@dataclasses.dataclass(frozen=True)
class EvalConfig:
  tasks: tuple[int, ...] = (0, 1, 2, 3, 4)  # task configs evaluated by experiment.evaluate
  num_episodes: int = 10  # fresh MPC episodes per task
  seed: int = 1234


@dataclasses.dataclass(frozen=True)
class SectarConfig:
  env: EnvConfig = EnvConfig()
  segment_len: int = 19  # T
  model: ModelConfig = ModelConfig()
  mpc: MPCConfig = MPCConfig()
  explore: ExploreConfig = ExploreConfig()
  fit: FitConfig = FitConfig()
  train: LoopConfig = LoopConfig()
  eval: EvalConfig = EvalConfig()


def waypoint() -> SectarConfig:
  return SectarConfig(
      env=EnvConfig("waypoint"),
      model=ModelConfig(obs_dim=2, action_dim=4, discrete=True),
      mpc=MPCConfig(num_latents=20, discount=0.99),
      explore=ExploreConfig(num_segments=5, reset_entropy=1.34),
      train=LoopConfig(buffer_capacity=36_000),
  )


def block() -> SectarConfig:
  return SectarConfig(
      env=EnvConfig("block"),
      model=ModelConfig(obs_dim=15, action_dim=6, discrete=True),
      mpc=MPCConfig(num_latents=50, discount=0.995),
      explore=ExploreConfig(num_segments=10, reset_entropy=1.6),
      train=LoopConfig(buffer_capacity=1_000_000),
  )


def wheeled() -> SectarConfig:
  return SectarConfig(
      env=EnvConfig("wheeled", continuous=True),
      model=ModelConfig(obs_dim=9, action_dim=2, discrete=False),
      mpc=MPCConfig(num_episodes=40, num_latents=50, num_sequences=2048, horizon=20, discount=0.99),
      explore=ExploreConfig(num_starts=400, num_segments=10, reset_entropy=0.0, init_std=20.0, entropy_coef=1e-3),
      train=LoopConfig(buffer_capacity=1_000_000),
  )


def swimmer() -> SectarConfig:
  return SectarConfig(
      env=EnvConfig("swimmer", continuous=True),
      segment_len=99,
      model=ModelConfig(obs_dim=8, action_dim=2, discrete=False),
      mpc=MPCConfig(num_episodes=20, num_latents=50, num_sequences=4000, horizon=30, discount=0.99),
      explore=ExploreConfig(num_starts=200, num_segments=2, reset_entropy=0.0, init_std=1.0, entropy_coef=1e-3),
      train=LoopConfig(buffer_capacity=1_000_000),
  )


# The policies keep the authors' 400-300-200 MLP: cheap next to the LSTMs, and a fresh explorer of that
# size has an entropy of ~1.36 > 1.34 (a 64-64 one starts at ~1.33, below the waypoint reset threshold).
_SMALL_NET = dict(encoder_hidden=64, decoder_hidden=64, decoder_mlp=(64, 64))


def _cpu(config: SectarConfig, iterations: int) -> SectarConfig:
  """The same algorithm shrunk for 2 CPU cores: smaller LSTMs, K, H and batches."""
  return dataclasses.replace(
      config,
      model=dataclasses.replace(config.model, **_SMALL_NET),
      mpc=dataclasses.replace(config.mpc, num_episodes=4, num_sequences=256, horizon=4),
      explore=dataclasses.replace(config.explore, num_starts=32),
      fit=dataclasses.replace(config.fit, rounds=5, vae_steps=20, batch_size=64, pd_epochs=4),
      train=dataclasses.replace(config.train, iterations=iterations, buffer_capacity=10_000, checkpoint_every=5),
  )


def waypoint_cpu() -> SectarConfig:
  return _cpu(waypoint(), 30)


def block_cpu() -> SectarConfig:
  return _cpu(block(), 30)


def wheeled_cpu() -> SectarConfig:
  """Wheeled at CPU size: as _cpu, episodes of 20 latents (380 steps), 32 explorer rollouts of 4 segments."""
  base = _cpu(wheeled(), 20)
  return dataclasses.replace(base, mpc=dataclasses.replace(base.mpc, num_latents=20),
                             explore=dataclasses.replace(base.explore, num_segments=4))


def swimmer_cpu() -> SectarConfig:
  """Swimmer at CPU size (every env step is 200 MJX substeps): T = 99 as the authors', 2 MPC episodes of 10
  latents, K = 128, H = 3, 16 explorer rollouts of 2 segments, 3 x {20 VAE minibatches, 1 PPO of 8 rollouts}."""
  base = _cpu(swimmer(), 10)
  return dataclasses.replace(
      base,
      mpc=dataclasses.replace(base.mpc, num_episodes=2, num_latents=10, num_sequences=128, horizon=3),
      explore=dataclasses.replace(base.explore, num_starts=16),
      fit=dataclasses.replace(base.fit, rounds=3, pd_num_envs=8),
      train=dataclasses.replace(base.train, checkpoint_every=2),
  )


def physics_smoke(name: str = "wheeled") -> SectarConfig:
  """Tiny end-to-end run on a physics env (T = 9, 16-unit nets, 2 iterations): tests."""
  base = smoke()
  return dataclasses.replace(
      base,
      env=EnvConfig(name, continuous=True),
      model=dataclasses.replace(base.model, obs_dim=9 if name == "wheeled" else 8, action_dim=2, discrete=False),
      mpc=MPCConfig(num_episodes=2, num_latents=2, num_sequences=16, horizon=2),
      explore=ExploreConfig(num_starts=4, num_segments=2, reset_entropy=0.0, init_std=1.0, epochs=1),
      fit=FitConfig(rounds=1, vae_steps=2, batch_size=8, pd_num_envs=4, pd_epochs=1, pd_minibatches=2),
      train=LoopConfig(iterations=2, buffer_capacity=200, checkpoint_every=1),
  )


def smoke() -> SectarConfig:
  """Tiny end-to-end run (< 60 s on 2 CPU cores incl. compilation): tests, the notebook's SMOKE setting."""
  base = waypoint()
  return dataclasses.replace(
      base,
      segment_len=9,
      model=dataclasses.replace(base.model, latent_dim=4, encoder_hidden=16, encoder_layers=1, decoder_hidden=16,
                                decoder_mlp=(16,), policy_mlp=(32,)),
      mpc=MPCConfig(num_episodes=2, num_latents=4, num_sequences=32, horizon=2),
      explore=ExploreConfig(num_starts=8, num_segments=2, reset_entropy=1.34, epochs=2),
      fit=FitConfig(rounds=2, vae_steps=5, batch_size=16, pd_num_envs=8, pd_epochs=2, pd_minibatches=2),
      train=LoopConfig(iterations=3, buffer_capacity=1_000, checkpoint_every=1),
      eval=EvalConfig(num_episodes=2),
  )


PRESETS = {
    "waypoint": waypoint,
    "block": block,
    "waypoint_cpu": waypoint_cpu,
    "block_cpu": block_cpu,
    "smoke": smoke,
    "wheeled": wheeled,
    "swimmer": swimmer,
    "wheeled_cpu": wheeled_cpu,
    "swimmer_cpu": swimmer_cpu,
    "wheeled_smoke": physics_smoke,
    "swimmer_smoke": lambda: physics_smoke("swimmer"),
}
DEFAULT_PRESET = "waypoint_cpu"
