"""One process of a run started by test_distributed_models.py: SeCTAR or MusicVAE, alone or one of several.

usage: model_worker.py MODEL OUT_DIR DATA_DIR [PROCESS_ID NUM_PROCESSES PORT]

The device count comes from the environment (fake CPU devices). Process 0
writes OUT_DIR/result.json (device and process counts, the metrics records)
and OUT_DIR/state.npz (every leaf of the final training state).
"""

import json
import pathlib
import sys


def config_for(model: str, data_dir: str):
  from trajvae.config import override, select_preset

  if model == "sectar":
    from trajvae.sectar.configs import PRESETS

    # 4 MPC episodes (the smoke preset's 2 do not split over 4 devices), 2 iterations; fewer fit steps and PPO
    # epochs than the preset, as each costs collectives, slow between processes on a busy 2-core machine.
    return override(
      select_preset(PRESETS, "smoke"),
      [
        "mpc.num_episodes=4",
        "train.iterations=2",
        "fit.rounds=1",
        "fit.vae_steps=2",
        "fit.pd_ppo.epochs=1",
        "explore.ppo.epochs=1",
      ],
    )
  from trajvae.music.configs import PRESETS

  return override(
    select_preset(PRESETS, "smoke-mel_2bar"),
    [
      f"data.data_dir={data_dir}",
      "optim.name=sgd",
      "optim.learning_rate=0.5",
      "train.steps=4",
      "train.log_every=1",
      "train.checkpoint_every=2",
    ],
  )


def main(model: str, out_dir: str, data_dir: str, process_id: int | None, num_processes: int, port: int) -> None:
  if process_id is not None:
    from trajvae.train.distributed import initialize

    initialize(f"127.0.0.1:{port}", num_processes, process_id, timeout_s=120)
  import importlib

  import jax
  import numpy as np

  from trajvae.cli import MODELS

  out = pathlib.Path(out_dir)
  state = importlib.import_module(MODELS[model]).train(config_for(model, data_dir), out / "run", verbose=False)
  if jax.process_index() == 0:
    records = [json.loads(line) for line in (out / "run" / "metrics.jsonl").read_text().splitlines()]
    np.savez(out / "state.npz", **{str(i): np.asarray(leaf) for i, leaf in enumerate(jax.tree.leaves(state))})
    (out / "result.json").write_text(
      json.dumps({"devices": jax.device_count(), "processes": jax.process_count(), "records": records})
    )


if __name__ == "__main__":
  args = sys.argv[1:]
  pid, n, port = (int(a) for a in args[3:6]) if len(args) > 3 else (None, 1, 0)
  main(args[0], args[1], args[2], pid, n, port)
