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
# # MusicVAE on folk tunes
#
# A small 2-bar melody MusicVAE trained on the folk tunes and chorales that ship
# inside music21 (no download). We train it, sample new melodies, interpolate
# between two held-out melodies through latent space, and look at everything as
# piano rolls. MIDI files are written next to the pictures.
#
# Set `SMOKE=1` in the environment for a seconds-long run on a few dozen tunes (the tests do).
# Figures show below their cells and are saved, with the run, in
# `runs/notebooks/02_musicvae/` of the repository (`NOTEBOOK_OUT=folder` puts them elsewhere).

# %%
# %matplotlib inline
import os
import pathlib

import jax
import numpy as np
from IPython.display import display

from trajvae.config import override, select_preset
from trajvae.figures import save_figure
from trajvae.music import commands, latent_plots, latent_studies, latent_usage, plots
from trajvae.music.attributes import ATTRIBUTES, LABELS
from trajvae.music.configs import PRESETS
from trajvae.music.data.encodings import get_converter
from trajvae.music.data.loading import load_windows

SMOKE = os.environ.get("SMOKE") == "1"
ROOT = pathlib.Path.cwd().parent if pathlib.Path.cwd().name == "notebooks" else pathlib.Path.cwd()
OUT = pathlib.Path(
  os.environ.get("NOTEBOOK_OUT", ROOT / "runs" / "notebooks" / ("02_musicvae-smoke" if SMOKE else "02_musicvae"))
)
OUT.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## Data
# Melodies are tokens at 16th-note resolution: 0 holds the previous note, 1 is a
# note-off, 2..89 start MIDI pitches 21..108. Windows are 2 bars (32 steps),
# taken with a 1-bar hop, at most 5 per tune.

# %%
if SMOKE:
  config = override(select_preset(PRESETS, "smoke-mel_2bar"), [f"data.data_dir={OUT / 'data'}", "train.steps=30"])
else:
  config = override(select_preset(PRESETS, "cat-mel_2bar_cpu"), ["train.steps=3000"])
train_windows = load_windows(config.data, "train")
test_windows = load_windows(config.data, "test")
print(f"{len(train_windows)} training windows, {len(test_windows)} test windows")
converter = get_converter(config.data.encoding, config.data.num_bars)
fig = plots.plot_piano_rolls(
  [converter.from_tensors(w) for w in test_windows[:4]], [f"test window {i}" for i in range(4)]
)
save_figure(fig, OUT / "data.png")
fig

# %% [markdown]
# ## Train
# The reference's `cat-mel_2bar_small` structure at CPU size: bidirectional LSTM
# encoder, 2-layer LSTM decoder conditioned on z at every step, KL weight
# annealed towards 0.2, scheduled sampling on an inverse-sigmoid schedule.

# %%
workdir = OUT / "run"
commands.train(config, workdir, verbose=not SMOKE)
results = commands.evaluate(workdir)
print(
  f"test: teacher-forced accuracy {results['accuracy_teacher_forced']:.3f}, "
  f"sampled accuracy {results['accuracy_sampled']:.3f}, KL {results['kl_bits']:.1f} bits"
)

# %% [markdown]
# ## Sample, reconstruct, interpolate

# %%
model = commands.load_run(workdir)
samples = model.sample(4, temperature=0.5, key=jax.random.key(0))
fig = plots.plot_piano_rolls([converter.from_tensors(s) for s in samples], [f"sample {i}" for i in range(4)])
save_figure(fig, OUT / "samples.png")
display(fig)
recon = model.reconstruct(test_windows[:2], key=1)
fig = plots.plot_piano_rolls(
  [converter.from_tensors(t) for pair in zip(test_windows[:2], recon) for t in pair],
  ["input", "reconstruction"] * 2,
  columns=2,
)
save_figure(fig, OUT / "reconstructions.png")
display(fig)
path = model.interpolate(test_windows[0], test_windows[len(test_windows) // 2], 5, key=2)
fig = plots.plot_piano_rolls(
  [converter.from_tensors(t) for t in path], [f"t={t:.2f}" for t in np.linspace(0, 1, 5)], columns=5
)
save_figure(fig, OUT / "interpolation.png")
display(fig)

# %% [markdown]
# ## Does the decoder use z?
# Decode each held-out window from its own posterior mean, from another
# window's, and from a prior draw (`trajvae.music.latent_usage`). The gap in
# teacher-forced NLL between "other" and "own" is the latent's use, in bits: near
# 0 means the decoder ignores z (posterior collapse), whatever the KL says. The
# always-hold baseline sits beside the accuracies. `make experiment-musicvae-16bar`
# runs the same measure for the hierarchical and flat 16-bar decoders over seeds.

# %%
usage = latent_usage.summarize(
  latent_usage.latent_usage(
    model.graphdef, model.params, test_windows[: 32 if SMOKE else 256], jax.random.key(6), batch_size=64
  )
)
print(
  f"KL {usage['kl_bits']:.1f} bits, latent use {usage['latent_use_bits']:.1f} bits "
  f"(NLL own {usage['own']['nll_bits']:.1f}, other {usage['other']['nll_bits']:.1f} bits per window)"
)
for code in latent_usage.CODES:
  print(
    f"  z = {code:5s}: sampled accuracy {usage[code]['sampled_accuracy']:.3f}, "
    f"event accuracy {usage[code]['sampled_event_accuracy']:.3f} (always hold {usage['hold_accuracy']:.3f} / 0)"
  )

# %% [markdown]
# ## An attribute vector: note density
# The mean latent of dense windows minus that of sparse ones. Adding it to a
# melody's latent should make the decoding busier.

# %%
vector = model.attribute_vector(test_windows)
_, mu, _ = model.encode(test_windows[:1])
busier = model.decode(np.concatenate([mu, mu + vector]), temperature=1e-3, key=3)
fig = plots.plot_piano_rolls(
  [converter.from_tensors(t) for t in busier], ["decoded mean", "+ note-density vector"], columns=2
)
save_figure(fig, OUT / "attribute.png")
fig

# %% [markdown]
# ## The paper's latent studies (§5), small
# Interpolating between two melodies in latent space (slerp between posterior
# means, then decode) against switching their tokens in proportion (data
# space): how far is each interpolant from both ends, and how plausible is it
# under the model (ELBO)? Then the five attribute vectors, each added to
# held-out encodings: the matrix shows how much every attribute of the
# decodings moves. `make experiment-musicvae-latent` runs both at full size on a
# longer-trained model; its figures are in the README.

# %%
rng = np.random.default_rng(0)
pairs = 8 if SMOKE else 64
starts, ends = latent_studies.pick_pairs(test_windows, pairs, rng)  # different windows, no repeats while they last
amounts = np.linspace(0.0, 1.0, 5 if SMOKE else 9)
study = latent_studies.interpolation_study(model, starts, ends, amounts, jax.random.key(4), batch=64)
fig = latent_plots.plot_interpolation(amounts, study, f"{pairs} held-out pairs")
save_figure(fig, OUT / "interpolation_study.png")
display(fig)
train_subset = train_windows[
  rng.choice(len(train_windows), min(len(train_windows), 256 if SMOKE else 4000), replace=False)
]
attributes = latent_studies.attribute_study(
  model, train_subset, test_windows[: 32 if SMOKE else 256], jax.random.key(5), batch=64
)
fig = latent_plots.plot_attribute_matrix(
  attributes["change"], [LABELS[n] for n in ATTRIBUTES], "vector added (row) -> attribute change (column)"
)
save_figure(fig, OUT / "attribute_matrix.png")
display(fig)
print(
  "Hamming distance to the start at the midpoint: latent "
  f"{study['latent']['distance_to_start'][:, len(amounts) // 2].mean():.2f}, data "
  f"{study['data']['distance_to_start'][:, len(amounts) // 2].mean():.2f}"
)
print("pictures in", OUT)
