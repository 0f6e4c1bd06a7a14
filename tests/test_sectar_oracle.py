"""Scripted oracles: their actions, replayed in the real (JAX) envs, collect the reward they claim."""

import pytest

from trajvae.sectar import oracle

# Greedy waypoint oracle: the 10, 11, 7, 9, 9; the nominal 16 is out of reach in 380 steps.
EXPECTED = {"waypoint": [10, 11, 7, 9, 9], "block": [4, 4, 4, 4, 4]}


@pytest.mark.parametrize("env_name", ["waypoint", "block"])
def test_oracle_actions_give_the_claimed_reward_in_the_env(env_name):
  for task in range(oracle.NUM_TASKS):
    actions, claimed = oracle.ORACLES[env_name](task)
    assert len(actions) == (380 if env_name == "waypoint" else 950)
    assert oracle.replay(env_name, task, actions) == claimed == EXPECTED[env_name][task]
