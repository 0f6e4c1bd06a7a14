"""The progress line: rate in steps/s, or s/step for slow outer loops (SeCTAR iterations), and an ETA."""

import io

from trajvae.train.metrics import Progress, format_rate


def test_format_rate_switches_to_seconds_per_step_below_one():
  assert format_rate(12.34) == "12.3 steps/s"
  assert format_rate(0.025) == "40.0 s/step"
  assert format_rate(float("nan")) == "- steps/s"


def test_progress_line_names_the_step_metrics_rate_and_eta():
  stream = io.StringIO()
  progress = Progress(10, 0, stream=stream)
  progress.restart_clock(0)
  progress._mark_time -= 20.0  # pretend 2 steps took 20 s
  rate = progress.update(2, {"loss": 1.5})
  line = stream.getvalue()
  assert abs(rate - 0.1) < 1e-3
  assert line.startswith("step 2/10 | loss 1.5 | 10.0 s/step | ETA 0:01:2")
