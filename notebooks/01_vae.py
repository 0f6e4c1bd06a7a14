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
# # The variational auto-encoder, by running it
#
# Kingma & Welling's VAE on the 8x8 digits that ship with scikit-learn. We train
# a model with a 2-D latent space, then open it up: what the encoder outputs,
# how the reparameterisation trick makes sampling differentiable, the two terms
# of the ELBO, and the latent manifold of the paper's Fig. 4.
#
# Set `SMOKE=1` in the environment for a seconds-long run (the tests do). Figures
# show below their cells and are saved, with the run, in `runs/notebooks/01_vae/`
# of the repository (`NOTEBOOK_OUT=folder` puts them elsewhere).

# %%
# %matplotlib inline
import os
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from trajvae.config import override
from trajvae.core.distributions import gaussian_sample, kl_to_standard_normal
from trajvae.figures import new_figure, save_figure
from trajvae.vae import commands, objective, plots
from trajvae.vae.data import load_dataset

SMOKE = os.environ.get("SMOKE") == "1"
ROOT = pathlib.Path.cwd().parent if pathlib.Path.cwd().name == "notebooks" else pathlib.Path.cwd()
OUT = pathlib.Path(
  os.environ.get("NOTEBOOK_OUT", ROOT / "runs" / "notebooks" / ("01_vae-smoke" if SMOKE else "01_vae"))
)
OUT.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## Train
# The `digits-2d` preset is the paper's model at digits scale: one tanh hidden
# layer in encoder and decoder, Bernoulli pixels, Adagrad, minibatches of 100,
# one latent sample per image.

# %%
config = commands.PRESETS["digits-2d"]()
config = override(config, ["train.steps=400" if SMOKE else "train.steps=20000", "train.eval_every=0"])
workdir = OUT / "run"
commands.train(config, workdir, verbose=not SMOKE)
run = commands.load_run(workdir)
config, step, model = run.config, run.step, run.model()
data = load_dataset(config.data)
print(f"trained {step} steps on {len(data.train_images)} images of {data.image_shape}")

# %% [markdown]
# ## The encoder outputs a distribution per latent dimension
# For each image, q(z|x) is a diagonal Gaussian: a mean and a standard deviation
# for each latent dimension. Images of the same digit land near each other.

# %%
x = jnp.asarray(data.test_images[:5])
mean, std = model.encode(x)
for label, m, s in zip(data.test_labels[:5], np.asarray(mean), np.asarray(std)):
  print(f"digit {label}: mean {np.round(m, 2)}, std {np.round(s, 3)}")

# %% [markdown]
# ## Reparameterisation
# z = mean + std * eps with eps ~ N(0, I) moves the randomness out of the
# parameters' way: the gradient of a sample with respect to the mean is 1 and
# with respect to the std is eps itself.

# %%
eps_key = jax.random.key(0)
grad_mean, grad_std = jax.grad(lambda m, s: gaussian_sample(eps_key, m, s).sum(), argnums=(0, 1))(mean[0], std[0])
eps = jax.random.normal(eps_key, mean[0].shape)
print("d z / d mean:", grad_mean, " d z / d std:", grad_std, " eps:", eps)

# %% [markdown]
# ## The two terms of the ELBO
# ELBO = E_q[log p(x|z)] - KL(q(z|x) || p(z)). The first rewards faithful
# reconstructions; the second, computed in closed form, is the price in nats of
# moving the posterior away from the prior. The importance-weighted bound with
# k samples tightens the ELBO towards log p(x).

# %%
terms = objective.elbo(model, jnp.asarray(data.test_images), jax.random.key(1))
iwae = objective.iwae_log_likelihood(model, jnp.asarray(data.test_images), jax.random.key(2), 100 if SMOKE else 5000)
print(f"reconstruction log-likelihood {float(terms.log_likelihood.mean()):.2f} nats")
print(
  f"KL to the prior               {float(terms.kl.mean()):.2f} nats "
  f"(closed form check: {float(kl_to_standard_normal(mean, std).mean()):.2f} on 5 images)"
)
print(f"ELBO                          {float(terms.elbo.mean()):.2f} nats")
print(f"IWAE log p(x)                 {float(iwae.mean()):.2f} nats")

fig = new_figure(5, 3)
ax = fig.subplots()
ax.hist(-np.asarray(terms.log_likelihood), bins=30, alpha=0.7, label="-log p(x|z)")
ax.hist(np.asarray(terms.kl), bins=30, alpha=0.7, label="KL(q || p)")
ax.set_xlabel("nats")
ax.legend()
save_figure(fig, OUT / "elbo_terms.png")
fig

# %% [markdown]
# ## The latent manifold
# Decoding a grid of latent points spaced by the inverse Gaussian CDF shows
# everything the 2-D code has learnt, as in the paper's Fig. 4.

# %%
grid = 15
z = jnp.asarray(plots.manifold_latents(grid, config.model.latent_dim))
fig = plots.plot_image_grid(np.asarray(model.decode_mean(z)).reshape(-1, 8, 8), grid, grid, "manifold")
save_figure(fig, OUT / "manifold.png")
fig

# %% [markdown]
# The posterior means of the test images, coloured by digit: the encoder sorts
# the classes into regions of the 2-D code without ever seeing a label.

# %%
fig = plots.plot_latent_scatter(np.asarray(model.encode(jnp.asarray(data.test_images))[0]), data.test_labels)
save_figure(fig, OUT / "scatter.png")
print("pictures in", OUT)
fig
