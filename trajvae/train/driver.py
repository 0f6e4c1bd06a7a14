"""The one training loop every model runs on: resume, step, log, evaluate, checkpoint, clean up.

A model hands the driver a state pytree and a pure-ish `step_fn(state, step, key)
-> (state, metrics)`; the driver knows nothing of networks, batches or
optimisers. The supervised models (`trajvae.train.supervised`) wrap a
gradient step over a batch; SeCTAR (`trajvae.sectar.outer_loop`) wraps one
outer iteration of its algorithm.

Exact resume follows from three rules the driver enforces: the state is
restored whole from the latest checkpoint, step `i` always gets the key
`fold_in(key(seed), i)`, and nothing else carries over between steps. A run
restarted from its last checkpoint therefore replays precisely the steps it
lost. Metrics are fetched from the device only on logging and checkpoint steps,
and a NaN or infinite loss stops the run before that state is saved.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Protocol, Sequence, TypeVar

import jax
import numpy as np

from trajvae.train.checkpoint import CheckpointStore
from trajvae.train.metrics import Progress, to_python

State = TypeVar("State")
StepFn = Callable[[State, int, jax.Array], tuple[State, Mapping[str, Any]]]
EvalFn = Callable[[State, int], Mapping[str, float]]


class MetricSink(Protocol):
  """Where logged metrics go: trajvae.train.metrics.MetricWriter (metrics.jsonl + TensorBoard), or a list."""

  def write(self, step: int, metrics: Mapping[str, float], split: str = "train") -> None: ...

  def close(self) -> None: ...


class NonFiniteLossError(FloatingPointError):
  """A watched loss became NaN or infinite; training stops before saving a broken state."""


def step_key(seed_key: jax.Array, step: int) -> jax.Array:
  """The random key of step `step` of a run whose seed key is `jax.random.key(seed)` (the same after a resume)."""
  return jax.random.fold_in(seed_key, step)


def check_finite(name: str, values: Mapping[str, float], keys: Sequence[str], step: int, last_good: int | None) -> None:
  """Raise NonFiniteLossError naming the first of `keys` in values that is NaN or infinite."""
  for key in keys:
    if key in values and not np.isfinite(values[key]):
      raise NonFiniteLossError(f"{name}: {key} is {values[key]} at step {step}; last good checkpoint: step {last_good}")


def _made(state: Any) -> Any:
  """state itself, or what calling it makes (a function making the initial state)."""
  return state() if callable(state) else state


def run(
  state: State | Callable[[], State],
  step_fn: StepFn,
  num_steps: int,
  store: CheckpointStore | None,
  writer: MetricSink,
  *,
  name: str,
  seed: int,
  log_every: int = 1,
  shown: Sequence[str] = ("loss",),
  finite: Sequence[str] = ("loss",),
  evaluate: EvalFn | None = None,
  eval_every: int = 0,
  verbose: bool = True,
  on_step: Callable[[int], None] | None = None,
  template: Any = None,
) -> State:
  """Run step_fn from the store's latest checkpoint (or from `state`) to num_steps; return the final state.

  `state` is the fresh initial state, or a function making it (called only when
  there is no checkpoint to resume from); a checkpoint is restored into
  `template` (shapes and shardings, e.g. from jax.eval_shape), else into the
  state. store=None runs without checkpoints (the baselines' learning curves). Every log_every steps (and the last) the metrics go to the writer and
  the `shown` ones to the progress line; `finite` names the metrics that must
  stay finite. evaluate(state, step), if given, runs every eval_every steps and
  at the end, its metrics written under the "eval" split. on_step(step) runs
  after each completed step (and after the start of its save, if due); tests
  use it to simulate a crash. Saves are asynchronous; the driver closes the
  store (waiting for the last save) and the writer, also when a step raises.
  """
  lead = jax.process_index() == 0
  try:
    start = (store.latest_step() or 0) if store is not None else 0
    if start:
      state = store.restore(template if template is not None else _made(state), start)
      if verbose and lead:
        print(f"resumed {name} from {store.directory}/{start}", flush=True)
    else:
      state = _made(state)
    progress = Progress(num_steps, start, enabled=verbose and lead)
    seed_key = jax.random.key(seed)
    for step in range(start, num_steps):
      state, metrics = step_fn(state, step, step_key(seed_key, step))
      done = step + 1
      last = done == num_steps
      if step == start:
        jax.block_until_ready(state)
        progress.restart_clock(done)  # compilation is not part of the rate
      log = done % log_every == 0 or last
      due = store is not None and store.due(done)
      if log or due:
        values = to_python(metrics)
        check_finite(name, values, finite, done, store.latest_step() if store is not None else None)
        if log:
          writer.write(done, values)
          progress.update(done, {k: values[k] for k in shown if k in values})
      if evaluate is not None and eval_every and (done % eval_every == 0 or last):
        eval_metrics = evaluate(state, done)
        writer.write(done, eval_metrics, split="eval")
        if verbose and lead:
          print(f"eval @ {done}: " + " ".join(f"{k} {v:.4g}" for k, v in eval_metrics.items()), flush=True)
      if store is not None:
        store.save(done, state, force=last)  # asynchronous: the store waits before the next save and on close
      if on_step is not None:
        on_step(done)
  finally:
    if store is not None:
      store.close()
    writer.close()
  return state
