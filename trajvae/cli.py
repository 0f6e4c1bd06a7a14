"""Command line: `trajvae {train,eval,sample,interpolate,presets} MODEL ...` for every model in the
registry, and `trajvae serve --workdir RUN` (the browser explorer).

A user mistake (a `trajvae.errors.UserError`: unknown model, preset or config key,
a workdir without a run or with another model's run, a missing or corrupt input
file) prints one line on stderr and exits with code 2; `--debug` adds the
traceback. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pathlib
import sys
import traceback
from typing import Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

from trajvae.config import override, select_preset
from trajvae.errors import ConfigError, MissingFileError, UserError


@runtime_checkable
class ModelCommands(Protocol):
  """What a model's commands module gives the CLI.

  load_run returns a trajvae.train.runs.TrainedRun (config, graphdef, params, step, and the model's
  methods). SAMPLE_OPTIONS names the keyword options sample() takes beyond seed and out_dir
  ("num_samples", "temperature"); a flag for another is refused. A model without interpolation
  answers interpolate() with a UserError.
  """

  NAME: str
  Config: type
  PRESETS: Mapping[str, Callable[[], Any]]
  DEFAULT_PRESET: str
  SAMPLE_OPTIONS: frozenset[str]

  def train(self, config: Any, workdir: str, verbose: bool = True) -> Any: ...

  def load_run(self, workdir: str, overrides: Sequence[str] = ()) -> Any: ...

  def evaluate(self, workdir: str, overrides: Sequence[str] = ()) -> dict[str, Any]: ...

  def sample(self, workdir: str, *, seed: int = 0, out_dir: str | None = None, **options: Any) -> list[str]: ...

  def interpolate(
    self,
    workdir: str,
    start: str | None = None,
    end: str | None = None,
    *,
    num_steps: int = 7,
    seed: int = 0,
    out_dir: str | None = None,
    temperature: float = 1.0,
  ) -> list[str]: ...


CONTRACT = (
  "NAME",
  "Config",
  "PRESETS",
  "DEFAULT_PRESET",
  "SAMPLE_OPTIONS",
  "train",
  "load_run",
  "evaluate",
  "sample",
  "interpolate",
)
# `trajvae sample` flag -> the sample() option it sets.
SAMPLE_FLAGS = {"--num": "num_samples", "--temperature": "temperature"}


# Model name -> its commands module (a ModelCommands). The structured-prediction study is not here: it has no
# checkpoints to evaluate or sample from; experiments/structured_compare.py runs it.
MODELS = {
  "vae": "trajvae.vae.commands",
  "musicvae": "trajvae.music.commands",
  "sectar": "trajvae.sectar.commands",
}
# Model name -> the module of its PRESETS and DEFAULT_PRESET, free of JAX: a mistaken preset, override or workdir
# is answered in a fraction of a second, before the model (JAX, Flax, orbax) is imported.
PRESET_MODULES = {
  "vae": "trajvae.vae.configs",
  "musicvae": "trajvae.music.configs",
  "sectar": "trajvae.sectar.configs",
}


def check_model_name(name: str) -> None:
  if name not in MODELS:
    raise ConfigError(f"unknown model {name!r} (known: {', '.join(MODELS)})")


def load_model_module(name: str) -> ModelCommands:
  """The commands module of a registered model; a TypeError if it lacks part of the ModelCommands contract."""
  check_model_name(name)
  module = importlib.import_module(MODELS[name])
  if not isinstance(module, ModelCommands):
    missing = [n for n in CONTRACT if not hasattr(module, n)]
    raise TypeError(f"{MODELS[name]} is not a model commands module: it lacks {', '.join(missing)}")
  return module


def load_presets(name: str) -> Any:
  """The module holding a model's PRESETS and DEFAULT_PRESET (its light configs module where there is one)."""
  check_model_name(name)
  if name in PRESET_MODULES:
    return importlib.import_module(PRESET_MODULES[name])
  return load_model_module(name)


def build_config(presets: Any, preset: str | None, assignments: list[str]):
  """The named preset (or the model's default) with key=value overrides applied."""
  return override(select_preset(presets.PRESETS, preset or presets.DEFAULT_PRESET), assignments)


def check_workdir(model: str, workdir: str, must_hold_run: bool) -> None:
  """Raise a UserError, before any work, if workdir holds another model's run (or, if must_hold_run, no run)."""
  from trajvae.train.workdir import read_checkpoint_meta, workdir_path

  try:
    read_checkpoint_meta(workdir_path(workdir) / "checkpoints", model_name=model)
  except MissingFileError:
    if must_hold_run:
      raise MissingFileError(f"workdir {workdir} holds no trained {model} run (no checkpoints)") from None


def sample_options(model: str, given: Mapping[str, Any], supported: frozenset[str]) -> dict[str, Any]:
  """The sample() options of the flags given (flag -> value, None = not given); a ConfigError for a flag the
  model's sample does not take."""
  options = {}
  for flag, value in given.items():
    if value is None:
      continue
    if SAMPLE_FLAGS[flag] not in supported:
      takes = ", ".join(f for f, o in SAMPLE_FLAGS.items() if o in supported) or "no options"
      raise ConfigError(f"trajvae sample {model} does not take {flag} (it takes {takes})")
    options[SAMPLE_FLAGS[flag]] = value
  return options


def unsupported_interpolate(model: str) -> Callable[..., list[str]]:
  """An interpolate() for a model without one: it raises a ConfigError naming the model."""

  def interpolate(*args: Any, **kwargs: Any) -> list[str]:
    raise ConfigError(f"model {model!r} has no interpolate command (musicvae has)")

  return interpolate


def check_files_exist(*paths: str | None) -> None:
  """Raise MissingFileError naming the first given path that is not a file."""
  for path in paths:
    if path is not None and not pathlib.Path(path).is_file():
      raise MissingFileError(f"no such file: {path}")


def error_line(error: BaseException) -> str:
  """The one line the CLI prints for a user error: its message's first line."""
  lines = str(error).strip().splitlines() or [type(error).__name__]
  return lines[0] + (" (more with --debug)" if len(lines) > 1 else "")


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
    prog="trajvae", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
  )
  parser.add_argument("--debug", action="store_true", help="show the traceback of a user error too")
  sub = parser.add_subparsers(dest="command", required=True)

  train = sub.add_parser("train", help="train a model (resumes from the workdir's latest checkpoint)")
  train.add_argument("model", help=f"one of: {', '.join(MODELS)}")
  train.add_argument("--preset", help="named config preset (see `trajvae presets MODEL`)")
  train.add_argument("--workdir", required=True, help="checkpoints, metrics.jsonl and TensorBoard events go here")
  train.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides, e.g. train.steps=500")
  train.add_argument("--quiet", action="store_true", help="no progress lines")
  multi = train.add_argument_group("multi-process runs (every process runs the same command)")
  multi.add_argument(
    "--distributed",
    action="store_true",
    help="join a multi-process run; without the flags below, JAX detects the cluster (SLURM, TPU VM)",
  )
  multi.add_argument("--coordinator-address", help="host:port of process 0 (or TRAJVAE_COORDINATOR_ADDRESS)")
  multi.add_argument("--num-processes", type=int, help="(or TRAJVAE_NUM_PROCESSES)")
  multi.add_argument("--process-id", type=int, help="(or TRAJVAE_PROCESS_ID)")
  multi.add_argument("--coordinator-timeout", type=int, default=300, help="seconds to wait for the coordinator")

  evaluate = sub.add_parser("eval", help="evaluate a trained run on held-out data")
  evaluate.add_argument("model")
  evaluate.add_argument("--workdir", required=True)
  evaluate.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="e.g. eval.iwae_samples=5000")

  sample = sub.add_parser("sample", help="write samples and pictures of a trained run as PNG")
  sample.add_argument("model")
  sample.add_argument("--workdir", required=True)
  sample.add_argument("--num", type=int, help="number of samples (default: the model's; magenta's --num_outputs)")
  sample.add_argument(
    "--temperature",
    type=float,
    help="decoder sampling temperature (MusicVAE; default 1.0, magenta's generator has 0.5)",
  )
  sample.add_argument("--seed", type=int, default=0)
  sample.add_argument("--out", help="output folder (default: the workdir)")

  interpolate = sub.add_parser("interpolate", help="decode a latent path between two sequences (MusicVAE)")
  interpolate.add_argument("model")
  interpolate.add_argument("--workdir", required=True)
  interpolate.add_argument("--start", help="MIDI file (default: a held-out window)")
  interpolate.add_argument("--end", help="MIDI file (default: another held-out window)")
  interpolate.add_argument("--steps", type=int, default=7)
  interpolate.add_argument("--temperature", type=float, default=1.0)
  interpolate.add_argument("--seed", type=int, default=0)
  interpolate.add_argument("--out", help="output folder (default: WORKDIR/interpolation)")

  serve = sub.add_parser("serve", help="explore trained runs in the browser (a local web server)")
  serve.add_argument("--workdir", required=True, action="append", help="a trained run (repeat to serve several)")
  serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback only)")
  serve.add_argument("--port", type=int, default=8000)
  serve.add_argument(
    "--sectar-tasks",
    type=int,
    nargs="+",
    metavar="TASK",
    help="SeCTAR task configurations to offer (default all 5; each is compiled at start-up)",
  )

  presets = sub.add_parser("presets", help="list a model's presets, or print one as JSON")
  presets.add_argument("model")
  presets.add_argument("name", nargs="?")

  for command in sub.choices.values():  # --debug may also follow the subcommand
    command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
  return parser


def main(argv: list[str] | None = None) -> int:
  args = _parser().parse_args(argv)
  try:
    if args.command == "serve":
      from trajvae.serve import serve

      serve(args.workdir, host=args.host, port=args.port, sectar_tasks=args.sectar_tasks)
      return 0
    check_model_name(args.model)
    if args.command in ("train", "eval", "sample", "interpolate"):
      check_workdir(args.model, args.workdir, must_hold_run=args.command != "train")
    if args.command == "presets":
      presets = load_presets(args.model)
      if args.name:
        from trajvae.config import to_dict

        print(json.dumps(to_dict(select_preset(presets.PRESETS, args.name)), indent=2))
      else:
        print("\n".join(f"{name}{' (default)' if name == presets.DEFAULT_PRESET else ''}" for name in presets.PRESETS))
      return 0
    if args.command == "train":
      config = build_config(load_presets(args.model), args.preset, args.set)
    module = load_model_module(args.model)
    if args.command == "train":
      if args.distributed or args.coordinator_address or args.num_processes:
        from trajvae.train.distributed import initialize

        initialize(args.coordinator_address, args.num_processes, args.process_id, args.coordinator_timeout)
      module.train(config, args.workdir, verbose=not args.quiet)
    elif args.command == "eval":
      print(json.dumps(module.evaluate(args.workdir, args.set), indent=2))
    elif args.command == "sample":
      if args.num is not None and args.num < 1:
        raise ConfigError(f"--num must be at least 1, got {args.num}")
      if args.temperature is not None and not args.temperature > 0:
        raise ConfigError(f"--temperature must be positive, got {args.temperature}")
      extra = sample_options(args.model, {"--num": args.num, "--temperature": args.temperature}, module.SAMPLE_OPTIONS)
      for path in module.sample(args.workdir, seed=args.seed, out_dir=args.out, **extra):
        print(path)
    elif args.command == "interpolate":
      check_files_exist(args.start, args.end)
      paths = module.interpolate(
        args.workdir,
        args.start,
        args.end,
        num_steps=args.steps,
        seed=args.seed,
        out_dir=args.out,
        temperature=args.temperature,
      )
      print("\n".join(paths))
  except UserError as e:
    if args.debug:
      traceback.print_exc()
    print(f"trajvae: error: {error_line(e)}", file=sys.stderr)
    return 2
  return 0


if __name__ == "__main__":
  sys.exit(main())
