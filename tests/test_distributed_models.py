"""SeCTAR and MusicVAE: 2 processes x 2 fake CPU devices (gloo over loopback) train like 1 process on 1 device.

The 2-process runs write their checkpoints once; the next-to-last resumes in
one process on one device and ends where the 2 processes (and the 1-device run) did. The MusicVAE
runs start from an empty data_dir, so both processes of the 2-process run ask
for its TFDS dataset at once (a file lock makes one build it, the other wait).
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import portpicker
import pytest
from conftest import cpu_devices_env

HERE = os.path.dirname(__file__)
WORKER = os.path.join(HERE, "model_worker.py")


def run_multi(model: str, out, data_dir) -> dict:
  port = str(portpicker.pick_unused_port())
  procs = [
    subprocess.Popen(
      [sys.executable, WORKER, model, str(out), str(data_dir), str(pid), "2", port], env=cpu_devices_env(2)
    )
    for pid in (0, 1)
  ]
  for proc in procs:
    assert proc.wait(timeout=600) == 0
  return json.loads((out / "result.json").read_text())


def run_single(model: str, out, data_dir, devices: int) -> dict:
  subprocess.run(
    [sys.executable, WORKER, model, str(out), str(data_dir)], env=cpu_devices_env(devices), check=True, timeout=600
  )
  return json.loads((out / "result.json").read_text())


def last_per_step(records: list[dict]) -> list[dict]:
  """The last record of each (step, split): a resumed run appends to metrics.jsonl."""
  by_step = {(r["step"], r["split"]): r for r in records}
  return [by_step[k] for k in sorted(by_step)]


def assert_same_run(a: dict, b: dict, a_dir, b_dir, rtol: float) -> None:
  ra_all, rb_all = last_per_step(a["records"]), last_per_step(b["records"])
  assert [r["step"] for r in ra_all] == [r["step"] for r in rb_all]
  for ra, rb in zip(ra_all, rb_all):
    assert ra.keys() == rb.keys()
    for key in ra:
      if isinstance(ra[key], str):
        assert ra[key] == rb[key], key
        continue
      np.testing.assert_allclose(ra[key], rb[key], rtol=rtol, atol=1e-5, err_msg=f"step {ra['step']} {key}")
  sa, sb = np.load(a_dir / "state.npz"), np.load(b_dir / "state.npz")
  assert sa.files == sb.files
  for name in sa.files:
    np.testing.assert_allclose(sa[name], sb[name], rtol=rtol, atol=1e-5, err_msg=f"state leaf {name}")


@pytest.mark.multiprocess
@pytest.mark.parametrize("model,last_step", [("sectar", 2), ("musicvae", 4)])
def test_two_processes_match_one(model, last_step, tmp_path):
  data_dir = tmp_path / "data"
  multi = run_multi(model, tmp_path / "multi", data_dir)
  assert multi["processes"] == 2 and multi["devices"] == 4
  run = tmp_path / "multi" / "run"
  checkpoints = sorted(int(p.name) for p in (run / "checkpoints").iterdir() if p.name.isdigit())
  assert len(checkpoints) >= 2 and checkpoints[-1] == last_step

  # One process on one device from scratch ends where the 2 processes x 2 devices did, up to float rounding
  # (the devices' partial sums differ; a wrong gradient scale under plain SGD is far outside it).
  single = run_single(model, tmp_path / "single", data_dir, 1)
  assert single["processes"] == 1 and single["devices"] == 1
  assert_same_run(multi, single, tmp_path / "multi", tmp_path / "single", rtol=1e-3)

  # The 2-process run's next-to-last checkpoint resumes in 1 process on 1 device (the same programs as the
  # run above: the persistent cache compiles them once) and ends where the 2 processes did.
  shutil.copytree(run, tmp_path / "resumed" / "run")
  shutil.rmtree(tmp_path / "resumed" / "run" / "checkpoints" / str(checkpoints[-1]))
  resumed = run_single(model, tmp_path / "resumed", data_dir, 1)
  assert resumed["devices"] == 1
  assert_same_run(multi, resumed, tmp_path / "multi", tmp_path / "resumed", rtol=1e-3)


def test_sectar_batch_axes_must_divide_over_the_devices():
  from trajvae.sectar import configs, outer_loop

  with pytest.raises(ValueError, match="mpc.num_episodes 2 is not divisible by the 4 devices of the data mesh"):
    outer_loop.check_divisible(configs.smoke(), 4)
  outer_loop.check_divisible(configs.smoke(), 2)
