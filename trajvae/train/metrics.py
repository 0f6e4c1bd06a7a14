"""Metric sinks (JSONL and TensorBoard), the one reader of a run's metrics.jsonl, and a console progress line
with steps/s and ETA."""

from __future__ import annotations

import json
import math
import sys
import time
from typing import Any, Mapping, TextIO

import jax
import numpy as np

from trajvae.train.workdir import PathLike, is_remote, workdir_path


def to_python(metrics: Mapping[str, Any]) -> dict[str, float]:
  """Fetch metric arrays to host floats."""
  return {k: float(np.asarray(v)) for k, v in jax.device_get(dict(metrics)).items()}


class JsonlLog:
  """Lines appended to a file: through an open handle locally; on object stores, which cannot
  append, by rewriting the whole file (kept in memory) after each line."""

  def __init__(self, path: PathLike):
    self.path = workdir_path(path)
    self._file: TextIO | None = None
    self._lines: list[str] | None = None
    if is_remote(self.path):
      self._lines = self.path.read_text().splitlines(keepends=True) if self.path.exists() else []
    else:
      self._file = self.path.open("a")

  def append(self, line: str) -> None:
    if self._file is not None:
      self._file.write(line + "\n")
      self._file.flush()
    else:
      self._lines.append(line + "\n")
      self.path.write_text("".join(self._lines))

  def close(self) -> None:
    if self._file is not None:
      self._file.close()


class MetricWriter:
  """Appends {step, split, metrics...} lines to metrics.jsonl and TensorBoard event files in workdir."""

  def __init__(self, workdir: PathLike, enabled: bool = True):
    self.enabled = enabled
    self._jsonl: JsonlLog | None = None
    self._tb = None
    if not enabled:
      return
    workdir = workdir_path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    self._jsonl = JsonlLog(workdir / "metrics.jsonl")
    from tensorboardX import SummaryWriter  # lazily: it pulls protobuf (gs:// needs google-cloud-storage)

    self._tb = SummaryWriter(str(workdir / "tensorboard"))

  def write(self, step: int, metrics: Mapping[str, float], split: str = "train") -> None:
    if not self.enabled:
      return
    self._jsonl.append(json.dumps({"step": step, "split": split, **metrics}))
    for name, value in metrics.items():
      self._tb.add_scalar(f"{split}/{name}", value, step)

  def close(self) -> None:
    if self._jsonl is not None:
      self._jsonl.close()
      self._tb.close()


def read_metrics(workdir: PathLike, split: str | None = None) -> list[dict[str, Any]]:
  """A run's metrics.jsonl records ({step, split, metrics...}) in step order, one per (split, step).

  A resumed run logs again the steps since its last checkpoint; the last record of a (split, step) is the
  one the run went on from, so it wins. split ("train", "eval") keeps only that split's records. [] when
  the run has logged nothing.
  """
  path = workdir_path(workdir) / "metrics.jsonl"
  if not path.exists():
    return []
  latest: dict[tuple[str, int], dict[str, Any]] = {}
  for line in path.read_text().splitlines():
    if line.strip():
      record = json.loads(line)
      latest[(record.get("split", "train"), record["step"])] = record
  records = [r for (s, _), r in latest.items() if split is None or s == split]
  return sorted(records, key=lambda r: r["step"])  # stable: within a step, splits in the order first logged


def format_duration(seconds: float) -> str:
  if not math.isfinite(seconds):
    return "?"
  seconds = int(seconds)
  return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def format_rate(steps_per_s: float) -> str:
  """'12.3 steps/s', or 's/step' below one step a second (slow outer loops would read '0.0 steps/s')."""
  if not math.isfinite(steps_per_s) or steps_per_s <= 0:
    return "- steps/s"
  if steps_per_s >= 1:
    return f"{steps_per_s:.1f} steps/s"
  return f"{1 / steps_per_s:.1f} s/step"


class Progress:
  """Prints `step/total | metrics | steps/s | ETA` lines; the rate excludes the first (compiling) step."""

  def __init__(self, total_steps: int, start_step: int, stream: TextIO = sys.stderr, enabled: bool = True):
    self.total = total_steps
    self.stream = stream
    self.enabled = enabled
    self._mark_step = start_step
    self._mark_time = time.perf_counter()

  def restart_clock(self, step: int) -> None:
    """Start timing from step (call after the first step so compile time is not counted)."""
    self._mark_step, self._mark_time = step, time.perf_counter()

  def update(self, step: int, metrics: Mapping[str, float]) -> float:
    elapsed = time.perf_counter() - self._mark_time
    rate = (step - self._mark_step) / elapsed if elapsed > 0 and step > self._mark_step else float("nan")
    eta = (self.total - step) / rate if rate and math.isfinite(rate) else float("nan")
    if self.enabled:
      shown = " ".join(f"{k} {v:.4g}" for k, v in metrics.items())
      self.stream.write(f"step {step}/{self.total} | {shown} | {format_rate(rate)} | ETA {format_duration(eta)}\n")
      self.stream.flush()
    return rate
