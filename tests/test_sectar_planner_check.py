"""experiments/sectar_planner_check.py: paired planner comparison at the same replan points of a trained run."""

import importlib.util
import json
import pathlib

import numpy as np
import pytest

from trajvae.config import override, select_preset
from trajvae.sectar import commands

_spec = importlib.util.spec_from_file_location(
  "sectar_planner_check", pathlib.Path(__file__).parents[1] / "experiments" / "sectar_planner_check.py"
)
check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check)


def test_paired_difference_and_interval():
  a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.0, 2.0, 2.0, 4.0])
  res = check.paired(a, b)
  d = a - b
  half = 1.96 * d.std(ddof=1) / 2.0
  assert res["mean_diff"] == pytest.approx(0.5)
  assert res["ci95"] == pytest.approx([0.5 - half, 0.5 + half])
  assert res["share_not_worse"] == 1.0
  assert check.paired(b, a)["share_not_worse"] == 0.5


@pytest.mark.slow
def test_planner_check_on_a_trained_smoke_run(tmp_path, capsys):
  config = override(select_preset(commands.PRESETS, "smoke"), ["train.iterations=1"])
  commands.train(config, tmp_path, verbose=False)
  check.main([str(tmp_path), "--episodes", "1", "--execute", "2"])
  out = json.loads((tmp_path / "planner_check.json").read_text())
  n = config.mpc.num_latents
  assert out["replan_points"] == n and set(out["planners"]) == set(check.PLANNERS)
  for name, res in out["planners"].items():
    scores = np.asarray(res["scores"])
    assert scores.shape == (n,) and np.all(np.isfinite(scores)) and np.all(scores >= 0)
    assert res["secs_per_replan"] > 0
    assert ("vs_reference" in res) == (name != check.REFERENCE)
  assert set(out["executed"]) == {
    f"{p}, policy decoder {mode}" for p in ("run planner", check.REFERENCE) for mode in ("sampled", "greedy")
  }
  for res in out["executed"].values():
    assert len(res["returns"]) == 2 and res["task_reward"] == pytest.approx(np.mean(res["returns"]))
    assert np.isfinite(res["segment_error"]) and res["segment_error"] >= 0 and res["start_plan_score"] >= 0
  printed = capsys.readouterr().out
  assert "ms per replan" in printed and "segment gap" in printed
  with pytest.raises(SystemExit):
    check.main([str(tmp_path / "nothing")])
