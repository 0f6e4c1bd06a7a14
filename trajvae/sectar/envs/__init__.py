"""SeCTAR's kinematic environments, registered with Brax ("sectar_waypoint", "sectar_block")."""

from __future__ import annotations

from brax import envs as brax_envs

from trajvae.sectar.envs.base import KinematicEnv, KinematicState
from trajvae.sectar.envs.block import BlockEnv
from trajvae.sectar.envs.waypoint import WaypointEnv

ENVS: dict[str, type[KinematicEnv]] = {"waypoint": WaypointEnv, "block": BlockEnv}

for _name, _cls in ENVS.items():
  brax_envs.register_environment(f"sectar_{_name}", _cls)


def make_env(name: str, task: int = 0, continuous: bool = False, **kwargs) -> KinematicEnv:
  """An environment by short ("waypoint") or Brax ("sectar_waypoint") name; ValueError if unknown."""
  key = name.removeprefix("sectar_")
  if key not in ENVS:
    raise ValueError(f"unknown SeCTAR environment {name!r}; known: {sorted(ENVS)} (or with the 'sectar_' prefix)")
  return ENVS[key](task=task, continuous=continuous, **kwargs)


__all__ = ["ENVS", "BlockEnv", "KinematicEnv", "KinematicState", "WaypointEnv", "make_env"]
