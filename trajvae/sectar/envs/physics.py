"""SeCTAR's physics environments: wheeled locomotion and the swimmer, MJCF models stepped with MuJoCo MJX.

The models (`assets/wheeled.xml`, `assets/swimmer.xml`) carry the authors'
physical parameters (traj2vec/envs/assets in wyndwarrior/Sectar; what was
changed and why is in each file's header). MJX is MuJoCo's JAX port: it runs
MuJoCo's own contact model (soft constraints, the same solimp/solref, friction
cones) and fluid model, and matches the C simulator (tests compare them).
Brax's `spring`/`positional` backends were found physically wrong for contact,
and `generalized` calls the same MJX collision routines but needs a shim for the
fluid model on jax 0.10 (docs/sectar.md, "Physics environments").

Observations and `reset_to` follow the authors' `get_current_obs` / `reset`:
- wheeled (9): car x, y, z, sin/cos of yaw, the car's velocities (x, y, z,
  yaw rate). `reset_to` sets those; the wheels' angles and spin rates, which
  the observation does not hold, start at zero (as the authors' reset).
- swimmer (8): head x, y, the two joint angles, sin/cos of the head's yaw, the
  centre of mass of the whole body (x, y; rllab's get_body_com("torso") is the
  torso's subtree COM). `reset_to` sets the positions from the first six
  numbers; the COM is recomputed from them (not read), all velocities start at
  zero (the observation holds none), as the authors' reset.
Actions: continuous only (the authors' Gaussian policy). Wheeled: the wheels'
target velocities, clipped to the ctrlrange +-20. Swimmer: a in [-1, 1]^2
scaled to the joints' target velocities 300 a (the authors' rllab scaling),
clipped to +-300.
Rewards: a sequence of goals from goals.json; reaching the current one
(wheeled: car xy within 0.6, swimmer: COM within 0.2) advances, every 3rd pays
+1. Horizons: 50 latents of T steps as the authors' episodes, 950 / 4950.
"""

from __future__ import annotations

import abc
import copy
import functools
import pathlib

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from mujoco import mjx

from trajvae.sectar.envs import tasks
from trajvae.sectar.envs.base import SectarEnv, goal_sequence_reward

Array = jax.Array
ASSETS = pathlib.Path(__file__).parent / "assets"
SOLVER_ITERATIONS = 4
LS_ITERATIONS = 8


@functools.cache
def load_model(asset: str) -> mujoco.MjModel:
  """The compiled MuJoCo model of an asset, with its custom `total_mass` applied (MuJoCo's settotalmass)."""
  model = mujoco.MjModel.from_xml_path(str(ASSETS / asset))
  total = _numeric(model, "total_mass")
  if total is not None:
    mujoco.mj_setTotalmass(model, total)
    mujoco.mj_setConst(model, mujoco.MjData(model))
  return model


def _solver_capped(model: mujoco.MjModel) -> mujoco.MjModel:
  """A copy with the constraint solver capped at SOLVER_ITERATIONS Newton (LS_ITERATIONS line-search) iterations.

  C MuJoCo converges on these models within 3 (wheeled) / 1 (swimmer) Newton
  iterations (measured), so the cap changes nothing (MJX matches C within 1e-4,
  tested); without it, vmapped MJX iterates to the xml's 100 / 1000 because a
  float32 solve rarely reaches the tolerance 1e-8, 3x slower.
  """
  m = copy.copy(model)
  m.opt.iterations = min(int(m.opt.iterations), SOLVER_ITERATIONS)
  m.opt.ls_iterations = min(int(m.opt.ls_iterations), LS_ITERATIONS)
  return m


def _numeric(model: mujoco.MjModel, name: str) -> float | None:
  idx = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_NUMERIC, name)
  return None if idx < 0 else float(model.numeric_data[model.numeric_adr[idx]])


def yaw_from(sin_cos: Array) -> Array:
  return jnp.arctan2(sin_cos[..., 0], sin_cos[..., 1])


class PhysicsEnv(SectarEnv):
  """An MJX-simulated goal-sequence task; subclasses map (qpos, qvel, COM) <-> observation."""

  asset: str
  goal_radius: float
  default_horizon: int
  action_scale: float  # ctrl = clip(action_scale * a, ctrlrange)
  num_actions = 0  # continuous only
  positionable_start = False  # moving the observed COM would not move the body

  def __init__(self, task: int = 0, continuous: bool | None = True, horizon: int | None = None):
    name = type(self).__name__.removesuffix("Env").lower()
    if continuous is False:
      raise ValueError(
        f"{name} is a continuous-control environment (Gaussian policy); discrete actions are not supported"
      )
    self.task = task
    self.continuous = True
    self.horizon = self.default_horizon if horizon is None else horizon
    self.goals = jnp.asarray(tasks.goal_task(name, task))
    self.mj_model = load_model(self.asset)
    self.sys = mjx.put_model(_solver_capped(self.mj_model))
    self.frame_skip = int(_numeric(self.mj_model, "frame_skip") or 1)
    self.dt = float(self.mj_model.opt.timestep) * self.frame_skip
    self.continuous_action_size = int(self.mj_model.nu)
    self.ctrl_range = np.asarray(self.mj_model.actuator_ctrlrange, np.float32)
    # Bodies whose masses make up the subtree COM of body 1 (the root link).
    parents = self.mj_model.body_parentid
    in_subtree = np.array([_descends(b, 1, parents) for b in range(self.mj_model.nbody)])
    mass = np.asarray(self.mj_model.body_mass, np.float32) * in_subtree
    self._com_weights = jnp.asarray(mass / mass.sum())
    data = mujoco.MjData(self.mj_model)
    mujoco.mj_forward(self.mj_model, data)
    self._start = self.obs_from(*(jnp.asarray(v, jnp.float32) for v in (data.qpos, data.qvel, data.subtree_com[1, :2])))

  @property
  def backend(self) -> str:
    return "mjx"

  @property
  def start_state(self) -> Array:
    """The model's rest pose (qpos0, zero velocities); the authors' start is one rllab reset (+ small noise)."""
    return self._start

  @abc.abstractmethod
  def obs_from(self, qpos: Array, qvel: Array, com: Array) -> Array:
    """The observation from joint positions, velocities and the root subtree's COM (xy)."""

  @abc.abstractmethod
  def qpos_qvel_from(self, x: Array) -> tuple[Array, Array]:
    """Joint positions and velocities for an observation (what the observation lacks is zero)."""

  def com(self, data: mjx.Data) -> Array:
    """xy of the root subtree's centre of mass at data.qpos."""
    data = mjx.kinematics(self.sys, data)
    return (self._com_weights @ data.xipos)[:2]

  def _init_sim(self, x: Array) -> mjx.Data:
    qpos, qvel = self.qpos_qvel_from(x)
    return mjx.make_data(self.sys).replace(qpos=qpos.astype(jnp.float32), qvel=qvel.astype(jnp.float32))

  def _advance(self, data: mjx.Data, action: Array) -> mjx.Data:
    lo, hi = self.ctrl_range[:, 0], self.ctrl_range[:, 1]
    data = data.replace(ctrl=jnp.clip(action * self.action_scale, lo, hi))
    return jax.lax.fori_loop(0, self.frame_skip, lambda _, d: mjx.step(self.sys, d), data)

  def _observe(self, data: mjx.Data) -> Array:
    return self.obs_from(data.qpos, data.qvel, self.com(data))

  def reward_step(self, x: Array, progress: Array) -> tuple[Array, Array]:
    return goal_sequence_reward(x[self.position_slice], self.goals, progress, self.goal_radius)


def _descends(body: int, root: int, parents: np.ndarray) -> bool:
  while body > root:
    body = int(parents[body])
  return body == root


class WheeledEnv(PhysicsEnv):
  """Wheeled locomotion ("sectar_wheeled"): a two-wheeled car, differential drive, walls at +-2 (inner faces +-1.9)."""

  asset = "wheeled.xml"
  goal_radius = 0.6
  default_horizon = 950  # 50 latents x T = 19
  action_scale = 1.0
  position_slice = slice(0, 2)

  def obs_from(self, qpos, qvel, com):
    del com
    return jnp.concatenate([qpos[:3], jnp.stack([jnp.sin(qpos[3]), jnp.cos(qpos[3])]), qvel[:4]])

  def qpos_qvel_from(self, x):
    zeros = jnp.zeros((2,), x.dtype)
    qpos = jnp.concatenate([x[:3], yaw_from(x[3:5])[None], zeros])
    qvel = jnp.concatenate([x[5:9], zeros])
    return qpos, qvel

  def com(self, data):
    return jnp.zeros((2,), jnp.float32)  # not observed: skip the kinematics pass


class SwimmerEnv(PhysicsEnv):
  """Swimmer ("sectar_swimmer"): 3 links in a viscous fluid, walls at +-2.5 (inner faces +-2.4); reward on the COM."""

  asset = "swimmer.xml"
  goal_radius = 0.2
  default_horizon = 4950  # 50 latents x T = 99
  action_scale = 300.0
  position_slice = slice(6, 8)

  def obs_from(self, qpos, qvel, com):
    del qvel
    return jnp.concatenate([qpos[:2], qpos[3:5], jnp.stack([jnp.sin(qpos[2]), jnp.cos(qpos[2])]), com])

  def qpos_qvel_from(self, x):
    qpos = jnp.concatenate([x[:2], yaw_from(x[4:6])[None], x[2:4]])
    return qpos, jnp.zeros((self.mj_model.nv,), x.dtype)
