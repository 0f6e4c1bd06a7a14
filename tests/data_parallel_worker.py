"""Run by test_data_parallel.py in a fresh process whose device count is set by the environment.

Trains the VAE a few SGD steps through the shared loop and writes the per-step
losses and the final parameters to the given folder.
"""

import json
import pathlib
import sys

import jax
import numpy as np

from trajvae.config import override
from trajvae.vae import commands


def main(out_dir: str) -> None:
  out = pathlib.Path(out_dir)
  config = override(
    commands.PRESETS["smoke"](),
    [
      "optim.name=sgd",
      "optim.learning_rate=0.5",
      "train.batch_size=16",
      "train.steps=4",
      "train.log_every=1",
      "train.checkpoint_every=4",
    ],
  )
  state = commands.train(config, out / "run", verbose=False)
  losses = [json.loads(line)["loss"] for line in (out / "run" / "metrics.jsonl").read_text().splitlines()]
  leaves = {str(i): np.asarray(leaf) for i, leaf in enumerate(jax.tree.leaves(state.params))}
  np.savez(out / "params.npz", **leaves)
  (out / "result.json").write_text(json.dumps({"devices": jax.device_count(), "losses": losses}))


if __name__ == "__main__":
  main(sys.argv[1])
