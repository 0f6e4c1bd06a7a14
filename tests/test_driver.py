"""The shared training driver on a toy step: keys, resume, NaN guard, logging, no-checkpoint runs."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trajvae.train import driver
from trajvae.train.checkpoint import CheckpointMismatchError, CheckpointStore, read_checkpoint_meta


class Interrupt(Exception):
  pass


class Recorder:
  def __init__(self):
    self.rows, self.closed = [], False

  def write(self, step, metrics, split="train"):
    self.rows.append((split, step, dict(metrics)))

  def close(self):
    self.closed = True


def noisy_walk(state, step, key):
  """A state that depends on every step's key and index, so a wrong key or a skipped step shows."""
  x = state["x"] + jax.random.normal(key, (3,)) + step
  return {"x": x, "n": state["n"] + 1}, {"loss": jnp.sum(x**2)}


def fresh():
  return {"x": jnp.zeros(3), "n": jnp.zeros((), jnp.int32)}


def store_at(path, every=2):
  return CheckpointStore(path, "toy", {"toy": True}, save_every=every, keep=3)


def test_step_keys_are_fold_in_of_the_seed():
  seen = []

  def step_fn(state, step, key):
    seen.append(np.asarray(jax.random.key_data(key)))
    return state, {}

  driver.run(fresh(), step_fn, 3, None, Recorder(), name="toy", seed=5, verbose=False, finite=())
  for i, data in enumerate(seen):
    np.testing.assert_array_equal(data, jax.random.key_data(jax.random.fold_in(jax.random.key(5), i)))


def test_crash_and_resume_equals_an_uninterrupted_run(tmp_path):
  full = driver.run(fresh(), noisy_walk, 7, store_at(tmp_path / "a"), Recorder(), name="toy", seed=1, verbose=False)

  def crash(step):
    if step == 5:
      raise Interrupt

  with pytest.raises(Interrupt):
    driver.run(
      fresh(), noisy_walk, 7, store_at(tmp_path / "b"), Recorder(), name="toy", seed=1, verbose=False, on_step=crash
    )
  log = Recorder()
  resumed = driver.run(fresh(), noisy_walk, 7, store_at(tmp_path / "b"), log, name="toy", seed=1, verbose=False)
  assert int(resumed["n"]) == 7
  np.testing.assert_array_equal(np.asarray(full["x"]), np.asarray(resumed["x"]))
  # The crash came after step 5; the last checkpoint was step 4 (every 2), so steps 5-7 ran again.
  assert [step for _, step, _ in log.rows] == [5, 6, 7] and log.closed


def test_a_nan_loss_stops_before_it_is_saved(tmp_path):
  def blow_up(state, step, key):
    state, metrics = noisy_walk(state, step, key)
    return state, {"loss": jnp.where(step >= 2, jnp.nan, metrics["loss"])}

  store = store_at(tmp_path, every=1)
  with pytest.raises(driver.NonFiniteLossError, match="loss is nan at step 3; last good checkpoint: step 2"):
    driver.run(fresh(), blow_up, 5, store, Recorder(), name="toy", seed=0, verbose=False, log_every=10)
  assert store_at(tmp_path).latest_step() == 2


def test_logging_and_evaluation_cadence():
  log = Recorder()
  evaluate = lambda state, step: {"n": float(state["n"])}
  driver.run(
    fresh(), noisy_walk, 5, None, log, name="toy", seed=0, verbose=False, log_every=2, evaluate=evaluate, eval_every=4
  )
  assert [(split, step) for split, step, _ in log.rows] == [
    ("train", 2),
    ("train", 4),
    ("eval", 4),
    ("train", 5),
    ("eval", 5),
  ]
  assert log.rows[2][2] == {"n": 4.0}


def test_a_resume_may_change_the_schedule_and_the_meta_records_it(tmp_path):
  first = {"model": {"width": 4}, "train": {"steps": 4, "seed": 0, "eval_every": 0}}
  driver.run(
    fresh(), noisy_walk, 4, CheckpointStore(tmp_path, "toy", first, 2, 3), Recorder(), name="toy", seed=0, verbose=False
  )
  longer = {"model": {"width": 4}, "train": {"steps": 6, "seed": 0, "eval_every": 2}}
  state = driver.run(
    fresh(),
    noisy_walk,
    6,
    CheckpointStore(tmp_path, "toy", longer, 2, 3),
    Recorder(),
    name="toy",
    seed=0,
    verbose=False,
  )
  assert int(state["n"]) == 6
  meta = read_checkpoint_meta(tmp_path)
  assert meta["config"] == longer
  assert meta["resumes"] == [{"step": 4, "changes": {"train.eval_every": [0, 2], "train.steps": [4, 6]}}]


@pytest.mark.parametrize(
  "change,listed",
  [
    ({"model": {"width": 8}}, "model.width 4 -> 8"),
    ({"train": {"steps": 9, "seed": 1}}, "train.seed 0 -> 1"),
    ({"data": {"name": "other"}}, "data.name None -> 'other'"),
  ],
)
def test_a_resume_that_changes_the_model_or_the_data_is_refused_in_one_line(tmp_path, change, listed):
  first = {"model": {"width": 4}, "train": {"steps": 4, "seed": 0}}
  CheckpointStore(tmp_path, "toy", first, 2, 3).close()
  changed = {**first, **{k: {**first.get(k, {}), **v} for k, v in change.items()}}
  with pytest.raises(CheckpointMismatchError, match="another model or data config: ") as e:
    CheckpointStore(tmp_path, "toy", changed, 2, 3)
  message = str(e.value)
  assert listed in message and "\n" not in message and "train.steps" not in message.split(";")[0]
  assert read_checkpoint_meta(tmp_path)["config"] == first and "resumes" not in read_checkpoint_meta(tmp_path)


def test_a_field_added_since_the_checkpoint_resumes_at_its_default_only(tmp_path):
  """A run checkpointed before model.rnn_backend existed resumes with it at 'auto', and not at 'cudnn'."""
  from trajvae.config import field_defaults
  from trajvae.sectar.configs import SectarConfig

  defaults = field_defaults(SectarConfig)
  assert defaults["model.rnn_backend"] == "auto" and defaults["train.iterations"] == SectarConfig().train.iterations
  first = {"model": {"width": 4}, "train": {"steps": 4}}
  CheckpointStore(tmp_path, "toy", first, 2, 3).close()
  with pytest.raises(CheckpointMismatchError, match="model.rnn_backend None -> 'cudnn'"):
    CheckpointStore(tmp_path, "toy", {**first, "model": {"width": 4, "rnn_backend": "cudnn"}}, 2, 3, defaults=defaults)
  added = {**first, "model": {"width": 4, "rnn_backend": "auto"}}
  CheckpointStore(tmp_path, "toy", added, 2, 3, defaults=defaults).close()
  assert read_checkpoint_meta(tmp_path)["config"] == added  # recorded, so the next resume compares against it
  with pytest.raises(CheckpointMismatchError, match="model.width 4 -> 8"):  # a changed field is still refused
    CheckpointStore(tmp_path, "toy", {**added, "model": {"width": 8, "rnn_backend": "auto"}}, 2, 3, defaults=defaults)


class CountingStore(CheckpointStore):
  """A real store that counts the explicit waits."""

  waits = 0

  def wait(self):
    self.waits += 1
    super().wait()


def test_saves_are_asynchronous_and_the_driver_waits_only_on_close(tmp_path):
  store = CountingStore(tmp_path, "toy", {"toy": True}, save_every=1, keep=3)
  final = driver.run(fresh(), noisy_walk, 5, store, Recorder(), name="toy", seed=0, verbose=False)
  assert store.waits == 0  # no wait after each save; close() waited for the last one
  reopened = store_at(tmp_path)
  assert reopened.latest_step() == 5
  np.testing.assert_array_equal(np.asarray(reopened.restore(fresh())["x"]), np.asarray(final["x"]))


def test_read_metrics_keeps_one_record_per_step_after_a_resume(tmp_path):
  from trajvae.train.metrics import MetricWriter, read_metrics

  def evaluate(state, step):
    return {"x0": float(state["x"][0])}

  def crash(step):
    if step == 5:
      raise Interrupt

  run = dict(name="toy", seed=1, verbose=False, evaluate=evaluate, eval_every=3)
  with pytest.raises(Interrupt):
    driver.run(fresh(), noisy_walk, 7, store_at(tmp_path / "ckpt"), MetricWriter(tmp_path), on_step=crash, **run)
  final = driver.run(fresh(), noisy_walk, 7, store_at(tmp_path / "ckpt"), MetricWriter(tmp_path), **run)
  logged = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert logged.count(5) == 2  # step 5 ran before the crash and again after the resume from step 4
  records = read_metrics(tmp_path)
  assert [(r["step"], r["split"]) for r in records] == [
    (1, "train"),
    (2, "train"),
    (3, "train"),
    (3, "eval"),
    (4, "train"),
    (5, "train"),
    (6, "train"),
    (6, "eval"),
    (7, "train"),
    (7, "eval"),
  ]
  assert [r["step"] for r in read_metrics(tmp_path, split="eval")] == [3, 6, 7]
  assert records[-1]["x0"] == pytest.approx(float(final["x"][0]))
  assert read_metrics(tmp_path / "no-run") == []


def test_a_resume_restores_into_the_template_without_making_the_initial_state(tmp_path):
  driver.run(fresh(), noisy_walk, 4, store_at(tmp_path), Recorder(), name="toy", seed=1, verbose=False)

  def must_not_run():
    raise AssertionError("the initial state was made although the run resumed")

  template = jax.eval_shape(fresh)
  resumed = driver.run(
    must_not_run, noisy_walk, 6, store_at(tmp_path), Recorder(), name="toy", seed=1, verbose=False, template=template
  )
  full = driver.run(fresh, noisy_walk, 6, store_at(tmp_path / "full"), Recorder(), name="toy", seed=1, verbose=False)
  assert int(resumed["n"]) == int(full["n"]) == 6
  np.testing.assert_array_equal(np.asarray(resumed["x"]), np.asarray(full["x"]))
