# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Latent structured prediction with Gaussian perturbations, by running it
#
# Bello & Honorio (NeurIPS 2018) learn a linear score <phi(x, y, h), w> over outputs y and
# latent variables h. The classic latent structural SVM (Yu & Joachims 2009) needs, at every
# step, the best competitor over all of Y x H; their randomized learner takes the best of a few
# pairs drawn from a proposal distribution instead, about log n of them per example. Here we run
# both on one problem, digit alignment: an 8x8 digit sits at an unknown shift h inside a larger
# noisy canvas and y is its class. We look at the data, check the loss that the randomized
# learner minimises, train both learners, and score them with the plain decoder and with the
# Gibbs decoder w' ~ N(w, sigma^2 I) that the PAC-Bayes bound is about.
#
# Set `SMOKE=1` in the environment for a seconds-long run (the tests do). Figures
# show below their cells and are saved in `runs/notebooks/04_structured/` of the
# repository (`NOTEBOOK_OUT=folder` puts them elsewhere).

# %%
# %matplotlib inline
import dataclasses
import os
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
from IPython.display import display
from matplotlib.patches import Rectangle

from trajvae.figures import new_figure, save_figure
from trajvae.structured import configs, losses, study
from trajvae.structured.alignment import PATCH, DigitAlignment, make_alignment_data
from trajvae.structured.configs import LearnerConfig
from trajvae.structured.gibbs import evaluate, pac_bayes_sigma
from trajvae.structured.learners import fit_latent_ssvm, fit_randomized, num_proposal_samples

SMOKE = os.environ.get("SMOKE") == "1"
ROOT = pathlib.Path.cwd().parent if pathlib.Path.cwd().name == "notebooks" else pathlib.Path.cwd()
OUT = pathlib.Path(
  os.environ.get("NOTEBOOK_OUT", ROOT / "runs" / "notebooks" / ("04_structured-smoke" if SMOKE else "04_structured"))
)
OUT.mkdir(parents=True, exist_ok=True)

CANVAS = 10 if SMOKE else 16  # |H| = (CANVAS - 7)^2 shifts: 9 or 81
NUM_TRAIN, NUM_TEST = (60, 60) if SMOKE else (800, 500)
config = LearnerConfig(epochs=6, outer_iterations=2) if SMOKE else LearnerConfig(epochs=40, outer_iterations=4)

# %% [markdown]
# ## The data: digits at an unknown shift
# Each canvas holds one scikit-learn digit (bundled, no download) at a uniformly random shift,
# turned by up to 10 degrees (a nuisance the model does not represent), plus pixel noise. The
# red box is the true latent h, which the learners never see.

# %%
problem = DigitAlignment(canvas=CANVAS)
data = make_alignment_data(problem, seed=0, num_train=NUM_TRAIN, num_test=NUM_TEST, noise=0.1, max_rotation_deg=10.0)
print(f"|Y| = {problem.num_outputs}, |H| = {problem.num_latents}, phi has {problem.feature_dim} dimensions")

fig = new_figure(10, 3.8)
for ax, x, y, h in zip(fig.subplots(2, 6).ravel(), data.train_x, data.train_y, data.train_h):
  row, col = divmod(int(h), problem.shifts_per_axis)
  ax.imshow(x, cmap="gray_r", vmin=0, vmax=1)
  ax.add_patch(Rectangle((col - 0.5, row - 0.5), PATCH, PATCH, fill=False, color="red", lw=1.2))
  ax.set(title=f"y={y}, h={h}", xticks=[], yticks=[])
save_figure(fig, OUT / "alignment_examples.png", dpi=100)
fig

# %% [markdown]
# ## The randomized loss is a maximum over a subset
# The slack-rescaled latent-margin loss of one example is
# `max over (y', h') of d(y, y') * max(0, 1 - m)`, with the latent margin
# `m = max_h <phi(x, y, h), w> - <phi(x, y', h'), w>`. The full loss maximises over all of
# Y x H, the randomized one over T pairs from the proposal (uniform here), so it can only be
# smaller, and with Y x H itself as the "sample" the two agree. T grows like log n.

# %%
T = num_proposal_samples(NUM_TRAIN, config)
print(f"T = ceil(2 log n) = {T} sampled pairs per example, out of |Y||H| = {problem.num_outputs * problem.num_latents}")
w_random = 5.0 * jax.random.normal(jax.random.key(0), (problem.feature_dim,))
xs, ys = jnp.asarray(data.train_x[:64]), jnp.asarray(data.train_y[:64])
sample_keys = jax.random.split(jax.random.key(1), len(xs))
whole_ys, whole_hs = losses.whole_space_sample(problem)


@jax.jit
def three_losses(w, x, y, key):
  sample_ys, sample_hs = problem.sample_proposal(key, x, T)
  return (
    losses.full_latent_loss(problem, w, x, y),
    losses.randomized_latent_loss(problem, w, x, y, sample_ys, sample_hs),
    losses.randomized_latent_loss(problem, w, x, y, whole_ys, whole_hs),
  )


full, sampled, whole = map(np.asarray, jax.vmap(three_losses, in_axes=(None, 0, 0, 0))(w_random, xs, ys, sample_keys))
print(
  f"randomized <= full on all {len(xs)} examples: {bool(np.all(sampled <= full + 1e-6))}; "
  f"whole-space sample equals full: {bool(np.allclose(whole, full, atol=1e-5))}; "
  f"mean full {full.mean():.3f}, mean randomized {sampled.mean():.3f}"
)

# %% [markdown]
# ## Train both learners
# Both minimise lam/2 ||w||^2 + mean loss with the same Pegasos stochastic-subgradient solver,
# compiled once and vmapped over each minibatch. The classic learner alternates: impute the best
# shift for every true class, then a convex structural-SVM phase with exact loss-augmented
# inference over all (y', h'). The randomized learner steps on its sampled loss directly. The
# trace is the full (exact) training objective after each epoch, for both.

# %%
classic = fit_latent_ssvm(problem, data.train_x, data.train_y, config, trace=True)
randomized = fit_randomized(problem, data.train_x, data.train_y, config, trace=True)
fig = new_figure(5.5, 3.5)
ax = fig.subplots()
for result in (classic, randomized):
  ax.plot(
    np.arange(1, len(result.trace) + 1),
    result.trace,
    marker="o",
    ms=3,
    label=f"{result.method}: {result.train_seconds:.2f} s",
  )
ax.set(xlabel="epoch", ylabel="full training objective", title="lam/2 ||w||^2 + mean full latent loss")
ax.legend()
save_figure(fig, OUT / "objective.png", dpi=100)
print(
  f"training time without compilation, with the per-epoch full objective traced (which costs the same for both): "
  f"classic {classic.train_seconds:.2f} s, randomized {randomized.train_seconds:.2f} s"
)
fig

# %% [markdown]
# ## Plain and Gibbs decoders
# The Gibbs decoder predicts with w' ~ N(w, sigma^2 I), a fresh draw per prediction. At the
# PAC-Bayes choice sigma = 1 / sqrt(2 log(n |Y| |H| / ||w||^2)) its expected distortion is
# what the bound controls; the plain decoder is its sigma -> 0 limit. The learned templates
# show what each method aligned the digits to.

# %%
results = {}
for result in (classic, randomized):
  sigma = pac_bayes_sigma(NUM_TRAIN, problem.num_outputs, problem.num_latents, float(result.w @ result.w))
  results[result.method] = evaluate(
    problem, result.w, data.test_x, data.test_y, sigma=sigma, num_draws=4 if SMOKE else 50, hs=data.test_h
  )
  e = results[result.method]
  print(
    f"{result.method:16s} test distortion {e.distortion:.3f}, Gibbs {e.gibbs_distortion:.3f} ± {e.gibbs_stderr:.3f} "
    f"(sigma {e.sigma:.3f}, ||w|| {np.linalg.norm(result.w):.1f}), shift recovered on {e.latent_accuracy:.0%}"
  )

fig = new_figure(12, 2.8)
for row, result in zip(fig.subplots(2, problem.num_classes), (classic, randomized)):
  templates = result.w.reshape(problem.num_classes, -1)[:, :-1].reshape(-1, PATCH, PATCH)
  for digit, ax in enumerate(row):
    ax.imshow(templates[digit], cmap="RdBu_r", vmin=-np.abs(templates).max(), vmax=np.abs(templates).max())
    ax.set(xticks=[], yticks=[])
    ax.set_title(str(digit), fontsize=8)
  row[0].set_ylabel(result.method, fontsize=8)
save_figure(fig, OUT / "templates.png", dpi=100)
fig

# %% [markdown]
# How fast does the Gibbs decoder degrade with the noise level? The decoder is invariant to the
# scale of w, so we sweep sigma relative to ||w|| / sqrt(dim); the dotted lines mark the
# PAC-Bayes sigma of each method.

# %%
relative = np.array([0.05, 0.2, 0.5, 1.0] if SMOKE else [0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5])
fig = new_figure(5.5, 3.5)
ax = fig.subplots()
for result, color in zip((classic, randomized), ("tab:blue", "tab:orange")):
  unit = np.linalg.norm(result.w) / np.sqrt(problem.feature_dim)
  curve = [
    evaluate(problem, result.w, data.test_x, data.test_y, sigma=r * unit, num_draws=4 if SMOKE else 20).gibbs_distortion
    for r in relative
  ]
  ax.plot(relative, curve, marker="o", color=color, label=result.method)
  ax.axvline(results[result.method].sigma / unit, color=color, ls=":")
ax.set(xscale="log", xlabel="sigma / (||w|| / sqrt(dim))", ylabel="Gibbs test distortion")
ax.legend()
save_figure(fig, OUT / "gibbs_sigma.png", dpi=100)
fig

# %% [markdown]
# ## Growing the latent space
# The experiment script (`make experiment-structured`) repeats this over |H|, n and seeds for
# both problems. A small version for this problem alone:

# %%
sweep = dataclasses.replace(
  configs.PRESETS["small"](),
  problems=("alignment",),
  alignment_latents=(9,) if SMOKE else (9, 25, 81, 225),
  train_sizes=(60,) if SMOKE else (400,),
  test_size=60 if SMOKE else 400,
  seeds=(0,) if SMOKE else (0, 1),
  gibbs_draws=4 if SMOKE else 20,
  learner=config,
  alignment=configs.AlignmentConfig(noise=0.1, max_rotation_deg=10.0),
)
rows = study.summarize(study.run(sweep))
print(study.markdown_table(rows))
for name in study.problems(rows):
  fig = study.plot_problem(rows, name)
  save_figure(fig, OUT / f"structured_{name}.png", dpi=110)
  display(fig)
print("pictures in", OUT)
