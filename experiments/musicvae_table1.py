"""The paper's Table 1 on the offline corpus: teacher-forced and sampled reconstruction accuracy.

Trains each preset (resuming if its workdir has checkpoints), evaluates it on
the held-out test windows and writes results.json and table.md. The CPU
presets keep the reference's structure and loss but use smaller LSTMs and
fewer steps; pass --preset/--steps to run the reference sizes on an accelerator.
--steps re-times a CPU preset's schedules to the new length (schedules.fit_schedules).

Beside our two accuracies the table gives the reference's own evaluation: its
eval job decodes as the config trains, so teacher-forced for the 16-bar configs
(sampling_schedule constant 0) and on the model's own samples (p = 1) for the
2-bar configs, whose inverse-sigmoid schedule ends at 1.

  python experiments/musicvae_table1.py --out runs/table1 [--steps 2000] [--preset flat-mel_16bar_cpu ...]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

from trajvae.config import override, select_preset
from trajvae.music import commands, objective
from trajvae.music.configs import PRESETS

DEFAULT = ["cat-mel_2bar_cpu", "flat-mel_16bar_cpu", "hierdec-mel_16bar_cpu"]
# Table 1 of Roberts et al. (2018), ICML, as recalled (unverified against the PDF).
PAPER = {
  "2-bar melody": {"flat": (0.986, 0.951)},
  "16-bar melody": {"flat": (0.883, 0.620), "hierarchical": (0.919, 0.812)},
}


def reference_evaluation(config, result: dict) -> tuple[str, float]:
  """The accuracy the reference's eval job reports: decoded as the config trains (see the module docstring)."""
  if objective.teacher_forced(config.loss):
    return "teacher-forced", result["accuracy_teacher_forced"]
  return "sampled", result["accuracy_sampled"]


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument("--out", default="runs/table1")
  parser.add_argument("--preset", nargs="+", default=DEFAULT)
  parser.add_argument("--steps", type=int, default=None, help="override train.steps of every preset")
  parser.add_argument("--set", nargs="*", default=[], help="extra overrides for every preset")
  args = parser.parse_args()
  out = pathlib.Path(args.out)
  results = {}
  for name in args.preset:
    sets = list(args.set) + ([f"train.steps={args.steps}"] if args.steps else [])
    config = override(select_preset(PRESETS, name), sets)
    workdir = out / name
    started = time.time()
    commands.train(config, workdir)
    results[name] = {**commands.evaluate(workdir), "train_and_eval_seconds": round(time.time() - started)}
    print(name, json.dumps(results[name]), flush=True)
  (out / "results.json").write_text(json.dumps(results, indent=2))
  lines = [
    "| preset | decoder | bars | steps | test windows | TF accuracy | sampled accuracy | TF event accuracy "
    "| sampled event accuracy | always-hold accuracy | reference's evaluation |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
  ]
  for name, r in results.items():
    config = select_preset(PRESETS, name)
    reference_eval = reference_evaluation(config, r)
    lines.append(
      f"| {name} | {config.model.decoder} | {config.data.num_bars} | {r['step']} | {r['num_examples']} | "
      f"{r['accuracy_teacher_forced']:.3f} | {r['accuracy_sampled']:.3f} | "
      f"{r['event_accuracy_teacher_forced']:.3f} | {r['event_accuracy_sampled']:.3f} | {r['majority_baseline']:.3f} | "
      f"{reference_eval[1]:.3f} ({reference_eval[0]}) |"
    )
  (out / "table.md").write_text("\n".join(lines) + "\n")
  print("\n".join(lines))


if __name__ == "__main__":
  main()
