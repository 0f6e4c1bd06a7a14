"""The browser explorer (trajvae.serve): every endpoint and bad input through Starlette's TestClient, then each
page in a real headless Chromium (skipped when Chromium or chromedriver is missing).

The runs are tiny real trainings from the smoke presets (VAE on the bundled digits, MusicVAE on MIDI files this
test writes, SeCTAR waypoint), made once per test session and shared by xdist workers under a file lock.
"""

from __future__ import annotations

import concurrent.futures
import fcntl
import io
import json
import os
import pathlib
import shutil

import jax
import numpy as np
import pytest

from trajvae.config import override, select_preset
from trajvae.music.data.note_sequence import Note, NoteSequence, read_midi, write_midi

REPO = pathlib.Path(__file__).resolve().parent.parent
# One xdist worker runs this file (`make test` passes --dist loadgroup), so the runs are loaded and warmed up once.
# Real servers, trained runs and a browser: the e2e tier (make test), not make test-fast.
pytestmark = [pytest.mark.xdist_group("serve"), pytest.mark.e2e]
SCREENSHOTS = REPO / "docs" / "images"


def write_tunes(folder: pathlib.Path, count: int = 30, bars: int = 8, seed: int = 0) -> None:
  """Random-walk melodies in 4/4 as MIDI files: the MusicVAE run's corpus."""
  folder.mkdir(parents=True, exist_ok=True)
  rng = np.random.default_rng(seed)
  for k in range(count):
    notes, step, pitch = [], 0, 62 + int(rng.integers(-5, 6))
    while step < 16 * bars - 8:
      length = int(rng.choice([1, 2, 2, 4, 4, 8]))
      pitch = int(np.clip(pitch + rng.integers(-4, 5), 50, 80))
      notes.append(Note(pitch, 90, step, step + length))
      step += length + int(rng.choice([0, 0, 0, 1, 2]))
    write_midi(NoteSequence(tuple(notes), total_steps=16 * bars), folder / f"tune{k:02d}.mid")


def train_runs(root: pathlib.Path) -> dict[str, pathlib.Path]:
  from trajvae.music import commands as music
  from trajvae.music.configs import PRESETS as MUSIC_PRESETS
  from trajvae.sectar import commands as sectar
  from trajvae.vae import commands as vae

  runs = {"vae": root / "digits-vae", "musicvae": root / "melody-vae", "sectar": root / "waypoint-sectar"}
  vae.train(override(select_preset(vae.PRESETS, "smoke"), ["train.steps=100"]), runs["vae"], verbose=False)
  write_tunes(root / "midi")
  music.train(
    override(
      select_preset(MUSIC_PRESETS, "smoke-mel_2bar"),
      [f"data.source={root / 'midi'}", f"data.data_dir={root / 'data'}", "train.steps=10"],
    ),
    runs["musicvae"],
    verbose=False,
  )
  sectar.train(override(select_preset(sectar.PRESETS, "smoke"), ["train.iterations=1"]), runs["sectar"], verbose=False)
  return runs


@pytest.fixture(scope="session")
def runs(tmp_path_factory) -> dict[str, pathlib.Path]:
  """The three trained runs, made once for all xdist workers (the first to take the lock trains them)."""
  base = tmp_path_factory.getbasetemp()
  # Under xdist each worker's basetemp sits in the session's one folder; share the runs there.
  # TRAJVAE_SERVE_TEST_RUNS=/some/folder keeps them between sessions (while developing).
  root = pathlib.Path(
    os.environ.get("TRAJVAE_SERVE_TEST_RUNS")
    or (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "serve_runs"
  )
  root.mkdir(parents=True, exist_ok=True)
  with open(root / ".lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    done = root / "done.json"
    if not done.exists():
      paths = train_runs(root)
      done.write_text(json.dumps({k: str(v) for k, v in paths.items()}))
    return {k: pathlib.Path(v) for k, v in json.loads(done.read_text()).items()}


def listing(folder: pathlib.Path) -> dict[str, tuple[int, int]]:
  """Every file and folder under folder with its size and mtime (ns)."""
  return {
    str(p.relative_to(folder)): (p.stat().st_size if p.is_file() else -1, p.stat().st_mtime_ns)
    for p in sorted(folder.rglob("*"))
  }


@pytest.fixture(scope="module")
def served(runs):
  """(app, TestClient, the runs' listings before loading): one app serving all three runs."""
  from starlette.testclient import TestClient

  from trajvae.serve import create_app

  before = {kind: listing(path) for kind, path in runs.items()}
  app = create_app([runs["vae"], runs["musicvae"], runs["sectar"]], sectar_tasks=(0, 3))
  with TestClient(app) as client:
    yield app, client, before


def names(app) -> dict[str, str]:
  return {run.kind: name for name, run in app.state.runs.items()}


def url(app, kind: str, action: str = "") -> str:
  return f"/api/runs/{names(app)[kind]}" + (f"/{action}" if action else "")


def midi_bytes(pitches=(60, 62, 64, 65, 67, 65, 64, 62)) -> bytes:
  buffer = io.BytesIO()
  from trajvae.music.data.note_sequence import to_pretty_midi

  to_pretty_midi(
    NoteSequence(tuple(Note(p, 90, 4 * i, 4 * i + 3) for i, p in enumerate(pitches)), total_steps=32)
  ).write(buffer)
  return buffer.getvalue()


def error(response, status: int) -> str:
  assert response.status_code == status, response.text
  assert response.headers["content-type"].startswith("application/json")
  return response.json()["error"]


# -- the app and its runs ----------------------------------------------------------------------------


def test_runs_are_listed_with_their_models_and_pages(served):
  app, client, _ = served
  out = client.get("/api/runs").json()["runs"]
  assert sorted(r["model"] for r in out) == ["musicvae", "sectar", "vae"]
  for r in out:
    page = client.get(r["page"])
    assert page.status_code == 200 and "<main>" in page.text and "trajvae explorer" in page.text
    info = client.get(f"/api/runs/{r['name']}").json()
    assert info["model"] == r["model"] and info["step"] > 0 and "config" in info
  assert client.get("/").status_code == 200  # several runs: the list page
  for asset in ("common.js", "synth.js", "pianoroll.js", "musicvae.js", "vae.js", "sectar.js", "style.css"):
    assert client.get(f"/static/{asset}").status_code == 200


def test_unknown_runs_endpoints_and_bad_requests_are_json_4xx(served):
  app, client, _ = served
  assert "unknown run 'nope'" in error(client.get("/api/runs/nope"), 404)
  assert "unknown run" in error(client.post("/api/runs/nope/sample"), 404)
  assert "unknown run" in error(client.get("/runs/nope/"), 404)
  assert "no endpoint" in error(client.post(url(app, "vae", "sample")), 404)
  assert "no endpoint" in error(client.get("/api/whatever"), 404)
  assert "not valid JSON" in error(
    client.post(url(app, "musicvae", "sample"), content=b"{", headers={"content-type": "application/json"}), 400
  )
  assert "unsupported content type" in error(
    client.post(url(app, "musicvae", "sample"), content=b"x", headers={"content-type": "text/plain"}), 415
  )
  assert "Method Not Allowed" in error(client.put(url(app, "musicvae", "sample")), 405)


def test_serving_a_folder_that_is_not_a_run_is_a_clear_error(tmp_path, runs):
  from trajvae.serve import ServeError, create_app

  with pytest.raises(ServeError, match="does not exist"):
    create_app(tmp_path / "missing")
  with pytest.raises(ServeError, match="not a trained trajvae run"):
    create_app(tmp_path)
  with pytest.raises(ServeError, match="SeCTAR tasks must be among 0..4"):
    create_app(runs["sectar"], sectar_tasks=(0, 5))


def test_cli_warns_off_loopback_and_refuses_a_missing_run(tmp_path):
  import subprocess
  import sys

  result = subprocess.run(
    [sys.executable, "-m", "trajvae", "serve", "--workdir", str(tmp_path / "missing"), "--host", "0.0.0.0"],
    capture_output=True,
    text=True,
    cwd=REPO,
    timeout=120,
  )
  assert result.returncode == 2
  assert "warning: listening on 0.0.0.0, not loopback" in result.stderr and "does not exist" in result.stderr


# -- MusicVAE ------------------------------------------------------------------------------------------


def test_music_sample_is_deterministic_and_draws_notes(served):
  app, client, _ = served
  out = client.post(url(app, "musicvae", "sample"), data={"num": 3, "temperature": 0.8, "seed": 5}).json()
  assert len(out["sequences"]) == 3
  seq = out["sequences"][0]
  assert np.asarray(seq["tokens"]).shape == (32, 1) and seq["steps"] == 32 and seq["steps_per_bar"] == 16
  assert all(0 <= n["start"] < n["end"] <= 32 for n in seq["notes"])
  again = client.post(url(app, "musicvae", "sample"), json={"num": 3, "temperature": 0.8, "seed": 5}).json()
  assert again["sequences"] == out["sequences"]
  assert client.post(url(app, "musicvae", "sample"), data={"num": 3, "temperature": 0.8, "seed": 6}).json() != out


def test_music_held_out_interpolate_attributes_reconstruct_midi(served):
  app, client, _ = served
  info = client.get(url(app, "musicvae")).json()
  assert info["held_out"] >= 8 and info["attributes"][0] == "note density"
  window = client.get(url(app, "musicvae", "held_out"), params={"index": 1}).json()["sequence"]
  out = client.post(
    url(app, "musicvae", "interpolate"), data={"start_index": 0, "end_index": 1, "steps": 6, "temperature": 0.3}
  ).json()
  assert len(out["path"]) == 6 and out["end"]["tokens"] == window["tokens"] and out["t"][-1] == 1.0
  files = {"start": ("a.mid", midi_bytes()), "end": ("b.mid", midi_bytes((72, 71, 69, 67, 65, 64, 62, 60)))}
  out = client.post(url(app, "musicvae", "interpolate"), data={"steps": 3}, files=files).json()
  assert [n["pitch"] for n in out["start"]["notes"]] == [60, 62, 64, 65, 67, 65, 64, 62]
  for name in info["attributes"]:
    fields = {"melody_tokens": json.dumps(window["tokens"]), f"attr_{name}": 2.5}
    out = client.post(url(app, "musicvae", "attributes"), data=fields).json()
    assert out["amounts"][name] == 2.5 and out["original"]["tokens"] == window["tokens"]
  out = client.post(url(app, "musicvae", "reconstruct"), files={"melody": ("m.mid", midi_bytes())}).json()
  assert 0 <= out["accuracy"] <= 1 and len(out["original"]["notes"]) == 8
  response = client.post(url(app, "musicvae", "midi"), data={"tokens": json.dumps(window["tokens"]), "name": "x y"})
  assert response.headers["content-type"] == "audio/midi"
  assert 'filename="xy.mid"' in response.headers["content-disposition"]
  notes = read_midi(response.content)[0].notes
  assert [(n.pitch, n.start_step) for n in notes] == [(n["pitch"], n["start"]) for n in window["notes"]]


@pytest.mark.parametrize(
  "fields, status, message",
  [
    ({"num": 0}, 400, "'num' must lie in [1, 8]"),
    ({"num": 9}, 400, "'num' must lie in [1, 8]"),
    ({"num": "two"}, 400, "must be an integer"),
    ({"temperature": 0}, 400, "'temperature' must lie in"),
    ({"temperature": "nan"}, 400, "'temperature' must lie in"),
    ({"temperature": 5}, 400, "'temperature' must lie in"),
    ({"seed": -1}, 400, "'seed' must lie in"),
  ],
)
def test_music_sample_out_of_range(served, fields, status, message):
  app, client, _ = served
  assert message in error(client.post(url(app, "musicvae", "sample"), data=fields), status)


def test_music_bad_uploads_and_melodies(served):
  app, client, _ = served
  recon = url(app, "musicvae", "reconstruct")
  assert "not a MIDI file" in error(client.post(recon, files={"melody": ("x.mid", b"hello, not midi")}), 400)
  assert "not a readable MIDI file" in error(client.post(recon, files={"melody": ("x.mid", b"MThd" + b"\0" * 40)}), 400)
  assert "is empty" in error(client.post(recon, files={"melody": ("x.mid", b"")}), 400)
  big = b"MThd" + b"\0" * (1 << 20)
  assert "limit" in error(client.post(recon, files={"melody": ("x.mid", big)}), 413)
  silent = io.BytesIO()
  from trajvae.music.data.note_sequence import to_pretty_midi

  to_pretty_midi(NoteSequence((), total_steps=32)).write(silent)
  assert "no 2-bar melody window" in error(client.post(recon, files={"melody": ("x.mid", silent.getvalue())}), 422)
  assert "give 'melody'" in error(client.post(recon, data={}), 400)
  assert "'melody_index' must lie in" in error(client.post(recon, data={"melody_index": 10**6}), 400)
  assert "must have shape [32, 1]" in error(client.post(recon, data={"melody_tokens": "[[1, 2]]"}), 400)
  assert "outside [0, 90)" in error(client.post(recon, data={"melody_tokens": json.dumps([[95]] * 32)}), 400)
  interp = url(app, "musicvae", "interpolate")
  assert "'steps' must lie in [2, 16]" in error(
    client.post(interp, data={"start_index": 0, "end_index": 1, "steps": 17}), 400
  )
  assert "attr_note density" in error(
    client.post(url(app, "musicvae", "attributes"), data={"melody_index": 0, "attr_note density": 4}), 400
  )
  assert "tokens must be an array" in error(client.post(url(app, "musicvae", "midi"), data={}), 400)
  # Still serving.
  assert client.post(url(app, "musicvae", "sample"), data={"num": 1}).status_code == 200


# -- VAE and SeCTAR ----------------------------------------------------------------------------------------------


def test_vae_plane_and_decode(served):
  app, client, _ = served
  info = client.get(url(app, "vae")).json()
  assert info["latent_dim"] == 2 and info["modes"] == ["latent"] and info["num_points"] == 359
  plane = client.get(url(app, "vae", "plane")).json()
  assert len(plane["points"]) == len(plane["labels"]) == 359 and set(plane["labels"]) == set(range(10))
  out = client.get(url(app, "vae", "decode"), params={"x": 0.5, "y": -1.0}).json()
  image = np.asarray(out["image"])
  assert out["z"] == [0.5, -1.0] and image.shape == (8, 8) and 0 <= image.min() and image.max() <= 1
  other = np.asarray(client.get(url(app, "vae", "decode"), params={"x": -2, "y": 2}).json()["image"])
  assert np.abs(other - image).max() > 0.05
  assert "missing parameter 'x'" in error(client.get(url(app, "vae", "decode"), params={"y": 0}), 400)
  assert "must lie in" in error(client.get(url(app, "vae", "decode"), params={"x": 1e9, "y": 0}), 400)
  assert "'mode' must be one of latent" in error(client.get(url(app, "vae", "plane"), params={"mode": "pca"}), 400)


def test_vae_larger_latent_planes(runs):
  """z > 2: the PCA plane through the posterior means' centre, or two chosen dimensions."""
  from trajvae.serve.common import ApiError, Params
  from trajvae.serve.vae import VaeBackend, pca_plane

  means = np.random.default_rng(0).normal(size=(500, 5)) * np.array([5.0, 0.1, 0.1, 1.5, 0.1])
  centre, pcs = pca_plane(means)
  assert np.allclose(np.abs(pcs[0]), [1, 0, 0, 0, 0], atol=0.1) and np.allclose(
    np.abs(pcs[1]), [0, 0, 0, 1, 0], atol=0.1
  )
  backend = VaeBackend.__new__(VaeBackend)  # plane geometry only: a fake 5-d latent space over these means
  backend.latent_dim, backend.means, backend.labels = 5, means, np.zeros(500, int)
  backend.centre, backend.pcs = centre, pcs
  out = backend.plane(Params({"mode": "dims", "i": 3, "j": 0}))
  assert out["axes"] == ["z3", "z0"] and np.allclose(np.asarray(out["points"])[:, 0], means[:, 3], atol=1e-3)
  with pytest.raises(ApiError, match="two different"):
    backend.plane(Params({"mode": "dims", "i": 2, "j": 2}))


def test_sectar_episode_replays_the_plans(served):
  app, client, _ = served
  info = client.get(url(app, "sectar")).json()
  assert info["env"] == "waypoint" and info["tasks"] == [0, 3] and set(info["maps"]) == {"0", "3"}
  out = client.post(url(app, "sectar", "episode"), data={"task": 3, "seed": 2}).json()
  t, n = info["segment_len"], info["num_latents"]
  assert len(out["executed"]["xy"]) == n * t + 1 and len(out["segments"]) == n and out["map"] == info["maps"]["3"]
  for seg in out["segments"]:
    # The plan behind each segment is the one the episode chose: its first latent is the one executed, and its
    # first decoded segment is the one the page draws as predicted.
    assert np.allclose(seg["plan_latents"][0], seg["latent"], atol=1e-3)
    assert np.allclose(seg["plan"]["xy"][: t + 1], seg["predicted"]["xy"], atol=1e-3)
    assert len(seg["plan"]["xy"]) == info["horizon"] * t + 1 and len(seg["predicted"]["xy"]) == t + 1
  assert out["reward"] == sum(out["rewards"])
  assert client.post(url(app, "sectar", "episode"), data={"task": 3, "seed": 2}).json() == out
  assert "task 1 is not served" in error(client.post(url(app, "sectar", "episode"), data={"task": 1}), 400)
  assert "'task' must lie in [0, 4]" in error(client.post(url(app, "sectar", "episode"), data={"task": 7}), 400)


def test_sectar_consistency(served):
  app, client, _ = served
  dim = client.get(url(app, "sectar")).json()["latent_dim"]
  out = client.post(url(app, "sectar", "consistency"), data={"seed": 1}).json()
  assert len(out["z"]) == dim and len(out["decoded"]["xy"]) == len(out["executed"]["xy"]) == 10
  assert out["decoded"]["xy"][0] == out["executed"]["xy"][0] == out["start"]
  given = client.post(url(app, "sectar", "consistency"), json={"z_mode": "given", "z": out["z"], "seed": 1}).json()
  assert np.allclose(given["decoded"]["xy"], out["decoded"]["xy"], atol=1e-3)
  xy = client.post(url(app, "sectar", "consistency"), data={"start": "xy", "x": 1.5, "y": -0.5, "task": 3}).json()
  assert xy["start"] == [1.5, -0.5]
  assert client.post(url(app, "sectar", "consistency"), data={"start": "buffer"}).status_code == 200
  bad = url(app, "sectar", "consistency")
  assert "array of 4 numbers" in error(client.post(bad, json={"z_mode": "given", "z": [0, 1]}), 400)
  assert "must lie in [-4, 4]" in error(client.post(bad, json={"z_mode": "given", "z": [9] * dim}), 400)
  assert "'x' must lie in [-3, 3]" in error(client.post(bad, data={"start": "xy", "x": 5, "y": 0}), 400)
  assert "'start' must be one of" in error(client.post(bad, data={"start": "moon"}), 400)


# -- concurrency, compilation, the run's folder -----------------------------------------------------------------


def test_concurrent_requests_agree_with_sequential_ones_and_nothing_compiles(served):
  app, client, _ = served
  compiles = []
  jax.monitoring.register_event_duration_secs_listener(
    lambda event, duration, **kw: compiles.append(event) if "backend_compile" in event else None
  )
  requests = [("musicvae", "sample", {"num": 1 + i % 8, "temperature": 0.1 + 0.13 * i, "seed": i}) for i in range(8)]
  requests += [("musicvae", "interpolate", {"start_index": 0, "end_index": 2, "steps": 2 + i}) for i in range(4)]
  requests += [("vae", "decode", {"x": 0.3 * i, "y": -0.2 * i}) for i in range(4)]
  requests += [("sectar", "consistency", {"seed": i}) for i in range(3)]
  requests += [("sectar", "episode", {"task": 0, "seed": 9})]
  call = lambda r: client.post(url(app, r[0], r[1]), data=r[2]).json()
  sequential = [call(r) for r in requests]
  with concurrent.futures.ThreadPoolExecutor(8) as pool:
    concurrent_ = list(pool.map(call, requests * 2))
  assert concurrent_ == sequential * 2
  assert not compiles, f"requests compiled: {compiles}"


def test_nothing_is_written_into_the_runs(served, runs):
  app, client, before = served
  client.post(url(app, "musicvae", "sample"), data={"num": 2})
  client.post(url(app, "musicvae", "reconstruct"), files={"melody": ("m.mid", midi_bytes())})
  client.post(url(app, "musicvae", "midi"), data={"tokens": json.dumps([[0]] * 32)})
  client.get(url(app, "vae", "decode"), params={"x": 0, "y": 0})
  client.post(url(app, "sectar", "episode"), data={"task": 0})
  for kind, path in runs.items():
    assert listing(path) == before[kind], f"the {kind} run's folder changed"


# -- a real browser -----------------------------------------------------------------------------------------


def _browser_or_skip():
  chromium = shutil.which("chromium") or shutil.which("chromium-browser")
  driver = shutil.which("chromedriver")
  if not chromium or not driver:
    pytest.skip("no Chromium/chromedriver installed (apt-get install chromium chromium-driver)")
  try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
  except ImportError:
    pytest.skip("selenium is not installed (pip install selenium)")
  options = webdriver.ChromeOptions()
  options.binary_location = chromium
  for arg in (
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--window-size=1280,1000",
    "--force-device-scale-factor=1",
    "--autoplay-policy=no-user-gesture-required",
  ):
    options.add_argument(arg)
  options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
  return webdriver.Chrome(service=Service(driver), options=options)


@pytest.fixture(scope="module")
def live_server(served):
  """The same app on a loopback port, served by uvicorn in a thread."""
  from serving import BackgroundServer

  app, _, _ = served
  with BackgroundServer(app) as server:
    yield server.url


def _wait_drawn(browser, name: str, timeout: float = 30) -> None:
  from selenium.webdriver.support.ui import WebDriverWait

  WebDriverWait(browser, timeout).until(
    lambda b: name in (b.execute_script("return document.body.dataset.drawn") or "").split()
  )


def test_pages_in_a_real_browser(served, live_server, tmp_path):
  from selenium.webdriver.common.action_chains import ActionChains
  from selenium.webdriver.common.by import By

  browser = _browser_or_skip()
  app, _, _ = served
  shots = []
  try:

    def visit(kind: str):
      browser.get(f"{live_server}/runs/{names(app)[kind]}/")
      _wait_drawn(browser, "info")

    def shoot(name: str):
      path = tmp_path / f"{name}.png"
      browser.execute_script("window.scrollTo(0, 0)")
      metrics = {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False}
      browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)  # lay the page out at its final width
      metrics["height"] = min(2400, int(browser.execute_script("return document.documentElement.scrollHeight")))
      browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)  # then the whole page in one picture
      browser.save_screenshot(str(path))
      browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
      shots.append(path)
      problems = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
      assert not problems, f"console errors on the {name} page: {problems}"
      assert not browser.find_element(By.ID, "error").is_displayed()

    visit("musicvae")
    browser.find_element(By.ID, "sample").click()
    _wait_drawn(browser, "sample")
    browser.find_element(By.ID, "interpolate").click()
    _wait_drawn(browser, "interpolate")
    browser.execute_script(
      "const s = document.getElementById('attr-note-density'); s.value = 2;s.dispatchEvent(new Event('input'));"
    )
    _wait_drawn(browser, "attributes")
    browser.find_element(By.ID, "reconstruct").click()
    _wait_drawn(browser, "reconstruct")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#samples canvas")) == 4
    shoot("explorer_musicvae")
    # A bad upload shows the server's message on the page, and the page keeps working.
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"not midi at all")
    browser.find_element(By.ID, "recon-file").send_keys(str(bad))
    browser.find_element(By.ID, "reconstruct").click()
    box = browser.find_element(By.ID, "error")
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 10).until(lambda b: box.is_displayed())
    assert "not a MIDI file" in box.text
    browser.get_log("browser")  # the failed fetch is logged as an error by Chromium: expected here

    visit("vae")
    _wait_drawn(browser, "plane")
    plane = browser.find_element(By.ID, "plane")
    browser.execute_script("document.body.dataset.drawn = ''")
    ActionChains(browser).move_to_element_with_offset(plane, 60, -80).perform()
    _wait_drawn(browser, "decode")
    assert browser.find_element(By.ID, "zread").text.startswith("z = [")
    shoot("explorer_vae")

    visit("sectar")
    _wait_drawn(browser, "consistency")
    browser.find_element(By.ID, "replay").click()
    _wait_drawn(browser, "episode")
    browser.execute_script(
      "const s = document.getElementById('segment'); s.value = 1;s.dispatchEvent(new Event('input'));"
    )
    shoot("explorer_sectar")
  finally:
    browser.quit()
  if os.environ.get("TRAJVAE_UPDATE_SCREENSHOTS"):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for path in shots:
      shutil.copy(path, SCREENSHOTS / path.name)
  assert all(p.stat().st_size > 10_000 for p in shots)
