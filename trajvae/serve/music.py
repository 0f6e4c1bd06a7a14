"""MusicVAE endpoints: sample, held-out windows, interpolate, attribute vectors, reconstruct, MIDI download.

Every network call goes through a fixed batch of BATCH sequences (requests are
padded and cut), and the temperature is a traced argument, so the functions
compiled at start-up serve every request without another compile.
"""

from __future__ import annotations

import io
import logging
import threading
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from trajvae.music.api import note_density
from trajvae.music.data.encodings import get_converter
from trajvae.music.data.note_sequence import CorruptMidiError, NoteSequence, read_midi, to_pretty_midi
from trajvae.serve.common import MAX_UPLOAD_BYTES, ApiError, Binary, Params, check_upload

log = logging.getLogger(__name__)

BATCH = 16  # the one batch size of every compiled call: samples, interpolation paths, encodings
MAX_SAMPLES = 8
MAX_STEPS = BATCH  # interpolation points, ends included
TEMPERATURE_RANGE = (0.01, 2.0)
ATTRIBUTE_RANGE = (-3.0, 3.0)
MAX_HELD_OUT = 512  # held-out windows offered for interpolation and attributes (and used for the vectors)
SEED_MAX = 2**31 - 1


def _melody_pitches(seq: NoteSequence) -> list[tuple[int, int]]:
  """(onset step, pitch) of the pitched notes in time order."""
  return sorted((n.start_step, n.pitch) for n in seq.notes if not n.is_drum)


def _share(flags: list[bool]) -> float:
  return float(np.mean(flags)) if flags else 0.0


# Melody attributes of the MusicVAE paper's attribute-vector study, computed on decoded notes (our definitions:
# share of notes in the C major scale; mean absolute interval between consecutive onsets in semitones; share of
# onsets on an odd sixteenth; share of onsets on the "and" of a beat). Note density is trajvae.music.api's.
def c_diatonic(seq: NoteSequence) -> float:
  return _share([p % 12 in (0, 2, 4, 5, 7, 9, 11) for _, p in _melody_pitches(seq)])


def average_interval(seq: NoteSequence) -> float:
  pitches = [p for _, p in _melody_pitches(seq)]
  return float(np.mean(np.abs(np.diff(pitches)))) if len(pitches) > 1 else 0.0


def syncopation_16th(seq: NoteSequence) -> float:
  return _share([s % 2 == 1 for s, _ in _melody_pitches(seq)])


def syncopation_8th(seq: NoteSequence) -> float:
  return _share([s % 4 == 2 for s, _ in _melody_pitches(seq)])


SEQUENCE_ATTRIBUTES: dict[str, Callable[[NoteSequence], float]] = {
  "C diatonic": c_diatonic,
  "average interval": average_interval,
  "16th syncopation": syncopation_16th,
  "8th syncopation": syncopation_8th,
}


class MusicBackend:
  """One trained MusicVAE run, loaded once; thread-safe (pure jitted calls; a lock around the rest)."""

  kind = "musicvae"

  def __init__(self, workdir: str, held_out: bool = True):
    from trajvae.music.commands import load_run

    run = load_run(workdir)
    self.config, self.model, self.step = run.config, run.api, run.step
    data = self.config.data
    self.converter = get_converter(data.encoding, data.num_bars)
    self.num_steps = self.model.config.num_steps
    self.depths = tuple(self.model.config.track_depths)
    self._lock = threading.Lock()
    graphdef, z_size = self.model.graphdef, self.model.config.z_size

    def decode(params, z, seed, temperature):
      model = nnx.merge(graphdef, params)
      return model.decode(z, jax.random.key(seed), temperature=temperature)[1]

    def sample(params, seed, temperature):
      z_key = jax.random.fold_in(jax.random.key(seed), 1)
      return decode(params, jax.random.normal(z_key, (BATCH, z_size)), seed, temperature)

    self._decode = jax.jit(decode)
    self._sample = jax.jit(sample)
    self.held_out, self.held_out_note = self._load_held_out(held_out)
    self.attributes = self._attribute_vectors()

  def _load_held_out(self, wanted: bool) -> tuple[np.ndarray, str]:
    empty = np.zeros((0, self.num_steps, len(self.depths)), np.int32)
    if not wanted:
      return empty, "held-out windows not loaded (--no-held-out)"
    from trajvae.music.data.loading import load_windows

    try:
      windows = np.asarray(load_windows(self.config.data, self.config.eval.split))[:MAX_HELD_OUT]
    except Exception as e:  # noqa: BLE001 - a missing or unreadable dataset leaves uploads only
      log.warning("no held-out windows: %s", e)
      return empty, f"held-out windows unavailable: {e}"
    return windows.astype(np.int32), f"{len(windows)} windows of the {self.config.eval.split} split"

  def _attribute_vectors(self) -> dict[str, np.ndarray]:
    """Attribute vectors from the held-out windows: note density always, the paper's others for melodies."""
    if len(self.held_out) < 8:
      return {}
    functions: dict[str, Callable[[np.ndarray], np.ndarray]] = {"note density": note_density}
    if self.config.data.encoding == "melody":
      seqs = [self.converter.from_tensors(t) for t in self.held_out]
      for name, fn in SEQUENCE_ATTRIBUTES.items():
        values = np.array([fn(s) for s in seqs])
        functions[name] = lambda tokens, values=values: values[: len(tokens)]
    vectors = {}
    for name, fn in functions.items():
      try:
        vectors[name] = np.asarray(self.model.attribute_vector(self.held_out, fn), np.float32)
      except ValueError as e:  # the attribute does not vary over these windows
        log.warning("no %s vector: %s", name, e)
    return vectors

  # -- helpers -------------------------------------------------------------------------------------

  def info(self) -> dict[str, Any]:
    return {
      "encoding": self.config.data.encoding,
      "num_bars": self.config.data.num_bars,
      "num_steps": self.num_steps,
      "z_size": self.model.config.z_size,
      "decoder": self.model.config.decoder,
      "held_out": len(self.held_out),
      "held_out_note": self.held_out_note,
      "attributes": list(self.attributes),
      "limits": {
        "num": [1, MAX_SAMPLES],
        "temperature": list(TEMPERATURE_RANGE),
        "steps": [2, MAX_STEPS],
        "attribute": list(ATTRIBUTE_RANGE),
        "upload_bytes": MAX_UPLOAD_BYTES,
      },
    }

  def sequence(self, tokens: np.ndarray) -> dict[str, Any]:
    """A window as the page draws and plays it: its tokens and its notes in steps."""
    seq = self.converter.from_tensors(np.asarray(tokens))
    notes = [
      {
        "pitch": n.pitch,
        "start": n.start_step,
        "end": n.end_step,
        "velocity": n.velocity,
        "drum": n.is_drum,
        "program": n.program,
        "instrument": n.instrument,
      }
      for n in seq.notes
    ]
    return {
      "tokens": np.asarray(tokens).tolist(),
      "notes": notes,
      "steps": self.num_steps,
      "steps_per_bar": int(seq.steps_per_bar),
      "steps_per_quarter": seq.steps_per_quarter,
      "qpm": seq.qpm,
    }

  def _pad(self, x: np.ndarray) -> np.ndarray:
    return np.concatenate([x, np.repeat(x[-1:], BATCH - len(x), axis=0)]) if len(x) < BATCH else x

  def _encode_means(self, tokens: np.ndarray) -> np.ndarray:
    _, mu, _ = self.model.encode(self._pad(tokens))
    return mu[: len(tokens)]

  def _decode_z(self, z: np.ndarray, seed: int, temperature: float) -> np.ndarray:
    out = self._decode(
      self.model.params, jnp.asarray(self._pad(np.asarray(z, np.float32))), jnp.int32(seed), jnp.float32(temperature)
    )
    return np.asarray(out)[: len(z)]

  def _tokens_field(self, raw: Any, name: str) -> np.ndarray:
    try:
      tokens = np.asarray(raw, np.int64)
    except (TypeError, ValueError):
      raise ApiError(400, f"{name} must be an array of integer tokens") from None
    if tokens.ndim == 2:
      tokens = tokens[..., None] if tokens.shape[-1] != len(self.depths) else tokens
    expected = (self.num_steps, len(self.depths))
    if tokens.shape != expected:
      raise ApiError(400, f"{name} must have shape {list(expected)}, got {list(tokens.shape)}")
    for i, depth in enumerate(self.depths):
      if tokens[:, i].min() < 0 or tokens[:, i].max() >= depth:
        raise ApiError(400, f"{name}: track {i} holds tokens outside [0, {depth})")
    return tokens.astype(np.int32)

  def window_from_midi(self, name: str, data: bytes) -> np.ndarray:
    """The first window of an uploaded MIDI file this model can encode."""
    check_upload(name, data)
    if not data.startswith(b"MThd") and not data.startswith(b"RIFF"):
      raise ApiError(400, f"the upload {name!r} is not a MIDI file (no MThd header)")
    try:
      sections = read_midi(data)
    except CorruptMidiError as e:
      raise ApiError(400, f"the upload {name!r} is not a readable MIDI file: {e}") from None
    for seq in sections:
      windows = self.converter.to_tensors(seq)
      if len(windows):
        return np.asarray(windows[0], np.int32)
    raise ApiError(
      422,
      f"the upload {name!r} has no {self.config.data.num_bars}-bar {self.config.data.encoding} "
      "window this model can encode (4/4, notes in range, not all silence)",
    )

  def window(self, p: Params, name: str) -> np.ndarray:
    """A window given as an upload `name`, a held-out index `name_index`, or tokens `name_tokens`."""
    if name in p.files:
      return self.window_from_midi(name, p.files[name])
    if p.has(f"{name}_index"):
      if not len(self.held_out):
        raise ApiError(409, f"this run has no held-out windows ({self.held_out_note}); upload a MIDI file")
      return self.held_out[p.integer(f"{name}_index", None, 0, len(self.held_out) - 1)]
    if p.has(f"{name}_tokens"):
      return self._tokens_field(p.json_value(f"{name}_tokens"), f"{name}_tokens")
    raise ApiError(400, f"give {name!r} as a MIDI upload, {name}_index (held-out window) or {name}_tokens")

  # -- endpoints -----------------------------------------------------------------------------------

  def handle(self, action: str, p: Params) -> dict[str, Any] | Binary:
    handler = {
      "sample": self.sample,
      "held_out": self.held_out_window,
      "interpolate": self.interpolate,
      "attributes": self.apply_attributes,
      "reconstruct": self.reconstruct,
      "midi": self.midi,
    }.get(action)
    if handler is None:
      raise ApiError(404, f"a musicvae run has no endpoint {action!r}")
    return handler(p)

  def sample(self, p: Params) -> dict[str, Any]:
    num = p.integer("num", 4, 1, MAX_SAMPLES)
    temperature = p.number("temperature", 1.0, *TEMPERATURE_RANGE)
    seed = p.integer("seed", 0, 0, SEED_MAX)
    with self._lock:
      out = self._sample(self.model.params, jnp.int32(seed), jnp.float32(temperature))
      tokens = np.asarray(out)[:num]
    return {"sequences": [self.sequence(t) for t in tokens], "temperature": temperature, "seed": seed}

  def held_out_window(self, p: Params) -> dict[str, Any]:
    if not len(self.held_out):
      raise ApiError(409, f"this run has no held-out windows ({self.held_out_note})")
    index = p.integer("index", 0, 0, len(self.held_out) - 1)
    return {"index": index, "sequence": self.sequence(self.held_out[index])}

  def interpolate(self, p: Params) -> dict[str, Any]:
    steps = p.integer("steps", 5, 2, MAX_STEPS)
    temperature = p.number("temperature", 0.5, *TEMPERATURE_RANGE)
    seed = p.integer("seed", 0, 0, SEED_MAX)
    start, end = self.window(p, "start"), self.window(p, "end")
    from trajvae.music.api import slerp

    with self._lock:
      mu = self._encode_means(np.stack([start, end]))
      path = np.stack([slerp(mu[0], mu[1], t) for t in np.linspace(0.0, 1.0, steps)])
      tokens = self._decode_z(path, seed, temperature)
    return {
      "start": self.sequence(start),
      "end": self.sequence(end),
      "path": [self.sequence(t) for t in tokens],
      "t": np.linspace(0, 1, steps).round(4).tolist(),
    }

  def apply_attributes(self, p: Params) -> dict[str, Any]:
    if not self.attributes:
      raise ApiError(409, "this run has no attribute vectors (they need at least 8 held-out windows)")
    amounts = {name: p.number(f"attr_{name}", 0.0, *ATTRIBUTE_RANGE) for name in self.attributes}
    temperature = p.number("temperature", 0.01, *TEMPERATURE_RANGE)
    seed = p.integer("seed", 0, 0, SEED_MAX)
    source = self.window(p, "melody")
    shift = sum(a * self.attributes[name] for name, a in amounts.items())
    with self._lock:
      mu = self._encode_means(source[None])
      tokens = self._decode_z(np.stack([mu[0], mu[0] + shift]), seed, temperature)
    return {
      "original": self.sequence(source),
      "base": self.sequence(tokens[0]),
      "result": self.sequence(tokens[1]),
      "amounts": amounts,
    }

  def reconstruct(self, p: Params) -> dict[str, Any]:
    temperature = p.number("temperature", 0.01, *TEMPERATURE_RANGE)
    seed = p.integer("seed", 0, 0, SEED_MAX)
    source = self.window(p, "melody")
    with self._lock:
      tokens = self._decode_z(self._encode_means(source[None]), seed, temperature)
    accuracy = float(np.mean(tokens[0] == source))
    return {"original": self.sequence(source), "reconstruction": self.sequence(tokens[0]), "accuracy": accuracy}

  def midi(self, p: Params) -> Binary:
    tokens = self._tokens_field(p.json_value("tokens"), "tokens")
    buffer = io.BytesIO()
    to_pretty_midi(self.converter.from_tensors(tokens)).write(buffer)
    name = p.fields.get("name") or "musicvae"
    safe = "".join(c for c in str(name) if c.isalnum() or c in "-_")[:40] or "musicvae"
    return Binary(buffer.getvalue(), "audio/midi", f"{safe}.mid")

  def warm_up(self) -> None:
    """Run every endpoint once so their functions are compiled before the first request."""
    self.sample(Params({}))
    if len(self.held_out):
      window = self.held_out[0]
    else:
      window = np.asarray(self._sample(self.model.params, jnp.int32(0), jnp.float32(1.0)))[0]
    tokens = {"start_tokens": window.tolist(), "end_tokens": window.tolist(), "melody_tokens": window.tolist()}
    self.interpolate(Params(tokens))
    self.reconstruct(Params(tokens))
    if self.attributes:
      self.apply_attributes(Params(tokens))
