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
# # SeCTAR, by running it
#
# Co-Reyes et al.'s self-consistent trajectory autoencoder on the 2D waypoint
# task. A trajectory VAE (encoder over state segments, a state decoder that
# predicts T = 19 states from z and s_0, a policy decoder pi(a | s, z)) is
# trained on segments an explorer collects; a consistency PPO makes the policy
# decoder do what the state decoder predicts. The task is then solved by
# planning in latent space: random shooting over latent sequences decoded by
# the state decoder, each chosen latent executed by the policy decoder.
#
# The outer loop (the authors' Algorithm 1) per iteration: MPC task episodes ->
# exploration from the states they visited (reward: the VAE's -ELBO of each
# segment) -> buffer -> fit (VAE+BC minibatches, consistency PPO updates).
#
# Set `SMOKE=1` in the environment for a seconds-long run (the tests do). Figures
# show below their cells and are saved, with the run, in `runs/notebooks/03_sectar/`
# of the repository (`NOTEBOOK_OUT=folder` puts them elsewhere).

# %%
# %matplotlib inline
import json
import os
import pathlib

import jax
from IPython.display import display

from trajvae.config import override
from trajvae.figures import new_figure, save_figure
from trajvae.sectar import commands, plots
from trajvae.train.metrics import read_metrics

SMOKE = os.environ.get("SMOKE") == "1"
ROOT = pathlib.Path.cwd().parent if pathlib.Path.cwd().name == "notebooks" else pathlib.Path.cwd()
OUT = pathlib.Path(
  os.environ.get("NOTEBOOK_OUT", ROOT / "runs" / "notebooks" / ("03_sectar-smoke" if SMOKE else "03_sectar"))
)
OUT.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## Train
# `waypoint_cpu` is the authors' waypoint setting shrunk for a 2-core CPU
# (64-unit networks, K = 256 latent sequences of H = 4, 4 MPC episodes and 32
# explorer rollouts per iteration); `smoke` is tinier still.

# %%
config = commands.PRESETS["smoke" if SMOKE else "waypoint_cpu"]()
if not SMOKE:
  config = override(config, ["train.iterations=20"])
workdir = OUT / "run"
commands.train(config, workdir, verbose=not SMOKE)
records = read_metrics(workdir)
for r in records[:: max(1, len(records) // 8)]:
  print(
    f"iteration {r['step']:3d}: env steps {r['env_steps']:8.0f}  task reward {r['task_reward']:.2f}  "
    f"VAE loss {r['vae_loss']:.1f}  consistency {r['consistency_reward']:.2f}  explorer -ELBO {r['explore_neg_elbo']:.1f}"
  )

# %% [markdown]
# ## Learning curve
# The task reward of each iteration's MPC episodes (the metric the paper plots)
# against the env steps used so far (MPC + exploration + consistency PPO).

# %%
fig = new_figure(12, 3)
x = [r["env_steps"] for r in records]
for ax, key in zip(fig.subplots(1, 3), ["task_reward", "vae_loss", "consistency_reward"]):
  ax.plot(x, [r[key] for r in records], "-o", ms=3)
  ax.set_xlabel("env steps")
  ax.set_title(key)
save_figure(fig, OUT / "sectar_curves.png", dpi=90)
fig

# %% [markdown]
# ## Self-consistency and planning, made visible
# First picture: for latents z ~ N(0, I) from buffer start states, the state
# decoder's predicted segment (dashed) against the policy decoder's actual
# rollout with the same z (solid). Consistency training pulls them together.
# Second picture: an MPC episode: the first plan, the decoder's prediction of each
# executed segment, and the path actually executed, among the waypoints (every
# 3rd one pays +1). `trajvae sample sectar` draws the same two pictures.

# %%
run = commands.load_run(workdir)
key = jax.random.key(0)
fig = plots.plot_consistency(*commands.consistency_rollouts(run, 8, key), run.stages.env)
save_figure(fig, OUT / "consistency.png", dpi=100)
display(fig)
episode = commands.planned_episode(run, jax.random.fold_in(key, 1))
fig = plots.plot_mpc_episode(
  episode["start"], episode["executed"], episode["predicted"], episode["first_plan"], episode["reward"], episode["env"]
)
save_figure(fig, OUT / "mpc_episode.png", dpi=100)
display(fig)

# %% [markdown]
# ## Task reward on the five task configurations
# Fresh MPC episodes with the trained model on each of the authors' waypoint
# task configurations (the model never saw tasks 1-4 during training).

# %%
results = commands.evaluate(workdir, ["eval.tasks=0,1"] if SMOKE else [])
print(json.dumps({t: round(v["mean"], 2) for t, v in results["tasks"].items()}))
