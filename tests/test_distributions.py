"""The shared probabilistic core against closed forms, scipy, and Monte Carlo."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from trajvae.core import distributions as D
from trajvae.core.objectives import elbo_terms, importance_weighted_bound


def test_gaussian_log_prob_matches_scipy():
  rng = np.random.default_rng(0)
  x, mean, std = rng.normal(size=(3, 5, 4)).astype(np.float32)
  std = np.abs(std) + 0.1
  expected = stats.norm.logpdf(x, mean, std).sum(-1)
  np.testing.assert_allclose(D.gaussian_log_prob(x, mean, std), expected, rtol=1e-5)
  np.testing.assert_allclose(D.standard_normal_log_prob(x), stats.norm.logpdf(x).sum(-1), rtol=1e-5)


def test_kl_to_standard_normal_closed_form_matches_monte_carlo():
  mean = jnp.array([0.5, -1.0, 2.0])
  std = jnp.array([0.3, 1.5, 0.8])
  z = D.gaussian_sample(jax.random.key(0), jnp.broadcast_to(mean, (200_000, 3)), jnp.broadcast_to(std, (200_000, 3)))
  monte_carlo = jnp.mean(D.gaussian_log_prob(z, mean, std) - D.standard_normal_log_prob(z))
  assert float(D.kl_to_standard_normal(mean, std)) == pytest.approx(float(monte_carlo), rel=0.01)


def test_kl_between_gaussians_closed_form_matches_monte_carlo():
  mq, sq = jnp.array([0.1, 1.0]), jnp.array([0.5, 2.0])
  mp, sp = jnp.array([-0.4, 0.3]), jnp.array([1.2, 0.7])
  z = D.gaussian_sample(jax.random.key(1), jnp.broadcast_to(mq, (200_000, 2)), jnp.broadcast_to(sq, (200_000, 2)))
  monte_carlo = jnp.mean(D.gaussian_log_prob(z, mq, sq) - D.gaussian_log_prob(z, mp, sp))
  assert float(D.kl_gaussians(mq, sq, mp, sp)) == pytest.approx(float(monte_carlo), rel=0.01)
  assert float(D.kl_gaussians(mq, sq, jnp.zeros(2), jnp.ones(2))) == pytest.approx(
    float(D.kl_to_standard_normal(mq, sq))
  )


def test_bernoulli_and_categorical_log_probs():
  logits = jnp.array([[-30.0, 0.0, 2.0]])
  x = jnp.array([[0.0, 1.0, 1.0]])
  expected = math.log(1 - 1 / (1 + math.exp(30))) + math.log(0.5) + math.log(1 / (1 + math.exp(-2)))
  assert float(D.bernoulli_log_prob(x, logits)[0]) == pytest.approx(expected, abs=1e-6)
  cat_logits = jnp.log(jnp.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]]))
  np.testing.assert_allclose(D.categorical_log_prob(jnp.array([2, 0]), cat_logits), np.log([0.5, 0.6]), rtol=1e-6)


def test_reparameterised_gradient_is_unbiased():
  """Mean of d f(mean + std*eps) over eps equals the gradient of the closed-form E[sin z] = sin(m) exp(-s^2/2)."""
  mean, std = jnp.array([0.7]), jnp.array([0.4])

  def estimate(m, s, key):
    z = D.gaussian_sample(key, jnp.broadcast_to(m, (400_000, 1)), jnp.broadcast_to(s, (400_000, 1)))
    return jnp.mean(jnp.sin(z))

  g_mean, g_std = jax.grad(estimate, argnums=(0, 1))(mean, std, jax.random.key(2))
  exact_mean = math.cos(0.7) * math.exp(-0.08)
  exact_std = -0.4 * math.sin(0.7) * math.exp(-0.08)
  assert float(g_mean[0]) == pytest.approx(exact_mean, abs=3e-3)
  assert float(g_std[0]) == pytest.approx(exact_std, abs=3e-3)


def test_free_nats_only_penalise_kl_above_budget():
  terms = elbo_terms(jnp.array([-10.0, -10.0]), jnp.array([1.0, 5.0]), beta=2.0, free_nats=3.0)
  np.testing.assert_allclose(terms.loss, [10.0, 14.0])
  np.testing.assert_allclose(terms.elbo, [-11.0, -15.0])


@pytest.mark.parametrize("num_samples,chunk", [(7, 3), (5000, 500), (1000, 1000), (1, 500)])
def test_importance_weighted_bound_constant_weights(num_samples, chunk):
  bound = importance_weighted_bound(lambda key, n: jnp.full((2, n), -3.25), jax.random.key(0), num_samples, chunk)
  np.testing.assert_allclose(bound, [-3.25, -3.25], rtol=1e-6)


def test_importance_weighted_bound_converges_to_log_mean_weight():
  """log w ~ N(m, s^2) so log E[w] = m + s^2/2; with k=5000 in chunks the bound is close."""
  m, s = -2.0, 0.5
  bound = importance_weighted_bound(
    lambda key, n: m + s * jax.random.normal(key, (64, n)), jax.random.key(3), 5000, 512
  )
  assert float(jnp.mean(bound)) == pytest.approx(m + s**2 / 2, abs=0.01)
  # Far above E[log w] = m, the k = 1 bound.
  assert float(jnp.mean(bound)) > m + 0.1


def test_importance_weighted_bound_rejects_zero_samples():
  with pytest.raises(ValueError, match="num_samples"):
    importance_weighted_bound(lambda key, n: jnp.zeros((1, n)), jax.random.key(0), 0)
