"""Latent-usage measures (trajvae.music.latent_usage): what they count, checked on tiny models and known data."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from trajvae.music import latent_usage, objective
from trajvae.music.configs import MusicLossConfig, MusicModelConfig
from trajvae.music.model import init_model
from trajvae.train.supervised import init_train_state, make_train_step

TINY = dict(z_size=8, enc_rnn_sizes=(16,), dec_rnn_sizes=(16,))


def melodies(n: int, steps: int, seed: int = 0, hold_share: float = 0.5) -> np.ndarray:
  rng = np.random.default_rng(seed)
  tokens = rng.integers(2, 90, (n, steps, 1))
  return np.where(rng.random((n, steps, 1)) < hold_share, 0, tokens).astype(np.int32)


@pytest.mark.parametrize("decoder", ["flat", "hierarchical"])
def test_untrained_model_shapes_hold_baseline_and_no_latent_use(decoder):
  config = MusicModelConfig(**TINY, decoder=decoder)
  graphdef, params = init_model(config, 0)
  windows = melodies(6, config.num_steps)
  m = latent_usage.latent_usage(graphdef, params, windows, jax.random.key(0), batch_size=4)
  assert m["kl_bits"].shape == (6,) and (m["kl_bits"] >= 0).all()
  assert m["own/sampled_bar_accuracy"].shape == (6, 2)
  # Bars are equally long, so the mean over bars is the window's accuracy.
  np.testing.assert_allclose(m["own/sampled_bar_accuracy"].mean(1), m["own/sampled_accuracy"], atol=1e-6)
  np.testing.assert_allclose(m["hold/accuracy"], (windows == 0).mean(axis=(1, 2)))
  np.testing.assert_array_equal(m["events"], (windows != 0).sum(axis=(1, 2)))
  # An untrained encoder's means are ~0.001 * noise: decoding another window's mean changes nothing.
  assert np.abs(m["latent_use_bits"]).max() < 0.05
  # Teacher-forced NLL of a near-uniform decoder: about log2(90) bits a step.
  assert m["own/nll_bits"].mean() == pytest.approx(config.num_steps * math.log2(90), rel=0.05)
  summary = latent_usage.summarize(m)
  assert summary["hold_event_accuracy"] == 0.0 and len(summary["own"]["sampled_bar_accuracy"]) == 2


def test_own_code_matches_the_objectives_teacher_forced_accuracy():
  config = MusicModelConfig(**TINY)
  graphdef, params = init_model(config, 1)
  windows = melodies(4, config.num_steps, seed=3)
  m = latent_usage.latent_usage(graphdef, params, windows, jax.random.key(0))
  model = nnx.merge(graphdef, params)
  mu, _ = model.encode(jnp.asarray(windows))
  logits = model.decode_teacher_forced(mu, jnp.asarray(windows))
  expected = float(objective.token_accuracy(logits, jnp.asarray(windows), config.track_depths).mean())
  assert m["own/tf_accuracy"].mean() == pytest.approx(expected, abs=1e-6)
  nll = -objective.reconstruction_log_likelihood(logits, jnp.asarray(windows), config.track_depths) / math.log(2)
  np.testing.assert_allclose(m["own/nll_bits"], np.asarray(nll), rtol=1e-5)


def test_other_index_never_picks_the_window_itself():
  for n in (2, 3, 7, 128):
    index = latent_usage.other_index(n)
    assert (index != np.arange(n)).all() and sorted(index) == list(range(n))
  with pytest.raises(ValueError, match="at least 2 windows"):
    latent_usage.other_index(1)


@pytest.mark.slow
def test_a_model_that_must_use_z_shows_latent_use_and_a_prior_code_does_worse():
  """Random melodies cannot be predicted from their past: a fitted model needs z, so own << other in NLL."""
  config = MusicModelConfig(z_size=16, enc_rnn_sizes=(32,), dec_rnn_sizes=(32,))
  graphdef, params = init_model(config, 0)
  windows = melodies(8, config.num_steps, seed=5, hold_share=0.0)
  loss_config = MusicLossConfig(max_beta=0.01)
  tx = optax.adam(3e-3)
  step_fn = jax.jit(
    make_train_step(graphdef, lambda m, b, k, s: objective.loss_and_metrics(m, b["tokens"], k, s, loss_config), tx)
  )
  state = init_train_state(params, tx)
  for i in range(200):
    state, _ = step_fn(state, {"tokens": jnp.asarray(windows)}, jax.random.key(i))
  m = latent_usage.latent_usage(graphdef, state.params, windows, jax.random.key(0))
  assert m["latent_use_bits"].mean() > 20, m["latent_use_bits"]
  assert m["own/tf_accuracy"].mean() > m["other/tf_accuracy"].mean() + 0.2
  assert m["own/sampled_accuracy"].mean() > m["prior/sampled_accuracy"].mean()
