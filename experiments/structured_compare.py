"""Classic latent structural SVM vs Bello & Honorio's randomized learner, as |H| and n grow.

  python experiments/structured_compare.py --out runs/experiment-structured
  python experiments/structured_compare.py --out /tmp/s --small          # seconds
  python experiments/structured_compare.py --out runs/s --problems alignment --alignment-hs 25 81 --ns 400 \\
      --seeds 0 1 --set learner.epochs=60 gibbs_draws=50

Writes results.json (one record per fit), table.md (mean ± std over seeds) and one PNG per
problem (test distortion, plain and Gibbs; training time; speed-up) into --out.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import platform
import sys
import time

from trajvae.config import to_dict
from trajvae.structured import configs, study


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--out", default="runs/experiment-structured")
  parser.add_argument("--small", action="store_true", help="the 'small' preset: a run of seconds")
  parser.add_argument("--problems", nargs="+", choices=["synthetic", "alignment"])
  parser.add_argument("--synthetic-hs", type=int, nargs="+", help="|H| values for the synthetic problem")
  parser.add_argument("--alignment-hs", type=int, nargs="+", help="|H| values (squares) for digit alignment")
  parser.add_argument("--ns", type=int, nargs="+", help="training-set sizes")
  parser.add_argument("--seeds", type=int, nargs="+")
  parser.add_argument(
    "--methods",
    nargs="+",
    choices=list(configs.METHODS),
    help="default: all four (classic, randomized, direct full-loss control, exhaustive-inference classic)",
  )
  parser.add_argument(
    "--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides, e.g. learner.epochs=60"
  )
  args = parser.parse_args(argv)

  config = study.study_config("small" if args.small else "default", args.set)
  for field, value in (
    ("problems", args.problems),
    ("synthetic_latents", args.synthetic_hs),
    ("alignment_latents", args.alignment_hs),
    ("train_sizes", args.ns),
    ("seeds", args.seeds),
    ("methods", args.methods),
  ):
    if value:
      config = dataclasses.replace(config, **{field: tuple(value)})
  for kind in config.problems:
    if kind == "alignment":
      for h in config.alignment_latents:
        study.alignment_canvas(h)  # fail before any fitting

  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  start = time.perf_counter()
  records = study.run(config, log=lambda line: print(line, flush=True))
  rows = study.summarize(records)
  table = study.markdown_table(rows)
  meta = {
    "command": " ".join(["python", *sys.argv]),
    "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, {__import__('os').cpu_count()} cores",
    "wall_seconds": time.perf_counter() - start,
    "config": to_dict(config),
  }
  (out / "results.json").write_text(json.dumps({"meta": meta, "records": records, "summary": rows}, indent=2))
  (out / "table.md").write_text(table + "\n")
  paths = study.save_plots(rows, out)
  print(table)
  print(f"wrote {out / 'results.json'}, {out / 'table.md'}, " + ", ".join(str(p) for p in paths))
  print(f"wall time {meta['wall_seconds']:.0f} s")


if __name__ == "__main__":
  main()
