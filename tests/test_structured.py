"""Latent structured prediction: exact inference vs brute force, the randomized loss, subgradients,
the proposal sampler, the learners and the Gibbs decoder, and clear errors on bad input."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from trajvae.structured import losses
from trajvae.structured.alignment import PATCH, DigitAlignment, make_alignment_data
from trajvae.structured.configs import LearnerConfig
from trajvae.structured.gibbs import evaluate, pac_bayes_sigma
from trajvae.structured.learners import (
  CompiledLearners,
  fit_direct,
  fit_latent_ssvm,
  fit_randomized,
  num_proposal_samples,
)
from trajvae.structured.problem import brute_force_augmented, brute_force_scores
from trajvae.structured.study import alignment_canvas, study_config
from trajvae.structured.synthetic import PlantedMultilabel, make_planted_data

SYNTHETIC = PlantedMultilabel(num_bits=3, num_views=5, view_dim=4, proposal_bit_prob=0.3)
ALIGNMENT = DigitAlignment(canvas=10, num_classes=4)  # |Y| = 4, |H| = 9
# The alignment problem's brute-force checks take tens of seconds each on CPU: slow tier.
PROBLEMS = [SYNTHETIC, pytest.param(ALIGNMENT, marks=pytest.mark.slow)]
IDS = ["synthetic", "alignment"]
NUM_CASES = 24


def random_cases(problem, seed: int, num: int = NUM_CASES):
  """num random (w, x, y): w large enough that some margins exceed 1 and others do not."""
  key_w, key_x, key_y = jax.random.split(jax.random.key(seed), 3)
  ws = 6.0 * jax.random.normal(key_w, (num, problem.feature_dim))
  if isinstance(problem, DigitAlignment):
    xs = jax.random.uniform(key_x, (num, *problem.input_shape))
  else:
    xs = jax.random.normal(key_x, (num, *problem.input_shape))
  ys = problem.enumerate_outputs()[jax.random.randint(key_y, (num,), 0, problem.num_outputs)]
  return ws, xs, ys


@pytest.mark.parametrize("problem", PROBLEMS, ids=IDS)
def test_exact_inference_matches_brute_force(problem):
  ws, xs, ys = random_cases(problem, 0)

  def check(w, x, y):
    reference = brute_force_scores(problem, w, x)
    row = reference[jnp.argmax(jnp.all((problem.enumerate_outputs() == y).reshape(problem.num_outputs, -1), axis=1))]
    y_hat, h_hat = problem.argmax(w, x)
    return (
      jnp.max(jnp.abs(problem.all_scores(w, x) - reference)),
      problem.score(w, x, y_hat, h_hat) - jnp.max(reference),
      jnp.max(jnp.abs(problem.latent_scores(w, x, y) - row)),
      problem.score(w, x, y, problem.impute(w, x, y)) - jnp.max(row),
    )

  scores_err, argmax_gap, latent_err, impute_gap = jax.jit(jax.vmap(check))(ws, xs, ys)
  assert float(jnp.max(scores_err)) < 1e-4
  np.testing.assert_allclose(argmax_gap, 0.0, atol=1e-5)  # the returned pair attains the brute-force maximum
  assert float(jnp.max(latent_err)) < 1e-4
  np.testing.assert_allclose(impute_gap, 0.0, atol=1e-5)


@pytest.mark.parametrize("rescaling", ["slack", "margin"])
@pytest.mark.parametrize("problem", PROBLEMS, ids=IDS)
def test_loss_augmented_inference_matches_brute_force(problem, rescaling):
  ws, xs, ys = random_cases(problem, 1)
  offsets = jnp.linspace(-1.5, 1.5, NUM_CASES)  # true scores around the competitors' scores

  def check(w, x, y, offset):
    t = losses.true_score(problem, w, x, y) + offset
    reference = brute_force_augmented(problem, w, x, y, t, rescaling)
    y_hat, h_hat = problem.loss_augmented_argmax(w, x, y, t, rescaling)
    found = losses.rescaled_violation(problem.distortion(y, y_hat), problem.score(w, x, y_hat, h_hat), t, rescaling)
    return found - jnp.max(reference), jnp.max(reference)

  gap, best = jax.jit(jax.vmap(check))(ws, xs, ys, offsets)
  np.testing.assert_allclose(gap, 0.0, atol=1e-5)
  assert float(jnp.max(best)) > 0.1  # the cases include real violations, not only all-zero objectives


@pytest.mark.parametrize("problem", PROBLEMS, ids=IDS)
def test_randomized_loss_is_a_max_over_a_subset_of_the_full_loss(problem):
  ws, xs, ys = random_cases(problem, 2)
  keys = jax.random.split(jax.random.key(3), NUM_CASES)
  all_ys, all_hs = losses.whole_space_sample(problem)

  def check(w, x, y, key):
    full = losses.full_latent_loss(problem, w, x, y)
    sample_ys, sample_hs = problem.sample_proposal(key, x, 4)
    sampled = losses.randomized_latent_loss(problem, w, x, y, sample_ys, sample_hs)
    whole = losses.randomized_latent_loss(problem, w, x, y, all_ys, all_hs)
    return full, sampled, whole

  full, sampled, whole = jax.jit(jax.vmap(check))(ws, xs, ys, keys)
  assert np.all(np.asarray(sampled) <= np.asarray(full) + 1e-6)
  np.testing.assert_allclose(whole, full, atol=1e-5)
  assert np.any(np.asarray(sampled) < np.asarray(full) - 1e-3)  # a strict subset does miss the maximum sometimes
  assert np.any(np.asarray(full) > 0.1)


@pytest.mark.slow
@pytest.mark.parametrize("problem", PROBLEMS, ids=IDS)
def test_subgradients_match_finite_differences(problem):
  ws, xs, ys = random_cases(problem, 4)
  keys = jax.random.split(jax.random.key(5), NUM_CASES)
  directions = jax.random.normal(jax.random.key(6), ws.shape)
  directions = directions / jnp.linalg.norm(directions, axis=1, keepdims=True)
  eps = 1e-2

  def loss_fns(x, y, key):
    sample_ys, sample_hs = problem.sample_proposal(key, x, 8)
    h_fixed = jnp.asarray(0)
    return (
      lambda w: losses.full_latent_loss(problem, w, x, y),
      lambda w: losses.full_latent_loss(problem, w, x, y, h_fixed, "margin"),
      lambda w: losses.randomized_latent_loss(problem, w, x, y, sample_ys, sample_hs),
    )

  def check(w, x, y, key, v):
    out = []
    for f in loss_fns(x, y, key):
      value, grad = jax.value_and_grad(f)(w)
      forward = (f(w + eps * v) - value) / eps
      backward = (value - f(w - eps * v)) / eps
      out.append(jnp.stack([value, grad @ v, forward, backward]))
    return jnp.stack(out)

  results = np.asarray(jax.jit(jax.vmap(check))(ws, xs, ys, keys, directions))  # [case, loss, 4]
  value, directional, forward, backward = np.moveaxis(results, -1, 0)
  smooth = (np.abs(forward - backward) < 1e-3) & (value > 1e-3)  # no kink within eps, loss active
  assert smooth.sum() >= NUM_CASES  # enough differentiable cases across the three losses
  np.testing.assert_allclose(directional[smooth], 0.5 * (forward + backward)[smooth], atol=2e-3, rtol=1e-2)


@pytest.mark.parametrize("problem", PROBLEMS, ids=IDS)
def test_proposal_sampler_matches_its_stated_distribution(problem):
  x = random_cases(problem, 7, num=1)[1][0]
  num = 40_000
  sample_ys, sample_hs = jax.jit(problem.sample_proposal, static_argnums=2)(jax.random.key(8), x, num)
  outputs = problem.enumerate_outputs().reshape(problem.num_outputs, -1)
  y_index = np.argmax(np.all(np.asarray(sample_ys).reshape(num, 1, -1) == np.asarray(outputs)[None], axis=-1), axis=1)
  counts = np.bincount(
    y_index * problem.num_latents + np.asarray(sample_hs), minlength=problem.num_outputs * problem.num_latents
  )
  stated = np.asarray(problem.proposal_probs(x), np.float64).ravel()
  assert abs(stated.sum() - 1.0) < 1e-6
  stated = stated / stated.sum()
  assert stats.chisquare(counts, num * stated).pvalue > 1e-3
  # The test has power: a slightly different distribution is rejected on the same counts.
  tilted = stated * (1.0 + 0.15 * (np.arange(stated.size) % 2 == 0))
  assert stats.chisquare(counts, num * tilted / tilted.sum()).pvalue < 1e-6


@pytest.mark.slow
def test_learners_fit_planted_data_and_agree_on_objective():
  problem = PlantedMultilabel(num_bits=4, num_views=4, view_dim=6)
  data = make_planted_data(problem, seed=0, num_train=120, num_test=200, label_noise=0.0, salience=3.0)
  config = LearnerConfig(epochs=12, outer_iterations=3, seed=0)
  chance = evaluate(
    problem, np.zeros(problem.feature_dim) + 1e-3, data.test_x, data.test_y, sigma=0.0, num_draws=0
  ).distortion
  for fit in (fit_latent_ssvm, fit_direct, fit_randomized):
    result = fit(problem, data.train_x, data.train_y, config, trace=True)
    test = evaluate(problem, result.w, data.test_x, data.test_y, sigma=0.0, num_draws=0, hs=data.test_h)
    assert test.distortion < 0.15 and chance > 0.3, (result.method, test.distortion, chance)
    # The full objective (at w0 ~ 0 it is about 1) ends low, below where the first epoch left it.
    assert result.trace.shape == (12,) and result.trace[-1] < min(0.45, result.trace[0]), result.trace
  assert result.num_samples == num_proposal_samples(120, config) == math.ceil(2.0 * math.log(120))


@pytest.mark.slow
def test_gibbs_decoder_interpolates_between_plain_and_chance():
  problem = PlantedMultilabel(num_bits=4, num_views=4, view_dim=6)
  data = make_planted_data(problem, seed=1, num_train=10, num_test=300)
  w = data.w_true
  exact = evaluate(problem, w, data.test_x, data.test_y, sigma=1e-6, num_draws=4, hs=data.test_h)
  assert exact.distortion == 0.0 and exact.gibbs_distortion == 0.0 and exact.latent_accuracy == 1.0
  small = evaluate(problem, w, data.test_x, data.test_y, sigma=0.02 * np.linalg.norm(w), num_draws=8)
  large = evaluate(problem, w, data.test_x, data.test_y, sigma=100.0 * np.linalg.norm(w), num_draws=8)
  assert 0.0 < small.gibbs_distortion < large.gibbs_distortion
  assert abs(large.gibbs_distortion - 0.5) < 0.05  # a random w' gets half the bits wrong
  sigmas = [pac_bayes_sigma(500, 64, h, 100.0) for h in (4, 64, 1024)]
  assert sigmas[0] > sigmas[1] > sigmas[2] > 0  # more latents: less noise allowed, only logarithmically


def test_a_caller_owned_cache_compiles_each_learner_once_per_shape():
  data = make_planted_data(SYNTHETIC, seed=0, num_train=30, num_test=10, label_noise=0.0, salience=3.0)
  compiled = CompiledLearners()
  config = LearnerConfig(epochs=2, outer_iterations=1, seed=0)
  first = fit_randomized(SYNTHETIC, data.train_x, data.train_y, config, compiled=compiled)
  again = fit_randomized(
    SYNTHETIC, data.train_x, data.train_y, LearnerConfig(epochs=2, outer_iterations=1, seed=1), compiled=compiled
  )  # the seed is not static: same executable, other draws
  assert len(compiled.executables) == 1 and not np.allclose(first.w, again.w)
  fit_latent_ssvm(SYNTHETIC, data.train_x, data.train_y, config, compiled=compiled)
  assert len(compiled.executables) == 2
  alone = fit_randomized(SYNTHETIC, data.train_x, data.train_y, config)  # no cache given: compiles for itself
  np.testing.assert_array_equal(alone.w, first.w)
  assert len(compiled.executables) == 2


def test_alignment_data_places_the_digit_at_its_latent_shift():
  problem = DigitAlignment(canvas=12)
  data = make_alignment_data(problem, seed=0, num_train=20, num_test=5, noise=0.0)
  windows = jax.vmap(problem._window)(jnp.asarray(data.train_x), jnp.asarray(data.train_h))
  assert np.allclose(np.asarray(windows).sum(1), data.train_x.reshape(20, -1).sum(1), atol=1e-4)  # all ink inside
  assert data.train_x.shape == (20, 12, 12) and set(data.train_y) <= set(range(10))
  assert problem.num_latents == (12 - PATCH + 1) ** 2 == 25


def test_bad_input_gives_clear_errors():
  problem = PlantedMultilabel(num_bits=3, num_views=4, view_dim=5)
  data = make_planted_data(problem, seed=0, num_train=8, num_test=4)
  with pytest.raises(ValueError, match="feature-dimension mismatch"):
    evaluate(problem, np.zeros(problem.feature_dim + 1), data.test_x, data.test_y, sigma=0.1)
  with pytest.raises(ValueError, match="empty proposal"):
    LearnerConfig(num_samples=0)
  with pytest.raises(ValueError, match="empty or ragged proposal"):
    losses.randomized_latent_loss(
      problem,
      jnp.zeros(problem.feature_dim),
      jnp.asarray(data.train_x[0]),
      jnp.asarray(data.train_y[0]),
      jnp.zeros((0, 3), jnp.int32),
      jnp.zeros((0,), jnp.int32),
    )
  with pytest.raises(ValueError, match="proposal covers Y"):
    PlantedMultilabel(proposal_bit_prob=0.0)
  bad_bits = data.train_y.copy()
  bad_bits[2, 1] = 2
  with pytest.raises(ValueError, match="labels outside the output space.*index 2"):
    fit_randomized(problem, data.train_x, bad_bits)
  with pytest.raises(ValueError, match="labels have shape"):
    fit_latent_ssvm(problem, data.train_x, data.train_y[:, :2])
  with pytest.raises(ValueError, match="inputs have shape"):
    fit_latent_ssvm(problem, data.train_x[:, :, :3], data.train_y)
  digits = DigitAlignment(canvas=9, num_classes=4)
  with pytest.raises(ValueError, match="labels outside the output space"):
    digits.check_labels(np.array([0, 3, 4]))
  with pytest.raises(ValueError, match="perfect square"):
    alignment_canvas(10)
  with pytest.raises(ValueError, match="unknown config key"):
    study_config("small", ["learner.lamda=0.1"])
