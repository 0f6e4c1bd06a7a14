"""Latent-variable structured prediction with Gaussian perturbations (Bello & Honorio, NeurIPS 2018).

A linear score <phi(x, y, h), w> over structured outputs y and latent variables h; prediction
takes the best-scoring (y, h). Two learners fit w: the classic latent structural SVM (Yu &
Joachims 2009, concave-convex alternation) and the randomized learner of Bello & Honorio, which
replaces the maximum over all (y, h) with a maximum over a few pairs drawn from a proposal
distribution. `gibbs` scores the Gibbs decoder w' ~ N(w, sigma^2 I) that the PAC-Bayes bound
is about. See docs/structured.md for the loss as implemented and where it may differ.

Modules: `problem` (the interface), `synthetic` and `alignment` (two problems), `losses`,
`solver` (Pegasos stochastic subgradient), `learners`, `gibbs`, `experiment`.
"""
