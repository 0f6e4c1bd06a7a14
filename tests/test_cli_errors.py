"""A user mistake on the command line prints one line and exits with 2; --debug and bugs keep the traceback.

Every case runs in-process through `cli.main` (the unit tier); the issue's cases also run
through the console script `python -m trajvae` (the e2e tier, a fresh interpreter each).
"""

import os
import pathlib
import subprocess
import sys

import pytest

from trajvae import cli
from trajvae.music.data.note_sequence import Note, NoteSequence, write_midi

REPO = pathlib.Path(__file__).resolve().parent.parent

# (id, argv with {tmp} for an empty scratch folder, text the one line must hold). None of these needs a trained run.
CASES = [
  ("unknown-model", ["train", "nope", "--workdir", "{tmp}/w"], "unknown model 'nope'"),
  ("bad-preset", ["train", "vae", "--preset", "digit", "--workdir", "{tmp}/w"], "unknown preset 'digit'; did you mean"),
  ("bad-set-key", ["train", "vae", "--workdir", "{tmp}/w", "--set", "optim.lr=0.1"], "unknown config key 'optim.lr'"),
  (
    "bad-set-type",
    ["train", "vae", "--workdir", "{tmp}/w", "--set", "train.steps=many"],
    "config key 'train.steps': expected an int, got 'many'",
  ),
  (
    "bad-set-form",
    ["train", "vae", "--workdir", "{tmp}/w", "--set", "eval.seed"],
    "override 'eval.seed' is not of the form key=value",
  ),
  (
    "batch-larger-than-data",
    ["train", "vae", "--preset", "smoke", "--workdir", "{tmp}/w", "--set", "train.batch_size=5000"],
    "batch size 5000 exceeds the 1438 training examples",
  ),
  ("workdir-without-run", ["eval", "vae", "--workdir", "{tmp}"], "holds no trained vae run"),
  ("missing-workdir", ["sample", "vae", "--workdir", "{tmp}/not/there"], "holds no trained vae run"),
  ("bad-preset-name", ["presets", "musicvae", "mel_2bar"], "unknown preset 'mel_2bar'"),
  (
    "cudnn-off-cuda",
    ["train", "musicvae", "--preset", "smoke-mel_2bar", "--workdir", "{tmp}/w", "--set", "model.rnn_backend=cudnn"],
    "rnn_backend=cudnn needs a CUDA GPU",
  ),
  (
    "bad-rnn-backend",
    ["train", "musicvae", "--workdir", "{tmp}/w", "--set", "model.rnn_backend=cuda"],
    "config key 'model.rnn_backend': 'cuda' is not one of ['auto', 'scan', 'cudnn']",
  ),
  (
    "sectar-train-steps",
    ["train", "sectar", "--preset", "smoke", "--workdir", "{tmp}/w", "--set", "train.steps=5"],
    "unknown config key 'train.steps': SeCTAR's loop counts outer iterations (MPC + exploration + fit); "
    "set train.iterations",
  ),
]


def fill(argv: list[str], **paths) -> list[str]:
  return [a.format(**paths) for a in argv]


def console(*args: str, code: str | None = None) -> subprocess.CompletedProcess:
  """Run the console script (or python -c code with the same argv) from the repo root, so this checkout is used."""
  env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
  command = [sys.executable, "-m", "trajvae"] if code is None else [sys.executable, "-c", code]
  return subprocess.run([*command, *args], capture_output=True, text=True, cwd=REPO, env=env, timeout=300)


def assert_one_line(stderr: str, expected: str) -> None:
  lines = stderr.strip().splitlines()
  assert len(lines) == 1, stderr
  assert lines[0].startswith("trajvae: error: ") and expected in lines[0], lines[0]


@pytest.mark.parametrize("argv,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_user_error_is_one_line_and_exit_2(argv, expected, tmp_path, capsys):
  assert cli.main(fill(argv, tmp=tmp_path)) == 2
  out, err = capsys.readouterr()
  assert_one_line(err, expected)
  assert out == ""


def test_debug_adds_the_traceback(tmp_path, capsys):
  command = ["eval", "vae", "--workdir", str(tmp_path)]
  for argv in (["--debug", *command], [*command, "--debug"]):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "MissingFileError" in err
    assert err.strip().splitlines()[-1].startswith("trajvae: error: workdir ")


def test_a_bug_is_not_a_user_error(tmp_path, monkeypatch):
  # A registered model module that breaks the CLI's contract (no NAME, PRESETS, ...) is a bug: it must propagate.
  monkeypatch.setitem(cli.MODELS, "broken", "trajvae.errors")
  with pytest.raises(TypeError, match="trajvae.errors is not a model commands module: it lacks NAME, Config"):
    cli.main(["train", "broken", "--workdir", str(tmp_path)])


@pytest.mark.parametrize("model", ["vae", "musicvae", "sectar"])
def test_registered_models_keep_the_contract(model):
  module = cli.load_model_module(model)
  assert isinstance(module, cli.ModelCommands) and module.NAME == model
  assert module.DEFAULT_PRESET in module.PRESETS and isinstance(module.PRESETS[module.DEFAULT_PRESET](), module.Config)


@pytest.mark.e2e
def test_console_script_debug_and_bug(tmp_path):
  result = console("eval", "vae", "--workdir", str(tmp_path), "--debug")
  assert result.returncode == 2 and "Traceback (most recent call last)" in result.stderr
  code = (
    "import sys; from trajvae import cli; cli.MODELS['broken'] = 'trajvae.errors'; "
    "sys.argv[0] = 'trajvae'; sys.exit(cli.main())"
  )
  result = console("train", "broken", "--workdir", str(tmp_path), code=code)
  assert result.returncode == 1 and "Traceback" in result.stderr and "TypeError" in result.stderr


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> pathlib.Path:
  """A folder holding a MusicVAE run at step 0, a VAE workdir whose training died before its first checkpoint,
  and two bad MIDI files. The runs are written through the checkpoint store, as `trajvae train` writes them."""
  from trajvae.config import select_preset, to_dict
  from trajvae.music import commands as music
  from trajvae.music.model import init_model
  from trajvae.sectar import configs as sectar_configs
  from trajvae.train.checkpoint import CheckpointStore
  from trajvae.train.optim import make_optimizer
  from trajvae.train.supervised import init_train_state
  from trajvae.vae import commands as vae

  root = tmp_path_factory.mktemp("runs")
  config = select_preset(music.PRESETS, "smoke-mel_2bar")
  _, params = init_model(config.model, config.train.seed)
  store = CheckpointStore(root / "musicvae" / "checkpoints", music.NAME, to_dict(config), 1, 1)
  store.save(0, init_train_state(params, make_optimizer(config.optim)), force=True)
  store.close()
  # `trajvae train` opens the store (writing its metadata) before the first step compiles.
  CheckpointStore(root / "vae" / "checkpoints", vae.NAME, to_dict(select_preset(vae.PRESETS, "smoke")), 1, 1).close()
  CheckpointStore(
    root / "sectar" / "checkpoints", "sectar", to_dict(select_preset(sectar_configs.PRESETS, "smoke")), 1, 1
  ).close()
  (root / "corrupt.mid").write_bytes(b"MThd but not really a MIDI file")
  write_midi(NoteSequence((Note(60, 90, 0, 1),), total_steps=4), root / "short.mid")
  return root


# Cases that need the runs above: {root} is the fixture's folder.
RUN_CASES = [
  (
    "another-models-workdir",
    ["eval", "musicvae", "--workdir", "{root}/vae"],
    "holds a 'vae' run, not a 'musicvae' one",
  ),
  ("no-interpolate", ["interpolate", "vae", "--workdir", "{root}/vae"], "model 'vae' has no interpolate command"),
  ("no-checkpoint-saved", ["sample", "vae", "--workdir", "{root}/vae"], "holds no saved checkpoint yet"),
  (
    "resume-with-another-model",
    ["train", "vae", "--preset", "smoke", "--workdir", "{root}/vae", "--set", "model.latent_dim=3", "train.steps=400"],
    "holds a run with another model or data config: model.latent_dim 2 -> 3; only the schedule",
  ),
  (
    "vae-sample-temperature",
    ["sample", "vae", "--workdir", "{root}/vae", "--temperature", "0.5"],
    "trajvae sample vae does not take --temperature (it takes --num)",
  ),
  (
    "sectar-sample-temperature",
    ["sample", "sectar", "--workdir", "{root}/sectar", "--temperature", "0.5"],
    "trajvae sample sectar does not take --temperature (it takes --num)",
  ),
  (
    "sample-num-zero",
    ["sample", "musicvae", "--workdir", "{root}/musicvae", "--num", "0"],
    "--num must be at least 1, got 0",
  ),
  (
    "sample-temperature-zero",
    ["sample", "musicvae", "--workdir", "{root}/musicvae", "--temperature", "0"],
    "--temperature must be positive, got 0.0",
  ),
  (
    "no-interpolate-sectar",
    ["interpolate", "sectar", "--workdir", "{root}/sectar"],
    "model 'sectar' has no interpolate command",
  ),
  (
    "train-on-another-models-workdir",
    ["train", "vae", "--workdir", "{root}/musicvae"],
    "holds a 'musicvae' run, not a 'vae' one",
  ),
  (
    "missing-midi",
    [
      "interpolate",
      "musicvae",
      "--workdir",
      "{root}/musicvae",
      "--start",
      "{root}/nope.mid",
      "--end",
      "{root}/corrupt.mid",
    ],
    "no such file: ",
  ),
  (
    "corrupt-midi",
    [
      "interpolate",
      "musicvae",
      "--workdir",
      "{root}/musicvae",
      "--start",
      "{root}/corrupt.mid",
      "--end",
      "{root}/corrupt.mid",
    ],
    "corrupt.mid is not a readable MIDI file",
  ),
  (
    "midi-too-short",
    [
      "interpolate",
      "musicvae",
      "--workdir",
      "{root}/musicvae",
      "--start",
      "{root}/short.mid",
      "--end",
      "{root}/short.mid",
    ],
    "short.mid has no",
  ),
  (
    "start-without-end",
    ["interpolate", "musicvae", "--workdir", "{root}/musicvae", "--start", "{root}/short.mid"],
    "give both --start and --end",
  ),
]


@pytest.mark.parametrize("argv,expected", [c[1:] for c in RUN_CASES], ids=[c[0] for c in RUN_CASES])
def test_user_error_on_a_run_is_one_line_and_exit_2(argv, expected, runs, capsys):
  assert cli.main(fill(argv, root=runs)) == 2
  out, err = capsys.readouterr()
  assert_one_line(err, expected)
  assert out == ""


# The cases, through the console script: a fresh interpreter each (seconds apiece, hence the e2e tier).
CONSOLE_CASES = {
  "unknown-model",
  "bad-preset",
  "bad-set-key",
  "bad-set-type",
  "workdir-without-run",
  "another-models-workdir",
  "missing-midi",
  "corrupt-midi",
}


@pytest.mark.e2e
@pytest.mark.parametrize(
  "argv,expected",
  [c[1:] for c in CASES + RUN_CASES if c[0] in CONSOLE_CASES],
  ids=[c[0] for c in CASES + RUN_CASES if c[0] in CONSOLE_CASES],
)
def test_console_script_user_error(argv, expected, tmp_path, runs):
  result = console(*fill(argv, tmp=tmp_path, root=runs))
  assert result.returncode == 2, result.stderr
  assert_one_line(result.stderr, expected)


def test_sample_num_and_temperature_reach_the_musicvae_sampler(runs, tmp_path, capsys):
  def sample(out: str, *flags: str) -> list[pathlib.Path]:
    assert (
      cli.main(["sample", "musicvae", "--workdir", str(runs / "musicvae"), "--out", str(tmp_path / out), *flags]) == 0
    )
    return [pathlib.Path(p) for p in capsys.readouterr().out.split() if p.endswith(".mid")]

  default = sample("default", "--num", "3")
  cold = sample("cold", "--num", "3", "--temperature", "0.01")
  assert len(default) == len(cold) == 3
  # Same seed, same latents: only the decoder's temperature differs, so the sampled notes do.
  assert [p.read_bytes() for p in default] != [p.read_bytes() for p in cold]


def test_musicvae_load_run_is_the_shared_run_shape(runs):
  import jax
  import numpy as np

  from trajvae.music import commands as music
  from trajvae.music.model import init_model
  from trajvae.train.runs import TrainedRun

  run = music.load_run(runs / "musicvae")
  assert isinstance(run, music.MusicVAERun) and isinstance(run, TrainedRun) and run.step == 0
  _, params = init_model(run.config.model, run.config.train.seed)  # what the fixture saved
  for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(run.params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  tokens = run.sample(2, temperature=0.5, key=0)
  assert tokens.shape == (2, run.config.model.num_steps, len(run.config.model.track_depths))
  np.testing.assert_array_equal(tokens, run.api.sample(2, 0.5, key=0))
