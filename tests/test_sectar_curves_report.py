"""experiments/sectar_curves.py: the bands, the authors' planner for skill reuse, and the report it writes."""

import importlib.util
import pathlib

import numpy as np
import pytest

_spec = importlib.util.spec_from_file_location(
  "sectar_curves", pathlib.Path(__file__).parents[1] / "experiments" / "sectar_curves.py"
)
curves = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(curves)


def test_band_is_not_extrapolated_past_a_shorter_run():
  long = [(0, 0.0), (1000, 2.0)]
  short = [(0, 0.0), (500, 1.0)]
  grid, mean, std = curves.band([long, short], 1000, points=5)
  np.testing.assert_allclose(grid, [0, 250, 500, 750, 1000])
  np.testing.assert_allclose(mean[:3], [0.0, 0.5, 1.0])  # both runs: (0.5 + 0.5) / 2 at 250
  np.testing.assert_allclose(mean[3:], [1.5, 2.0])  # only the long run beyond 500
  assert std[4] == 0.0


def test_band_past_every_run_is_nan_without_a_warning():
  import warnings

  with warnings.catch_warnings():
    warnings.simplefilter("error")
    grid, mean, std = curves.band([[(0, 0.0), (500, 1.0)]], 1000, points=3)
  assert np.isnan(mean[2]) and np.isnan(std[2]) and mean[1] == 1.0


def test_skill_reuse_also_plans_with_the_authors_k_and_h():
  assert curves.planners("waypoint") == {
    "run": [],
    "authors": ["mpc.method=random", "mpc.num_sequences=2048", "mpc.horizon=10"],
  }


def test_report_has_every_method_both_planners_and_the_buffer_coverage(tmp_path):
  curve = lambda top: [(0, 0.0), (250_000, top / 4), (500_000, top), (750_000, top), (1_000_000, top)]  # final: last 3
  results = {
    "budget": {"waypoint": 1_000_000},
    "seeds": [0, 1],
    "preset": "{env}_cpu",
    "machine": "test",
    "wall_s": 1.0,
    "runs_wall_s": 1.0,
    "runs": {
      "waypoint": {
        "sectar": {"0": {"curve": curve(2.0), "wall_s": 1.0}, "1": {"curve": curve(4.0), "wall_s": 1.0}},
        "flat_ppo": {"0": {"curve": curve(1.0), "wall_s": 1.0}},
      }
    },
    "reuse": {
      "waypoint": {
        "run": {str(t): {"reward": 1.0, "std": 0.0, "oracle": 10.0} for t in range(5)},
        "authors": {str(t): {"reward": 5.0, "std": 1.0, "oracle": 10.0} for t in range(5)},
      }
    },
    "reuse_episodes": 4,
    "coverage": {
      "waypoint": {"segments": 10_000, "near_border": 0.594, "right_half": 0.011, "mean_displacement": 0.64},
      "block": {
        "segments": 10,
        "near_border": 0.5,
        "right_half": 0.5,
        "mean_displacement": 0.5,
        "holding": 0.25,
        "objects_moved": [0.5, 0.0, 0.0, 0.1],
        "closest_to_goal": [0.2, 3.0, 3.0, 1.5],
      },
    },
  }
  curves.write_outputs(results, tmp_path)
  table = (tmp_path / "table.md").read_text()
  assert "| waypoint | sectar | 3.00 ± 1.00 (seeds 0, 1) | 0.300 | 1,000,000 |" in table
  assert "| waypoint | flat_ppo | 1.00 ± 0.00 (seeds 0) | 0.100 |" in table
  assert "| 0 | 10 | 1.00 ± 0.00, 0.100 | 5.00 ± 1.00, 0.500 |" in table
  assert "mpc.num_sequences=2048 mpc.horizon=10" in table
  assert "10,000 segments): 59% start within 0.2 of the border, 1% in the right half" in table
  assert "objects 0-3 moved in 50.0%, 0.0%, 0.0%, 10.0% of segments" in table
  assert "(paid within 0.8) 0.20, 3.00, 3.00, 1.50." in table
  assert (tmp_path / "curves.png").stat().st_size > 10_000


def test_an_out_folder_refuses_runs_with_other_overrides(tmp_path, capsys):
  assert curves.check_overrides(tmp_path, "{env}_cpu", ["mpc.num_sequences=2048"]) is None  # recorded
  assert curves.check_overrides(tmp_path, "{env}_cpu", ["mpc.num_sequences=2048"]) is None  # the same again
  problem = curves.check_overrides(tmp_path, "{env}_cpu", [])
  assert "mpc.num_sequences=2048" in problem and "another --out" in problem
  for name in ("old", "older"):  # folders from before the record: their runs are the plain preset's
    (tmp_path / name).mkdir()
    (tmp_path / name / "curve_waypoint_sectar_s0.json").write_text("{}")
  assert curves.check_overrides(tmp_path / "old", "{env}_cpu", []) is None
  assert "before overrides were recorded" in curves.check_overrides(tmp_path / "older", "{env}_cpu", ["mpc.horizon=1"])
  with pytest.raises(SystemExit) as exit_info:  # the script says so in one line, exit code 2
    curves.main(["--envs", "waypoint", "--set", "mpc.horizon=3", "--report-only", "--out", str(tmp_path)])
  assert exit_info.value.code == 2
  assert "another --out" in capsys.readouterr().err


def test_object_coverage_sees_a_carried_object_reach_its_goal():
  goals = np.array([[1.0, 0.0], [2.0, 2.0], [-2.0, 2.0], [-2.0, -2.0]], np.float32)
  start = np.zeros((3, 15), np.float32)
  start[:, 2:10] = [-1.0, 0.0, 0.0, 2.0, 0.0, -2.0, 2.0, 0.0]
  start[:, 10] = 1.0  # nothing held
  carried = start.copy()
  carried[1:, 10:12] = [0.0, 1.0]  # object 0 held from step 1 on
  carried[1, 2:4], carried[2, 2:4] = [0.0, 0.0], [0.9, 0.0]  # carried to within 0.1 of its goal
  cov = curves.object_coverage(np.stack([start, carried]), goals)
  assert cov["holding"] == pytest.approx(2 / 6)
  assert cov["objects_moved"] == [0.5, 0.0, 0.0, 0.0]
  assert cov["closest_to_goal"][0] == pytest.approx(0.1, abs=1e-6)
  assert cov["closest_to_goal"][3] == pytest.approx(np.hypot(4.0, 2.0))


def test_goal_coverage_is_the_closest_approach_to_each_first_goal():
  goals = np.array([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0], [9.0, 9.0]], np.float32)
  positions = np.zeros((2, 3, 2), np.float32)
  positions[1, 2] = [0.0, 1.5]  # one step of the second segment comes within 0.5 of goal 1
  cov = curves.goal_coverage(positions, goals)
  assert cov["closest_to_goals"] == pytest.approx([1.0, 0.5, 3.0])


def test_a_cached_measurement_is_redone_when_the_run_has_moved_on(tmp_path):
  """A run resumed to a larger budget gets its skill reuse and coverage measured again, not the earlier model's."""
  calls = []
  measure = lambda x: calls.append(x) or {"value": x}
  path = tmp_path / "coverage.json"
  assert curves.cached_measure(path, 10, True, measure, 1) is None and not path.exists()  # report-only: nothing
  assert curves.cached_measure(path, 10, False, measure, 1) == {"value": 1}
  assert curves.cached_measure(path, 10, False, measure, 2) == {"value": 1}  # same model: the cache
  assert curves.cached_measure(path, 33, True, measure, 3) == {"value": 1}  # report-only reads what is cached
  assert curves.cached_measure(path, 33, False, measure, 4) == {"value": 4}  # resumed further: measured again
  assert calls == [1, 4]
