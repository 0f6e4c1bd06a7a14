"""The data-parallel step on 8 fake CPU devices equals the single-device step.

Plain SGD, so a gradient that is summed instead of averaged over devices (or
averaged twice) shows up as a different update; Adam would hide it.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import cpu_devices_env

WORKER = os.path.join(os.path.dirname(__file__), "data_parallel_worker.py")


def run_with_devices(count: int, out_dir) -> tuple[dict, dict]:
  subprocess.run([sys.executable, WORKER, str(out_dir)], env=cpu_devices_env(count), check=True)
  result = json.loads((out_dir / "result.json").read_text())
  params = dict(np.load(out_dir / "params.npz"))
  return result, params


@pytest.mark.multiprocess
def test_eight_devices_match_one(tmp_path):
  one, params_one = run_with_devices(1, tmp_path / "one")
  eight, params_eight = run_with_devices(8, tmp_path / "eight")
  assert one["devices"] == 1 and eight["devices"] == 8
  assert len(one["losses"]) == 4
  np.testing.assert_allclose(eight["losses"], one["losses"], rtol=1e-5)
  for name in params_one:
    np.testing.assert_allclose(params_eight[name], params_one[name], rtol=1e-5, atol=1e-6)
  # The parameters really moved, so equality is not that of two untouched initialisations.
  assert one["losses"][0] != one["losses"][-1]
