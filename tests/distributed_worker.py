"""One process of a 2-process run, started by test_distributed.py (2 fake CPU devices per process)."""

import json
import pathlib
import sys


def main(process_id: int, port: int, out_dir: str, steps: int) -> None:
  from trajvae.train.distributed import initialize

  initialize(f"127.0.0.1:{port}", 2, process_id, timeout_s=60)
  import jax
  import numpy as np

  from trajvae.config import override
  from trajvae.vae import commands

  out = pathlib.Path(out_dir)
  config = override(
    commands.PRESETS["smoke"](),
    [
      "optim.name=sgd",
      "optim.learning_rate=0.5",
      "train.batch_size=16",
      f"train.steps={steps}",
      "train.log_every=1",
      "train.checkpoint_every=4",
    ],
  )
  state = commands.train(config, out / "run", verbose=False)
  if jax.process_index() == 0:
    losses = [json.loads(line)["loss"] for line in (out / "run" / "metrics.jsonl").read_text().splitlines()]
    leaves = {str(i): np.asarray(leaf) for i, leaf in enumerate(jax.tree.leaves(state.params))}
    np.savez(out / "params.npz", **leaves)
    (out / "result.json").write_text(
      json.dumps({"devices": jax.device_count(), "processes": jax.process_count(), "losses": losses})
    )


if __name__ == "__main__":
  main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
