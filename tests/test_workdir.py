"""Workdirs through etils.epath: URLs keep their scheme, epath paths train and resume, object stores get no appends."""

import json
import os

import pytest
from etils import epath
from etils.epath import testing as epath_testing

from trajvae.config import ConfigError, override
from trajvae.train.checkpoint import read_checkpoint_meta
from trajvae.train.metrics import JsonlLog
from trajvae.train.workdir import is_remote, local_output_dir, workdir_path
from trajvae.vae import commands


def test_urls_keep_their_scheme_and_local_paths_become_absolute(tmp_path, monkeypatch):
  assert str(workdir_path("gs://bucket/run") / "checkpoints") == "gs://bucket/run/checkpoints"
  assert is_remote("gs://bucket/run") and is_remote(epath.Path("s3://b/r")) and not is_remote(tmp_path)
  monkeypatch.chdir(tmp_path)
  assert str(workdir_path("runs/a")) == os.path.join(str(tmp_path), "runs", "a")
  with pytest.raises(ConfigError, match="give --out"):
    local_output_dir(None, "gs://bucket/run")
  assert local_output_dir(tmp_path / "out", "gs://bucket/run") == tmp_path / "out"


@pytest.mark.e2e
def test_vae_trains_and_resumes_in_an_epath_workdir(tmp_path):
  config = override(commands.PRESETS["smoke"](), ["train.steps=2", "train.log_every=1", "train.checkpoint_every=1"])
  workdir = epath.Path(tmp_path) / "run"
  commands.train(config, workdir, verbose=False)
  commands.train(override(config, ["train.steps=3"]), workdir, verbose=False)
  steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
  assert steps == [1, 2, 3]
  assert commands.load_run(workdir).step == 3


@pytest.fixture
def fake_bucket(tmp_path):
  """gs://bucket/... served from tmp_path by epath's test backend; yields (tmp_path, modes files were opened in)."""
  modes = []

  def local(fn, path, *args, **kwargs):
    return fn(os.fspath(path).replace("gs://bucket", str(tmp_path)), *args, **kwargs)

  def local_open(fn, path, mode, *args, **kwargs):
    modes.append(mode)
    return local(fn, path, mode, *args, **kwargs)

  names = ("exists", "isdir", "listdir", "makedirs", "mkdir", "stat", "glob")
  with epath_testing.mock_epath(open=local_open, **{name: local for name in names}):
    yield tmp_path, modes


def test_metrics_on_an_object_store_are_rewritten_not_appended(fake_bucket):
  root, modes = fake_bucket
  (root / "run").mkdir()
  log = JsonlLog("gs://bucket/run/metrics.jsonl")
  log.append('{"step": 1}')
  log.close()
  log = JsonlLog("gs://bucket/run/metrics.jsonl")  # a resumed run keeps the earlier lines
  log.append('{"step": 2}')
  assert modes and not any("a" in mode for mode in modes)
  assert (root / "run" / "metrics.jsonl").read_text() == '{"step": 1}\n{"step": 2}\n'


def test_checkpoint_meta_reads_from_a_url(fake_bucket):
  root, _ = fake_bucket
  (root / "run" / "checkpoints").mkdir(parents=True)
  (root / "run" / "checkpoints" / "trajvae_checkpoint.json").write_text('{"model": "vae", "config": {}}')
  assert read_checkpoint_meta("gs://bucket/run/checkpoints")["model"] == "vae"
