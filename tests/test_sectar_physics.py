"""SeCTAR physics environments (wheeled, swimmer on MJX): Brax API, dtypes, rewards, reset_to, physics checks.

Compiling an MJX step takes ~15-25 s on 2 CPU cores, so every env's jitted
functions are built once per module (fixtures) and reused; rollouts are short.
"""

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from brax import envs as brax_envs

from trajvae.sectar import configs
from trajvae.sectar.envs import SwimmerEnv, WheeledEnv, make_env, tasks

# MJX compiles each env's step for tens of seconds on CPU: the whole module is in the slow tier.
pytestmark = pytest.mark.slow


class Compiled:
  """An env with its jitted reset_to and step (one compilation each, shared by all tests)."""

  def __init__(self, env):
    self.env = env
    self.reset_to = jax.jit(env.reset_to)
    self.step = jax.jit(env.step)

  def rollout(self, x, actions, progress=0):
    """(obs [L, D], reward [L], done [L]) of actions [L, A] from observation x."""
    s, out = self.reset_to(jnp.asarray(x, jnp.float32), progress), []
    for a in np.asarray(actions, np.float32):
      s = self.step(s, jnp.asarray(a))
      out.append((s.obs, s.reward, s.done))
    return [np.stack([np.asarray(o[i]) for o in out]) for i in range(3)]


@pytest.fixture(scope="module")
def wheeled():
  return Compiled(brax_envs.get_environment("sectar_wheeled", task=1, horizon=30))


@pytest.fixture(scope="module")
def swimmer():
  return Compiled(brax_envs.get_environment("sectar_swimmer", task=0, horizon=8))


def _c_rollout(env, x, actions):
  """The same episode in C MuJoCo (the reference simulator) -> observations [L, D]."""
  m = env.mj_model
  d = mujoco.MjData(m)
  qpos, qvel = env.qpos_qvel_from(jnp.asarray(x))
  d.qpos[:], d.qvel[:] = np.asarray(qpos), np.asarray(qvel)
  out = []
  for a in actions:
    d.ctrl[:] = np.clip(a * env.action_scale, env.ctrl_range[:, 0], env.ctrl_range[:, 1])
    for _ in range(env.frame_skip):
      mujoco.mj_step(m, d)
    mujoco.mj_kinematics(m, d)
    mujoco.mj_comPos(m, d)
    out.append(np.asarray(env.obs_from(*(jnp.asarray(v, jnp.float32) for v in (d.qpos, d.qvel, d.subtree_com[1, :2])))))
  return np.array(out)


def test_api_shapes_dtypes_single_compile(wheeled, swimmer):
  for c, obs_size, start in [(wheeled, 9, [0, 0, 0, 0, 1, 0, 0, 0, 0]), (swimmer, 8, [0, 0, 0, 0, 0, 1, 0, 0])]:
    env = c.env
    assert (env.observation_size, env.action_size, env.action_shape, env.backend) == (obs_size, 2, (2,), "mjx")
    assert env.continuous and env.horizon in (30, 8)
    np.testing.assert_allclose(env.start_state, start, atol=1e-6)
    s0 = c.reset_to(env.start_state)
    s1 = c.step(s0, jnp.ones(2, jnp.float32))
    s2 = c.step(s1, -jnp.ones(2, jnp.float32))
    assert c.step._cache_size() == 1  # float32 everywhere: the second step does not recompile
    for s in (s0, s1, s2):
      assert s.obs.shape == (obs_size,) and s.obs.dtype == jnp.float32
      for v in (s.reward, s.done):
        assert v.shape == () and v.dtype == jnp.float32 and not v.weak_type
    assert jax.tree.structure(s0) == jax.tree.structure(s1)
  assert WheeledEnv().horizon == 950 and SwimmerEnv().horizon == 4950
  assert (WheeledEnv().dt, SwimmerEnv().dt) == pytest.approx((0.03, 0.2))


def test_matches_c_mujoco_and_is_deterministic(wheeled, swimmer):
  """MJX (with the solver cap) reproduces the C simulator step for step, incl. the car crashing into a wall."""
  rng = np.random.default_rng(0)
  for c, n, scale in [(wheeled, 30, 15.0), (swimmer, 8, 1.0)]:
    acts = (rng.normal(size=(n, 2)) * scale).astype(np.float32)
    obs, _, _ = c.rollout(c.env.start_state, jnp.asarray(acts))
    obs2, _, _ = c.rollout(c.env.start_state, jnp.asarray(acts))
    np.testing.assert_array_equal(np.asarray(obs), np.asarray(obs2))
    np.testing.assert_allclose(np.asarray(obs), _c_rollout(c.env, c.env.start_state, acts), atol=2e-3)


def test_car_does_not_pass_through_the_wall(wheeled):
  """Full throttle at the +x wall (inner face 1.9): the chassis (half length 0.15) stops at it."""
  x = np.array([1.4, 0.3, 0, 0, 1, 0, 0, 0, 0], np.float32)
  obs, _, _ = wheeled.rollout(jnp.asarray(x), jnp.full((30, 2), 20.0))
  xs = np.asarray(obs)[:, 0]
  assert xs.max() > 1.72  # it drove there (~1.5 m/s)
  assert xs.max() < 1.9 - 0.15 + 0.02  # and stopped at the wall, never crossing it
  assert abs(xs[-1] - xs[-5]) < 0.02  # pinned against it


def test_swimmer_drag_and_propulsion(swimmer):
  """The fluid decelerates a coasting body; an undulating gait moves the COM (no contact with walls)."""
  env = swimmer.env

  def coast(qvel):
    s = swimmer.reset_to(env.start_state)
    sim = s.pipeline_state.sim.replace(qvel=jnp.asarray(qvel, jnp.float32))
    s = swimmer.step(s.replace(pipeline_state=s.pipeline_state.replace(sim=sim)), jnp.zeros(2))
    return np.asarray(s.pipeline_state.sim.qvel)

  along = coast([1.0, 0, 0, 0, 0])[0]  # 1 m/s along the body's length, 0.2 s of drag
  across = coast([0, 1.0, 0, 0, 0])[1]  # 1 m/s broadside
  assert 0 < across < along < 0.9  # decelerated, more broadside than lengthwise (what makes swimming work)
  t = np.arange(8)
  gait = np.stack([np.sin(t * np.pi / 2), np.sin(t * np.pi / 2 - np.pi / 2)], -1).astype(np.float32)
  obs, _, _ = swimmer.rollout(env.start_state, jnp.asarray(gait))
  assert np.linalg.norm(np.asarray(obs)[-1, 6:8]) > 0.05  # the COM moved


def test_reset_to_round_trip(wheeled, swimmer):
  rng = np.random.default_rng(1)
  for c in (wheeled, swimmer):
    obs, _, _ = c.rollout(c.env.start_state, jnp.asarray(rng.normal(size=(8, 2)).astype(np.float32) * 5))
    for x in np.asarray(obs)[[2, 7]]:
      np.testing.assert_allclose(np.asarray(c.reset_to(jnp.asarray(x)).obs), x, atol=1e-5)
  # The swimmer's COM is recomputed from the pose, not read: a wrong COM is corrected.
  x = np.asarray(swimmer.env.start_state).copy()
  x[6:8] = [5.0, 5.0]
  np.testing.assert_allclose(np.asarray(swimmer.reset_to(jnp.asarray(x)).obs)[6:8], [0, 0], atol=1e-5)


def test_rewards_on_goals_and_reward_fn_matches_env(wheeled, swimmer):
  env = wheeled.env
  goals = np.asarray(env.goals)
  # Goals reached exactly in order: every 3rd pays, as the authors' reward_fn (max 16 for 50 goals).
  seq = np.zeros((50, 9), np.float32)
  seq[:, :2] = goals
  rew, prog = env.reward_fn(jnp.asarray(seq))
  expected = np.zeros(50)
  expected[2::3] = 1
  np.testing.assert_array_equal(np.asarray(rew), expected)
  assert int(prog) == 50
  # A car placed at goal 2 with progress 2 is paid on its first step; at goal 2 with progress 0 it is not.
  x = np.array([*goals[2], 0, 0, 1, 0, 0, 0, 0], np.float32)
  assert float(wheeled.step(wheeled.reset_to(jnp.asarray(x), 2), jnp.zeros(2)).reward) == 1.0
  assert float(wheeled.step(wheeled.reset_to(jnp.asarray(x), 0), jnp.zeros(2)).reward) == 0.0
  # Swimmer: the reward reads the COM (obs[6:8]), radius 0.2.
  senv = swimmer.env
  g = np.asarray(senv.goals)
  near = np.zeros((3, 8), np.float32)
  near[:, 6:8] = g[:3] + [0.15, 0]
  far = near.copy()
  far[:, 6:8] = g[:3] + [0.25, 0]
  assert np.asarray(senv.reward_fn(jnp.asarray(near))[0]).tolist() == [0, 0, 1]
  assert float(senv.reward_fn(jnp.asarray(far))[0].sum()) == 0
  # Along a rollout reward_fn on the observations equals what step paid (here from a state at goal 0).
  start = np.array([*goals[0], 0, 0, 1, 0, 0, 0, 0], np.float32)
  acts = jnp.asarray(np.random.default_rng(2).normal(size=(30, 2)).astype(np.float32) * 20)
  obs, rew, done = wheeled.rollout(jnp.asarray(start), acts)
  rf, _ = env.reward_fn(obs)
  np.testing.assert_array_equal(np.asarray(rf), np.asarray(rew))
  assert np.asarray(done)[-1] == 1 and np.asarray(done)[:-1].sum() == 0
  assert tasks.goal_task("swimmer", 3).shape == (10, 2) and tasks.goal_task("wheeled", 4).shape == (50, 2)


def test_position_is_the_rewarded_xy_and_the_start_is_not_positionable(wheeled, swimmer):
  s = np.arange(8.0)
  np.testing.assert_array_equal(swimmer.env.position(s), [6.0, 7.0])  # the swimmer's COM
  np.testing.assert_array_equal(wheeled.env.position(np.arange(9.0)), [0.0, 1.0])
  np.testing.assert_array_equal(swimmer.env.paid_goals(), np.arange(2, 10, 3))
  assert not swimmer.env.positionable_start
  with pytest.raises(ValueError, match="cannot be set by position"):
    swimmer.env.start_at([0.0, 0.0])


def test_bad_input_is_a_clear_error(wheeled):
  with pytest.raises(ValueError, match="continuous-control"):
    make_env("wheeled", continuous=False)
  with pytest.raises(ValueError, match="continuous-control"):
    brax_envs.get_environment("sectar_swimmer", continuous=False)
  with pytest.raises(ValueError, match="unknown SeCTAR environment"):
    make_env("sectar_ant")
  with pytest.raises(ValueError, match="task"):
    make_env("swimmer", task=5)
  env = wheeled.env
  s = wheeled.reset_to(env.start_state)
  with pytest.raises(ValueError, match="shape"):
    env.step(s, jnp.zeros((3,)))
  with pytest.raises(ValueError, match="finite"):
    env.check_action(np.array([0.0, np.nan]))
  with pytest.raises(ValueError, match="shape"):
    env.reset_to(jnp.zeros(8))
  with pytest.raises(ValueError, match="does not fit"):
    from trajvae.sectar.outer_loop import check_config

    check_config(configs.wheeled_cpu(), make_env("swimmer"))
  assert configs.wheeled().env.continuous and not configs.wheeled().model.discrete
  assert (configs.swimmer().segment_len, configs.swimmer().mpc.num_sequences) == (99, 4000)
