"""Two processes over loopback (gloo CPU collectives, 2 fake devices each) train like one process."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import portpicker
import pytest
from conftest import cpu_devices_env

HERE = os.path.dirname(__file__)


@pytest.mark.multiprocess
def test_two_processes_match_one(tmp_path):
  port = portpicker.pick_unused_port()
  procs = [
    subprocess.Popen(
      [sys.executable, os.path.join(HERE, "distributed_worker.py"), str(pid), str(port), str(tmp_path / "multi"), "4"],
      env=cpu_devices_env(2),
    )
    for pid in (0, 1)
  ]
  for proc in procs:
    assert proc.wait(timeout=300) == 0
  multi = json.loads((tmp_path / "multi" / "result.json").read_text())
  assert multi["processes"] == 2 and multi["devices"] == 4

  subprocess.run(
    [sys.executable, os.path.join(HERE, "data_parallel_worker.py"), str(tmp_path / "single")],
    env=cpu_devices_env(4),
    check=True,
  )
  single = json.loads((tmp_path / "single" / "result.json").read_text())
  np.testing.assert_allclose(multi["losses"], single["losses"], rtol=1e-5)
  a, b = np.load(tmp_path / "multi" / "params.npz"), np.load(tmp_path / "single" / "params.npz")
  for name in a.files:
    np.testing.assert_allclose(a[name], b[name], rtol=1e-5, atol=1e-6)

  # The checkpoint written by the 2-process run restores in one process with one device.
  code = "from trajvae.vae import commands; print(commands.load_run(r'%s').step)" % (tmp_path / "multi" / "run")
  out = subprocess.run([sys.executable, "-c", code], env=cpu_devices_env(1), capture_output=True, text=True, check=True)
  assert out.stdout.strip().endswith("4")


@pytest.mark.multiprocess
def test_unreachable_coordinator_fails_fast_with_a_clear_message():
  port = portpicker.pick_unused_port()
  code = f"from trajvae.train.distributed import initialize; initialize('127.0.0.1:{port}', 2, 1, timeout_s=5)"
  start = time.time()
  result = subprocess.run(
    [sys.executable, "-c", code], env=cpu_devices_env(1), capture_output=True, text=True, timeout=120
  )
  assert result.returncode != 0
  assert "could not join the run at 127.0.0.1" in result.stderr
  assert time.time() - start < 90


@pytest.mark.multiprocess
def test_mismatched_configs_are_detected_before_training(tmp_path):
  port = portpicker.pick_unused_port()
  procs = [
    subprocess.Popen(
      [
        sys.executable,
        os.path.join(HERE, "distributed_worker.py"),
        str(pid),
        str(port),
        str(tmp_path / "run"),
        str(steps),
      ],
      env=cpu_devices_env(2),
      stderr=subprocess.PIPE,
      text=True,
    )
    for pid, steps in ((0, 4), (1, 5))
  ]
  errors = [proc.communicate(timeout=300)[1] for proc in procs]
  assert all(proc.returncode != 0 for proc in procs)
  assert all("processes were started with different configs" in err for err in errors)
  assert not (tmp_path / "run" / "checkpoints" / "4").exists()


def test_bad_process_id():
  from trajvae.train.distributed import DistributedInitError, initialize

  with pytest.raises(DistributedInitError, match="process id 3 is outside"):
    initialize("127.0.0.1:1", 2, 3)
