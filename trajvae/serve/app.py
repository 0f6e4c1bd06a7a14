"""The explorer's ASGI app: static pages plus JSON endpoints for one or more trained runs.

`create_app(workdir)` reads each run's checkpoint tag to pick its model, loads
it once, and (by default) calls every endpoint once so each jitted function is
compiled before the first request. The run's folder is only read.

Routes:
  GET  /                              the run's page (a list of runs when several are served)
  GET  /runs/{run}/                   the page of one run (musicvae.html, vae.html or sectar.html)
  GET  /api/runs                      the runs served
  GET  /api/runs/{run}                one run's model, step, config and limits
  GET|POST /api/runs/{run}/{action}   the model's endpoints (query string, JSON body or multipart form)
Errors are JSON {"error": message} with a 4xx status.
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
import time
from typing import Any, Sequence

from trajvae.errors import InputError, extra_imports, require_extra

with extra_imports("serve"):
  from starlette.applications import Starlette
  from starlette.concurrency import run_in_threadpool
  from starlette.exceptions import HTTPException
  from starlette.requests import Request
  from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
  from starlette.routing import Mount, Route
  from starlette.staticfiles import StaticFiles

from trajvae.serve.common import MAX_BODY_BYTES, ApiError, Binary, Params

log = logging.getLogger(__name__)
STATIC = pathlib.Path(__file__).parent / "static"
PAGES = {"musicvae": "musicvae.html", "vae": "vae.html", "sectar": "sectar.html"}


class ServeError(InputError):
  """A workdir the explorer cannot serve (missing, not a trajvae run, an unknown model)."""


class Run:
  """A served run: its name in URLs, its folder, the model kind, and the loaded backend."""

  def __init__(self, name: str, workdir: pathlib.Path, kind: str, backend: Any, load_seconds: float):
    self.name, self.workdir, self.kind, self.backend, self.load_seconds = name, workdir, kind, backend, load_seconds

  def summary(self) -> dict[str, Any]:
    return {"name": self.name, "model": self.kind, "step": int(self.backend.step), "page": f"/runs/{self.name}/"}


def run_kind(workdir: str | os.PathLike) -> str:
  """The model a workdir holds, from its checkpoint tag; ServeError when it is not a trained trajvae run."""
  from trajvae.train.checkpoint import read_checkpoint_meta

  path = pathlib.Path(workdir)
  if not path.is_dir():
    raise ServeError(f"no run at {path}: the folder does not exist")
  try:
    kind = read_checkpoint_meta(path / "checkpoints")["model"]
  except FileNotFoundError:
    raise ServeError(f"{path} is not a trained trajvae run (no checkpoints/trajvae_checkpoint.json)") from None
  if kind not in PAGES:
    raise ServeError(f"{path} holds a {kind!r} model, which the explorer does not know (known: {', '.join(PAGES)})")
  return kind


def load_backend(workdir: str | os.PathLike, kind: str, options: dict[str, Any]) -> Any:
  if kind == "musicvae":
    from trajvae.serve.music import MusicBackend

    return MusicBackend(str(workdir), held_out=options.get("music_held_out", True))
  if kind == "vae":
    from trajvae.serve.vae import VaeBackend

    return VaeBackend(str(workdir))
  from trajvae.serve.sectar import NUM_TASKS, SectarBackend

  tasks = tuple(options.get("sectar_tasks") or range(NUM_TASKS))
  if any(not 0 <= t < NUM_TASKS for t in tasks):
    raise ServeError(f"SeCTAR tasks must be among 0..{NUM_TASKS - 1}, got {list(tasks)}")
  return SectarBackend(str(workdir), tasks=tasks)


def load_runs(workdirs: Sequence[str | os.PathLike], warm_up: bool = True, **options) -> dict[str, Run]:
  """Load (and warm up) every run; names are the folders' names, made unique."""
  if not workdirs:
    raise ServeError("give at least one --workdir")
  runs: dict[str, Run] = {}
  for workdir in workdirs:
    path = pathlib.Path(workdir).expanduser().resolve()
    kind = run_kind(path)
    start = time.perf_counter()
    backend = load_backend(path, kind, options)
    if warm_up:
      backend.warm_up()
    name, n = path.name or "run", 2
    while name in runs:
      name, n = f"{path.name}-{n}", n + 1
    runs[name] = Run(name, path, kind, backend, time.perf_counter() - start)
    log.info("loaded %s run %s (step %s) in %.1f s", kind, name, backend.step, runs[name].load_seconds)
  return runs


async def _bounded_body(request: Request) -> bytes:
  """The request body, refused with 413 as soon as it passes MAX_BODY_BYTES (declared or streamed)."""
  declared = request.headers.get("content-length")
  if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
    raise ApiError(413, f"request body of {int(declared)} bytes is over the {MAX_BODY_BYTES // 1024} KiB limit")
  chunks, size = [], 0
  async for chunk in request.stream():
    size += len(chunk)
    if size > MAX_BODY_BYTES:
      raise ApiError(413, f"request body is over the {MAX_BODY_BYTES // 1024} KiB limit")
    chunks.append(chunk)
  return b"".join(chunks)


async def read_params(request: Request) -> Params:
  """Query-string fields, plus a POST's JSON object or form fields and uploaded files."""
  fields: dict[str, Any] = dict(request.query_params)
  files: dict[str, bytes] = {}
  if request.method != "POST":
    return Params(fields, files)
  body = await _bounded_body(request)
  content_type = request.headers.get("content-type", "")
  if not body:
    return Params(fields, files)
  if content_type.startswith("application/json"):
    try:
      data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
      raise ApiError(400, "the request body is not valid JSON") from None
    if not isinstance(data, dict):
      raise ApiError(400, "the JSON body must be an object of parameters")
    fields.update(data)
  elif content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
    sent = False

    async def replay():
      nonlocal sent
      if sent:
        return {"type": "http.disconnect"}
      sent = True
      return {"type": "http.request", "body": body, "more_body": False}

    form = await Request(request.scope, replay).form(max_files=4, max_fields=64, max_part_size=MAX_BODY_BYTES)
    for key, value in form.multi_items():
      if isinstance(value, str):
        fields[key] = value
      elif value.filename or value.size:  # a browser sends an empty nameless part for an unused file input
        files[key] = await value.read()
    await form.close()
  else:
    raise ApiError(415, f"unsupported content type {content_type!r}; send JSON or a multipart form")
  return Params(fields, files)


def create_app(
  workdir: str | os.PathLike | Sequence[str | os.PathLike],
  warm_up: bool = True,
  runs: dict[str, Run] | None = None,
  **options,
) -> Starlette:
  """The explorer for one workdir (or several); options: music_held_out=False, sectar_tasks=(0, 2)."""
  require_extra("serve")  # python-multipart is imported by Starlette only when the first form arrives
  if runs is None:
    workdirs = [workdir] if isinstance(workdir, (str, os.PathLike)) else list(workdir)
    runs = load_runs(workdirs, warm_up=warm_up, **options)

  def get_run(name: str) -> Run:
    if name not in runs:
      raise ApiError(404, f"unknown run {name!r}; this server serves: {', '.join(runs)}")
    return runs[name]

  async def index(request: Request) -> Response:
    if len(runs) == 1:
      return RedirectResponse(next(iter(runs.values())).summary()["page"])
    return FileResponse(STATIC / "index.html")

  async def page(request: Request) -> Response:
    name = request.path_params["run"]
    if name not in runs:
      return JSONResponse({"error": f"unknown run {name!r}; this server serves: {', '.join(runs)}"}, 404)
    return FileResponse(STATIC / PAGES[runs[name].kind])

  async def list_runs(request: Request) -> Response:
    return JSONResponse({"runs": [r.summary() for r in runs.values()]})

  async def run_info(request: Request) -> Response:
    from trajvae.config import to_dict

    run = get_run(request.path_params["run"])
    info = {
      **run.summary(),
      "workdir": str(run.workdir),
      "load_seconds": round(run.load_seconds, 2),
      "config": to_dict(run.backend.config),
      **run.backend.info(),
    }
    return JSONResponse(info)

  async def action(request: Request) -> Response:
    run = get_run(request.path_params["run"])
    params = await read_params(request)
    out = await run_in_threadpool(run.backend.handle, request.path_params["action"], params)
    if isinstance(out, Binary):
      return Response(
        out.content,
        media_type=out.media_type,
        headers={"Content-Disposition": f'attachment; filename="{out.filename}"'},
      )
    return JSONResponse(out)

  async def api_not_found(request: Request) -> Response:
    return JSONResponse({"error": f"no endpoint {request.url.path}"}, 404)

  async def on_api_error(request: Request, exc: ApiError) -> Response:
    return JSONResponse({"error": exc.message}, exc.status)

  async def on_http_error(request: Request, exc: HTTPException) -> Response:
    return JSONResponse({"error": str(exc.detail)}, exc.status_code, headers=getattr(exc, "headers", None))

  async def on_error(request: Request, exc: Exception) -> Response:
    log.exception("request %s failed", request.url.path)
    return JSONResponse({"error": f"internal error ({type(exc).__name__}: {exc})"}, 500)

  routes = [
    Route("/", index),
    Route("/runs/{run}/", page),
    Route("/api/runs", list_runs),
    Route("/api/runs/{run}", run_info),
    Route("/api/runs/{run}/{action}", action, methods=["GET", "POST"]),
    Route("/api/{rest:path}", api_not_found, methods=["GET", "POST"]),
    Mount("/static", StaticFiles(directory=STATIC), name="static"),
  ]
  app = Starlette(
    routes=routes, exception_handlers={ApiError: on_api_error, HTTPException: on_http_error, Exception: on_error}
  )
  app.state.runs = runs
  return app


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def serve(workdirs: Sequence[str], host: str = "127.0.0.1", port: int = 8000, **options) -> None:
  """Load the runs, then serve them with uvicorn until interrupted."""
  import sys

  with extra_imports("serve"):
    import uvicorn

  if host not in LOOPBACK:
    print(
      f"trajvae serve: warning: listening on {host}, not loopback: anyone who can reach this machine on port "
      f"{port} can use the explorer (there is no authentication)",
      file=sys.stderr,
    )
  logging.basicConfig(level=logging.WARNING, format="%(message)s")
  logging.getLogger("trajvae").setLevel(logging.INFO)
  logging.getLogger("absl").setLevel(logging.WARNING)
  app = create_app(list(workdirs), **options)
  for run in app.state.runs.values():
    print(
      f"{run.kind} run {run.name} (step {run.backend.step}) ready in {run.load_seconds:.1f} s: "
      f"http://{'[' + host + ']' if ':' in host else host}:{port}{run.summary()['page']}",
      file=sys.stderr,
    )
  uvicorn.run(app, host=host, port=port, log_level="warning")
