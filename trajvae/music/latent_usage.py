"""How much a trained MusicVAE's decoder uses its latent code, per held-out window (issue 25).

For every window x the decoder is run from three codes:

- own: the window's posterior mean mu(x);
- other: the posterior mean of another held-out window (window i gets window (i + N // 2) mod N's);
- prior: a draw z ~ N(0, I).

Under each code it reports the teacher-forced NLL (bits) and accuracy, and the sampled accuracy (the
decoder fed its own samples, p = 1, as Table 1; each bar of the hierarchical decoder starts from its
ground-truth previous token, as the reference) over all steps, over event steps (target not token 0,
"hold") and per bar. The latent's use is NLL(other) - NLL(own) in bits: what the decoder loses when it is
handed the wrong code. A decoder that ignores z (posterior collapse) has a gap near 0 whatever its KL.
The always-hold baseline (predict token 0 at every step) sits beside each accuracy.

Each batch is one jit-compiled call: the three codes are stacked and decoded together (vmap), and the
decoders' time loops are lax.scans; the Python loop runs over batches only.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from trajvae.core.distributions import kl_to_standard_normal
from trajvae.music.model import split_logits
from trajvae.music.objective import reconstruction_log_likelihood

CODES = ("own", "other", "prior")
LN2 = math.log(2.0)


def hits_of(logits: jax.Array, tokens: jax.Array, depths) -> jax.Array:
  """argmax(logits) == target per step and track -> bool [B, T, tracks]."""
  return jnp.stack([jnp.argmax(part, -1) == tokens[..., i] for i, part in enumerate(split_logits(logits, depths))], -1)


def hit_summaries(hits: jax.Array, tokens: jax.Array, steps_per_bar: int) -> dict[str, jax.Array]:
  """Per-window accuracy [B], event hits and event count [B] (target not 0), and accuracy per bar [B, bars]."""
  events = tokens != 0
  batch, steps, tracks = tokens.shape
  per_bar = hits.reshape(batch, steps // steps_per_bar, steps_per_bar * tracks).mean(-1)
  return {
    "accuracy": hits.mean(axis=(1, 2)),
    "event_hits": jnp.sum(hits & events, axis=(1, 2)),
    "events": jnp.sum(events, axis=(1, 2)),
    "bar_accuracy": per_bar,
  }


def decode_metrics(model, z: jax.Array, tokens: jax.Array, key: jax.Array) -> dict[str, jax.Array]:
  """One code per window, z [B, Z]: teacher-forced NLL (bits) and hits, sampled hits -> per-window arrays."""
  depths, spb = model.config.track_depths, model.config.steps_per_bar
  tf_logits = model.decode_teacher_forced(z, tokens)
  sampled_logits = model.decode(z, key, tokens, 1.0)[0]
  tf = hit_summaries(hits_of(tf_logits, tokens, depths), tokens, spb)
  sampled = hit_summaries(hits_of(sampled_logits, tokens, depths), tokens, spb)
  out = {"nll_bits": -reconstruction_log_likelihood(tf_logits, tokens, depths) / LN2}
  out.update({f"tf_{k}": v for k, v in tf.items() if k != "bar_accuracy"})
  out.update({f"sampled_{k}": v for k, v in sampled.items()})
  return out


@functools.partial(jax.jit, static_argnums=0)
def _posterior(graphdef, params, tokens):
  mean, std = nnx.merge(graphdef, params).encode(tokens)
  return mean, kl_to_standard_normal(mean, std) / LN2


@functools.partial(jax.jit, static_argnums=0)
def _batch_metrics(graphdef, params, tokens, own, other, key):
  """Every code's decode_metrics for one batch: codes stacked [3, B, Z] and vmapped -> {metric: [3, B, ...]}."""
  model = nnx.merge(graphdef, params)
  prior_key, decode_key = jax.random.split(key)
  codes = jnp.stack([own, other, jax.random.normal(prior_key, own.shape, own.dtype)])
  keys = jax.random.split(decode_key, len(CODES))
  return jax.vmap(lambda z, k: decode_metrics(model, z, tokens, k))(codes, keys)


def other_index(n: int) -> np.ndarray:
  """Whose posterior mean window i is decoded from as "other": (i + n // 2) mod n, never i itself (n >= 2)."""
  if n < 2:
    raise ValueError(f"latent usage compares a window with another one: need at least 2 windows, got {n}")
  return (np.arange(n) + n // 2) % n


def always_hold(tokens: np.ndarray, steps_per_bar: int) -> dict[str, np.ndarray]:
  """The always-hold predictor's accuracy per window [N] and per bar [N, bars] (its event accuracy is 0)."""
  hold = np.asarray(tokens) == 0
  n, steps, tracks = hold.shape
  return {"accuracy": hold.mean(axis=(1, 2)), "bar_accuracy": hold.reshape(n, steps // steps_per_bar, -1).mean(-1)}


def latent_usage(
  graphdef: nnx.GraphDef, params: nnx.State, windows: np.ndarray, key: jax.Array, batch_size: int = 128
) -> dict[str, Any]:
  """Per-window latent-usage measures of a trained run over windows [N, T, tracks].

  Returns numpy arrays: kl_bits [N]; for each code c in CODES, c/nll_bits, c/tf_accuracy, c/tf_event_hits,
  c/sampled_accuracy, c/sampled_event_hits [N] and c/sampled_bar_accuracy [N, bars]; events [N] (event
  steps per window); latent_use_bits [N] = other/nll_bits - own/nll_bits; hold/accuracy [N] and
  hold/bar_accuracy [N, bars]; other_index [N].
  """
  windows = np.asarray(windows, np.int32)
  n = len(windows)
  index = other_index(n)
  means, kls = [], []
  for start in range(0, n, batch_size):
    mean, kl = _posterior(graphdef, params, jnp.asarray(windows[start : start + batch_size]))
    means.append(np.asarray(mean))
    kls.append(np.asarray(kl))
  mu = np.concatenate(means)
  parts: dict[str, list[np.ndarray]] = {}
  for start in range(0, n, batch_size):
    stop = min(start + batch_size, n)
    out = _batch_metrics(
      graphdef,
      params,
      jnp.asarray(windows[start:stop]),
      jnp.asarray(mu[start:stop]),
      jnp.asarray(mu[index[start:stop]]),
      jax.random.fold_in(key, start),
    )
    for name, value in out.items():
      parts.setdefault(name, []).append(np.asarray(value))
  result: dict[str, Any] = {"kl_bits": np.concatenate(kls), "other_index": index}
  for name, chunks in parts.items():
    value = np.concatenate(chunks, axis=1)  # [codes, N, ...]
    if name in ("tf_events", "sampled_events"):
      result["events"] = value[0]
      continue
    for c, code in enumerate(CODES):
      result[f"{code}/{name}"] = value[c]
  result["latent_use_bits"] = result["other/nll_bits"] - result["own/nll_bits"]
  result.update({f"hold/{k}": v for k, v in always_hold(windows, _steps_per_bar(windows, result)).items()})
  return result


def _steps_per_bar(windows: np.ndarray, result: dict[str, Any]) -> int:
  return windows.shape[1] // result["own/sampled_bar_accuracy"].shape[1]


def summarize(measures: dict[str, Any]) -> dict[str, Any]:
  """Means over windows of latent_usage's arrays; event accuracies as event hits / event steps over all windows."""
  events = measures["events"].sum()
  out: dict[str, Any] = {
    "windows": int(len(measures["kl_bits"])),
    "kl_bits": float(measures["kl_bits"].mean()),
    "latent_use_bits": float(measures["latent_use_bits"].mean()),
    "hold_accuracy": float(measures["hold/accuracy"].mean()),
    "hold_bar_accuracy": measures["hold/bar_accuracy"].mean(0).tolist(),
    "hold_event_accuracy": 0.0,
  }
  for code in CODES:
    out[code] = {
      "nll_bits": float(measures[f"{code}/nll_bits"].mean()),
      "tf_accuracy": float(measures[f"{code}/tf_accuracy"].mean()),
      "tf_event_accuracy": float(measures[f"{code}/tf_event_hits"].sum() / max(events, 1)),
      "sampled_accuracy": float(measures[f"{code}/sampled_accuracy"].mean()),
      "sampled_event_accuracy": float(measures[f"{code}/sampled_event_hits"].sum() / max(events, 1)),
      "sampled_bar_accuracy": measures[f"{code}/sampled_bar_accuracy"].mean(0).tolist(),
    }
  return out
