"""SeCTAR's environments, registered with Brax: kinematic ("sectar_waypoint", "sectar_block") and
MJX physics ("sectar_wheeled", "sectar_swimmer")."""

from __future__ import annotations

from trajvae.errors import extra_imports

with extra_imports("sectar"):  # every env module imports brax or mujoco, and this package runs first
  from brax import envs as brax_envs

  from trajvae.sectar.envs.base import EnvState, KinematicEnv, SectarEnv, goal_sequence_reward
  from trajvae.sectar.envs.block import BlockEnv
  from trajvae.sectar.envs.physics import PhysicsEnv, SwimmerEnv, WheeledEnv
  from trajvae.sectar.envs.waypoint import WaypointEnv

ENVS: dict[str, type[SectarEnv]] = {
  "waypoint": WaypointEnv,
  "block": BlockEnv,
  "wheeled": WheeledEnv,
  "swimmer": SwimmerEnv,
}

for _name, _cls in ENVS.items():
  brax_envs.register_environment(f"sectar_{_name}", _cls)


def make_env(name: str, task: int = 0, continuous: bool | None = None, **kwargs) -> SectarEnv:
  """An environment by short ("waypoint") or Brax ("sectar_waypoint") name; ValueError if unknown.

  continuous=None takes the env's default: discrete for waypoint/block, continuous for
  wheeled/swimmer (continuous only: asking them for discrete actions is a ValueError).
  """
  key = name.removeprefix("sectar_")
  if key not in ENVS:
    raise ValueError(f"unknown SeCTAR environment {name!r}; known: {sorted(ENVS)} (or with the 'sectar_' prefix)")
  if continuous is not None:
    kwargs["continuous"] = continuous
  return ENVS[key](task=task, **kwargs)


__all__ = [
  "ENVS",
  "BlockEnv",
  "EnvState",
  "KinematicEnv",
  "PhysicsEnv",
  "SectarEnv",
  "SwimmerEnv",
  "WaypointEnv",
  "WheeledEnv",
  "goal_sequence_reward",
  "make_env",
]
