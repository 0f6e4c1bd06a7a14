"""Shared probabilistic core: distributions and variational objectives."""

from trajvae.core.distributions import (
  bernoulli_log_prob,
  categorical_log_prob,
  gaussian_log_prob,
  gaussian_sample,
  kl_gaussians,
  kl_to_standard_normal,
)
from trajvae.core.objectives import ElboTerms, elbo_terms, importance_weighted_bound

__all__ = [
  "ElboTerms",
  "bernoulli_log_prob",
  "categorical_log_prob",
  "elbo_terms",
  "gaussian_log_prob",
  "gaussian_sample",
  "importance_weighted_bound",
  "kl_gaussians",
  "kl_to_standard_normal",
]
