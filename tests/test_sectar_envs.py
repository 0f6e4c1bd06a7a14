"""SeCTAR kinematic environments: Brax API, invariants, and a plain-numpy re-implementation matched step for step."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from brax import envs as brax_envs

from trajvae.sectar.envs import BlockEnv, WaypointEnv, make_env, tasks

MOVES = np.array([[0.2, 0], [0, 0.2], [-0.2, 0], [0, -0.2]], np.float32)


# --- plain-numpy re-implementations of the authors' envs (float32, to compare exactly) ---


def np_waypoint(start, goals, actions):
  pos, rstate, obs, rews = start.copy(), 0, [], []
  for a in actions:
    pos = np.clip(pos + MOVES[a], np.float32(-2.8), np.float32(2.8))
    goals_aug = np.concatenate([goals, np.zeros((1, 2), np.float32)])
    good = np.linalg.norm(pos - goals_aug[rstate]) < 0.4
    r = float(good and rstate % 3 == 2 and rstate < len(goals))
    rstate = min(rstate + int(good), len(goals))
    obs.append(pos.copy())
    rews.append(r)
  return np.array(obs), np.array(rews)


def np_block(start, goals, border, actions):
  qpos = start[:10].copy()
  attached = int(np.argmax(start[10:15])) - 1
  rstate, obs, rews = 0, [], []
  for a in actions:
    if a < 4:
      cur = qpos[:2].copy()
      nxt = np.clip(cur + MOVES[a], np.float32(-border), np.float32(border))
      if attached >= 0:
        qpos[2 + 2 * attached : 4 + 2 * attached] += nxt - cur
      qpos[:2] = nxt
    elif a == 4:
      if attached < 0:
        for k in range(4):
          if np.linalg.norm(qpos[:2] - qpos[2 + 2 * k : 4 + 2 * k]) < 0.4:
            attached = k
            break
    else:
      attached = -1
    onehot = np.zeros(5, np.float32)
    onehot[attached + 1] = 1
    o = np.concatenate([qpos, onehot])
    dists = np.append(np.linalg.norm(o[2:10].reshape(4, 2) - goals, axis=-1), 0.0)
    good = dists[rstate] < 0.8
    rews.append(float(good and rstate < 4))
    rstate = min(rstate + int(good), 4)
    obs.append(o)
  return np.array(obs), np.array(rews)


def rollout(env, actions):
  def body(s, a):
    s = env.step(s, a)
    return s, (s.obs, s.reward, s.done)

  _, out = jax.jit(lambda a: jax.lax.scan(body, env.reset(jax.random.key(0)), a))(jnp.asarray(actions))
  return [np.asarray(o) for o in out]


def test_waypoint_matches_numpy_step_for_step():
  env = WaypointEnv(task=1)
  start, goals = tasks.waypoint_task(1)
  # A greedy oracle (so the sparse rewards actually fire) mixed with random moves.
  rng = np.random.default_rng(0)
  pos, k, actions = start.copy(), 0, []
  for _ in range(380):
    d = goals[min(k, 49)] - pos
    a = (0 if d[0] > 0 else 2) if abs(d[0]) > abs(d[1]) else (1 if d[1] > 0 else 3)
    a = a if rng.random() > 0.2 else int(rng.integers(4))
    actions.append(a)
    pos = np.clip(pos + MOVES[a], -2.8, 2.8)
    if np.linalg.norm(pos - goals[min(k, 49)]) < 0.4:
      k += 1
  ref_obs, ref_rew = np_waypoint(start, goals, actions)
  obs, rew, done = rollout(env, np.array(actions, np.int32))
  np.testing.assert_allclose(obs, ref_obs, atol=1e-6)
  np.testing.assert_array_equal(rew, ref_rew)
  assert rew.sum() >= 3  # the oracle collects several rewards: the check is not vacuous
  assert done[-1] == 1.0 and done[:-1].sum() == 0


def test_block_matches_numpy_step_for_step():
  env = BlockEnv(task=0)
  start, goals, border = tasks.block_task(0)
  # Scripted: go to object 0, grasp, carry it to its goal, drop; then random actions.
  rng = np.random.default_rng(1)
  pos, actions = start[:2].copy(), []

  def walk(target):
    nonlocal pos
    while np.abs(target - pos).max() > 0.15:
      d = target - pos
      a = (0 if d[0] > 0 else 2) if abs(d[0]) > abs(d[1]) else (1 if d[1] > 0 else 3)
      actions.append(a)
      pos = np.clip(pos + MOVES[a], -border, border)

  walk(start[2:4])
  actions.append(4)
  walk(goals[0])
  actions.append(5)
  actions += list(rng.integers(0, 6, 200))
  ref_obs, ref_rew = np_block(start, goals, border, actions)
  obs, rew, _ = rollout(env, np.array(actions, np.int32))
  np.testing.assert_allclose(obs, ref_obs, atol=1e-5)
  np.testing.assert_array_equal(rew, ref_rew)
  assert rew.sum() >= 1 and ref_obs[:, 11:15].sum() > 0  # an object was carried and delivered


@pytest.mark.parametrize("name", ["sectar_waypoint", "sectar_block"])
@pytest.mark.parametrize("continuous", [False, True])
def test_brax_registration_shapes_dtypes(name, continuous):
  env = brax_envs.get_environment(name, task=2, continuous=continuous)
  s0 = jax.jit(env.reset)(jax.random.key(0))
  a = jnp.zeros(env.action_shape, jnp.float32 if continuous else jnp.int32)
  step = jax.jit(env.step)
  s1 = step(s0, a)
  s2 = step(s1, a)
  assert step._cache_size() == 1  # float32 everywhere: the second step does not recompile
  for s in (s0, s1, s2):
    assert s.obs.shape == (env.observation_size,) and s.obs.dtype == jnp.float32
    assert s.reward.shape == () and s.reward.dtype == jnp.float32 and not s.reward.weak_type
    assert s.done.dtype == jnp.float32 and not s.done.weak_type
  assert jax.tree.structure(s0) == jax.tree.structure(s1)


def test_vmap_and_determinism():
  env = make_env("waypoint", continuous=True)
  acts = jax.random.uniform(jax.random.key(3), (8, 50, 2), minval=-1, maxval=1)
  run = jax.vmap(
    lambda a: jax.lax.scan(lambda s, x: (env.step(s, x), env.step(s, x).obs), env.reset(jax.random.key(0)), a)[1]
  )
  a1, a2 = np.asarray(jax.jit(run)(acts)), np.asarray(jax.jit(run)(acts))
  assert a1.shape == (8, 50, 2)
  np.testing.assert_array_equal(a1, a2)
  assert np.abs(a1).max() <= 2.8


def test_reward_only_on_stated_events():
  env = WaypointEnv(task=0)
  goals = np.asarray(env.goals)
  # Visiting waypoints exactly: reward at every 3rd one (indices 2, 5, 8, ...), total 16.
  rew, prog = env.reward_fn(jnp.asarray(goals)[None])
  expected = np.zeros(50)
  expected[2::3] = 1
  np.testing.assert_array_equal(np.asarray(rew)[0], expected)
  assert int(prog[0]) == 50 and float(rew.sum()) == 16
  # Out of order: skipping waypoint 0 gives nothing.
  rew, prog = env.reward_fn(jnp.asarray(goals[1:4])[None])
  assert float(rew.sum()) == 0 and int(prog[0]) == 0
  # Chaining progress across segments pays as one sequence would.
  r1, p1 = env.reward_fn(jnp.asarray(goals[:2]), 0)
  r2, _ = env.reward_fn(jnp.asarray(goals[2:3]), p1)
  assert float(r1.sum()) == 0 and float(r2.sum()) == 1
  # Block: objects at their goals in order pay once each; the wrong object first pays nothing.
  benv = BlockEnv(task=0)
  x = np.asarray(benv.start_state).copy()
  seq = []
  for k in [1, 0, 1, 2, 3]:
    x = x.copy()
    x[2 + 2 * k : 4 + 2 * k] = np.asarray(benv.goals)[k]
    seq.append(x)
  rew, prog = benv.reward_fn(jnp.asarray(np.array(seq)))
  np.testing.assert_array_equal(np.asarray(rew), [0, 1, 1, 1, 1])
  assert int(prog) == 4


def test_bad_input_is_a_clear_error():
  with pytest.raises(ValueError, match="unknown SeCTAR environment"):
    make_env("swimmer2d")
  with pytest.raises(ValueError, match="task"):
    make_env("waypoint", task=7)
  env = make_env("waypoint")
  s = env.reset(jax.random.key(0))
  with pytest.raises(ValueError, match="shape"):
    env.step(s, jnp.zeros((2,), jnp.int32))
  with pytest.raises(ValueError, match="shape"):
    jax.jit(env.step)(s, jnp.zeros((3,)))  # shapes are static: the error is raised under jit too
  with pytest.raises(ValueError, match=r"in \[0, 4\)"):
    env.checked_step(s, 4)
  with pytest.raises(ValueError, match="integer"):
    env.checked_step(s, np.float32(np.nan))
  cenv = make_env("block", continuous=True)
  cs = cenv.reset(jax.random.key(0))
  with pytest.raises(ValueError, match="finite"):
    cenv.checked_step(cs, np.array([0.0, np.nan, 0.0]))
  with pytest.raises(ValueError, match="shape"):
    cenv.checked_step(cs, np.zeros(2))
  assert cenv.checked_step(cs, np.array([1.0, 0.0, 0.0])).obs.shape == (15,)


def test_env_answers_for_its_task_positions_and_paid_goals():
  env = WaypointEnv(task=0)
  goals = np.asarray(env.goals)
  # The paid goals are the ones the reward pays when every goal is visited in order.
  rew, _ = env.reward_fn(jnp.asarray(goals)[None])
  np.testing.assert_array_equal(env.paid_goals(), np.nonzero(np.asarray(rew)[0])[0])
  benv = BlockEnv(task=0)
  np.testing.assert_array_equal(benv.paid_goals(), np.arange(4))
  # with_task swaps the start and goals in a copy (also traced, under jit), leaving the original alone.
  other = WaypointEnv(task=3)
  moved = env.with_task(other.start_state, other.goals)
  np.testing.assert_array_equal(moved.reset(jax.random.key(0)).obs, other.start_state)
  pays = jax.jit(lambda s, g: env.with_task(s, g).reward_fn(g[None])[0].sum())(other.start_state, other.goals)
  assert float(pays) == float(other.reward_fn(other.goals[None])[0].sum()) == 16
  np.testing.assert_array_equal(env.start_state, WaypointEnv(task=0).start_state)
  np.testing.assert_array_equal(env.goals, goals)
  # position and start_at: the kinematic envs' xy is the first two numbers; the rest of the start is kept.
  s0 = benv.start_at([1.5, -2.0])
  np.testing.assert_allclose(benv.position(s0), [1.5, -2.0])
  np.testing.assert_array_equal(s0[2:], np.asarray(benv.start_state)[2:])
  assert env.positionable_start and benv.positionable_start
