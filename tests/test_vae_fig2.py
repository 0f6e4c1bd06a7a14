"""experiments/vae_fig2.py: Figure 2 with seeds as units (per-seed gaps, seed-mean curves), on the bundled digits."""

import importlib.util
import json
import pathlib
import subprocess
import sys

import pytest

_path = pathlib.Path(__file__).parents[1] / "experiments" / "vae_fig2.py"
_spec = importlib.util.spec_from_file_location("vae_fig2", _path)
fig2 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fig2)


def curve(*tests: float) -> list[dict]:
  return [
    {"samples": 10_000 * (k + 1), "train_elbo": t + 1.0, "test_elbo": t, "segment_s": 1.0} for k, t in enumerate(tests)
  ]


def test_seed_gaps_means_and_the_every_seed_verdict():
  curves = {
    "aevb-z3": curve(-30, -20),
    "wake_sleep-z3": curve(-31, -22),  # seed 0: +2 at the end
    "aevb-z3-s1": curve(-29, -21),
    "wake_sleep-z3-s1": curve(-30, -20.5),  # seed 1: -0.5
    "aevb-z3-s2": curve(-29),  # seed 2 has not reached the end
    "wake_sleep-z3-s2": curve(-30),
  }
  summary = fig2.summarise(curves, [3], [0, 1])
  final = summary["over_seeds"]["3"]
  assert final["samples"] == 20_000 and final["seeds"] == 2 and final["gaps"] == [2.0, -0.5]
  assert final["gap"][0] == pytest.approx(0.75) and final["aevb_test"][0] == pytest.approx(-20.5)
  assert not final["aevb_above_in_every_seed"] and summary["gaps"]["3"]["gap_at_last"] == 2.0
  assert "| 3 | 2e+04 | -20.50 ± 0.71 | -21.25 ± 1.06 | +2.00, -0.50 | 1/2 |" in fig2.seed_table(summary)
  behind = fig2.summarise(curves, [3], [0, 1, 2])["over_seeds"]["3"]  # seed 2 has only reached 10^4
  assert behind["samples"] == 10_000 and behind["gaps"] == [1.0, 1.0, 1.0] and behind["aevb_above_in_every_seed"]
  assert summary["seeds"]["3"]["0"]["last_samples"] == 20_000  # each seed's own end stays in "seeds"
  mean = fig2.seed_mean_curves(curves, [3], [0, 1, 2])["aevb-z3"]
  assert [p["samples"] for p in mean] == [10_000] and mean[0]["test_elbo"] == pytest.approx(-29 - 1 / 3)


@pytest.mark.e2e
def test_digits_runs_every_seed_in_resumed_segments_and_writes_the_figure(tmp_path):
  args = [sys.executable, str(_path), "--dataset", "digits", "--out", str(tmp_path), "--latents", "2"]
  args += ["--seeds", "0", "1", "--max-samples", "20000", "--levels", "10000", "20000", "--pilot-steps", "5"]
  done = subprocess.run(args, capture_output=True, text=True)
  assert done.returncode == 0, done.stderr[-3000:]
  printed = done.stdout
  curves = json.loads((tmp_path / "curves.json").read_text())
  assert sorted(curves) == ["aevb-z2", "aevb-z2-s1", "wake_sleep-z2", "wake_sleep-z2-s1"]
  assert all(
    [p["samples"] for p in points] == [10_000, 20_000] for points in curves.values()
  )  # two segments, the second resumed
  assert curves["aevb-z2"][-1]["test_elbo"] != curves["aevb-z2-s1"][-1]["test_elbo"]  # the seeds differ
  summary = json.loads((tmp_path / "summary.json").read_text())
  assert summary["dataset"] == "digits" and summary["over_seeds"]["2"]["seeds"] == 2
  assert (tmp_path / "fig2.png").stat().st_size > 10_000 and "| 2 | 2e+04 |" in printed
  drawn = (tmp_path / "fig2.png").stat().st_mtime_ns
  figure5 = [*args[: args.index("--latents")], "--latents", "2", "3", "--max-samples", "10000", "--figure5-only"]
  done = subprocess.run(figure5, capture_output=True, text=True)
  assert done.returncode == 0, done.stderr[-3000:]
  curves = json.loads((tmp_path / "curves.json").read_text())
  assert "aevb-z3" in curves and "wake_sleep-z3" not in curves  # only the missing AEVB run is trained
  assert (tmp_path / "fig2.png").stat().st_mtime_ns == drawn and (tmp_path / "fig5_samples.png").exists()
