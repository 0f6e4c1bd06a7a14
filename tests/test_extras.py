"""A system whose extra is not installed answers with one line naming the extra (`pip install 'trajvae[...]'`).

The missing package is simulated in a fresh interpreter by `sys.modules[name] = None`, which makes every import
of it fail as if it were not installed; the project's own code runs unchanged.
"""

import pathlib
import subprocess
import sys

import pytest

from trajvae.errors import EXTRAS, MissingExtraError, UserError, extra_imports, require_extra

REPO = pathlib.Path(__file__).resolve().parent.parent


def run_without(missing: list[str], code: str) -> subprocess.CompletedProcess:
  prelude = "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in missing)
  return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, cwd=REPO, timeout=300)


def cli_without(missing: list[str], argv: list[str]) -> subprocess.CompletedProcess:
  return run_without(missing, f"from trajvae.cli import main\nsys.exit(main({argv!r}))")


@pytest.mark.e2e
@pytest.mark.parametrize(
  "extra, missing, command",
  [
    ("music", ["music21"], ["train", "musicvae", "--preset", "smoke-mel_2bar", "--set", "data.data_dir={tmp}/data"]),
    ("sectar", ["brax"], ["train", "sectar", "--preset", "smoke"]),
    ("sectar", ["mujoco", "mujoco.mjx"], ["train", "sectar", "--preset", "smoke"]),
    ("serve", ["starlette"], ["serve"]),
  ],
  ids=["music21", "brax", "mujoco", "starlette"],
)
def test_cli_names_the_missing_extra_in_one_line(extra, missing, command, tmp_path):
  argv = [arg.format(tmp=tmp_path) for arg in command] + ["--workdir", str(tmp_path / "run")]
  result = cli_without(missing, argv)
  assert result.returncode == 2, result.stderr
  # One line, the last (before it the MusicVAE data build may log absl warnings and a progress bar), no traceback.
  assert (
    result.stderr.strip().splitlines()[-1]
    == f"trajvae: error: {missing[0]} is not installed; {extra} needs it: pip install 'trajvae[{extra}]'"
  )
  assert "Traceback" not in result.stderr and result.stderr.count("trajvae: error:") == 1
  assert not (tmp_path / "run" / "checkpoints").exists()


def test_library_calls_raise_missing_extra_error():
  result = run_without(
    ["pretty_midi"],
    """
from trajvae.errors import MissingExtraError
from trajvae.music.data.note_sequence import read_midi
try:
  read_midi(b"MThd")
except MissingExtraError as e:
  print(type(e).__name__, e)
""",
  )
  assert (
    result.stdout.strip()
    == "MissingExtraError pretty_midi is not installed; music needs it: pip install 'trajvae[music]'"
  )


def test_other_import_errors_pass_through_unchanged():
  with pytest.raises(ModuleNotFoundError) as info, extra_imports("music"):
    import trajvae_no_such_module  # noqa: F401
  assert not isinstance(info.value, MissingExtraError)
  with pytest.raises(MissingExtraError, match=r"pip install 'trajvae\[serve\]'"), extra_imports("serve"):
    raise ModuleNotFoundError("No module named 'uvicorn.config'", name="uvicorn.config")


def test_require_extra_checks_every_package_of_the_extra():
  for extra in EXTRAS:  # the suite runs with every extra installed
    require_extra(extra)
  result = run_without(["python_multipart"], "from trajvae.errors import require_extra\nrequire_extra('serve')")
  assert "python_multipart is not installed; serve needs it: pip install 'trajvae[serve]'" in result.stderr
  assert issubclass(MissingExtraError, UserError) and issubclass(MissingExtraError, ImportError)
