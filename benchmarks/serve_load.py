"""Bounded load test of the explorer on loopback: N concurrent clients for a fixed time, p50/p95 latency, errors.

  python benchmarks/serve_load.py --workdir runs/demo-musicvae                 # starts the server itself
  python benchmarks/serve_load.py --url http://127.0.0.1:8000 --clients 4      # an explorer already running

Only loopback addresses are accepted. The default request is a MusicVAE prior sample (2 bars for a 2-bar run) at
temperature 1, a new seed per request; --action/--field pick another endpoint. The target is a p50 under 200 ms
on a 2-core CPU after warm-up (the server compiles everything before it listens).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def percentile(values: list[float], q: float) -> float:
  ordered = sorted(values)
  return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def client_loop(
  url: str, fields: dict, deadline: float, latencies: list, errors: list, lock: threading.Lock, seed0: int
) -> None:
  seed = seed0
  while time.perf_counter() < deadline:
    body = json.dumps({**fields, "seed": seed}).encode()
    request = urllib.request.Request(url, body, {"content-type": "application/json"}, method="POST")
    start = time.perf_counter()
    try:
      with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
      with lock:
        latencies.append(time.perf_counter() - start)
    except (urllib.error.URLError, OSError) as e:
      with lock:
        errors.append(str(e))
    seed += 1000


def run_load(base: str, run: str, action: str, fields: dict, clients: int, seconds: float) -> dict:
  url = f"{base}/api/runs/{urllib.parse.quote(run)}/{action}"
  latencies: list[float] = []
  errors: list[str] = []
  lock = threading.Lock()
  deadline = time.perf_counter() + seconds
  threads = [
    threading.Thread(target=client_loop, args=(url, fields, deadline, latencies, errors, lock, i))
    for i in range(clients)
  ]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  ms = [1000 * x for x in latencies]
  return {
    "url": url,
    "clients": clients,
    "seconds": seconds,
    "requests": len(ms),
    "errors": len(errors),
    "first_error": errors[0] if errors else None,
    "p50_ms": round(percentile(ms, 50), 1),
    "p95_ms": round(percentile(ms, 95), 1),
    "max_ms": round(max(ms), 1) if ms else None,
    "requests_per_s": round(len(ms) / seconds, 1),
  }


def start_server(workdir: str):
  """(the explorer of workdir serving on a free loopback port, seconds it took to load the run)."""
  sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests"))
  from serving import BackgroundServer  # the test harness (tests/serving.py)

  from trajvae.serve import create_app

  start = time.perf_counter()
  app = create_app(workdir)
  ready = time.perf_counter() - start
  return BackgroundServer(app).start(), ready


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  where = parser.add_mutually_exclusive_group(required=True)
  where.add_argument("--workdir", help="a MusicVAE (or other) run: start the explorer on a free loopback port")
  where.add_argument("--url", help="an explorer already listening on loopback, e.g. http://127.0.0.1:8000")
  parser.add_argument("--run", help="run name (default: the server's first run)")
  parser.add_argument("--clients", type=int, default=4)
  parser.add_argument("--seconds", type=float, default=20.0)
  parser.add_argument("--warmup-seconds", type=float, default=2.0, help="untimed load first")
  parser.add_argument("--action", default="sample")
  parser.add_argument("--field", nargs="*", default=["num=1", "temperature=1.0"], metavar="KEY=VALUE")
  args = parser.parse_args(argv)
  if not 1 <= args.clients <= 64 or not 0 < args.seconds <= 600:
    parser.error("--clients must be in [1, 64] and --seconds in (0, 600]")
  server = ready = None
  if args.workdir:
    server, ready = start_server(args.workdir)
    base = server.url
  else:
    base = args.url.rstrip("/")
    host = urllib.parse.urlparse(base).hostname
    if host not in LOOPBACK:
      parser.error(f"only loopback servers may be load-tested (got {host!r})")
  try:
    with urllib.request.urlopen(f"{base}/api/runs", timeout=10) as response:
      served = json.loads(response.read())["runs"]
    run = args.run or served[0]["name"]
    fields = dict(f.split("=", 1) for f in args.field)
    if args.warmup_seconds:
      run_load(base, run, args.action, fields, args.clients, args.warmup_seconds)
    result = run_load(base, run, args.action, fields, args.clients, args.seconds)
    result["server_ready_s"] = None if ready is None else round(ready, 1)
    print(json.dumps(result, indent=2))
  finally:
    if server is not None:
      server.stop()
  return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
  sys.exit(main())
