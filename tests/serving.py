"""A test harness: an ASGI app served by uvicorn in a daemon thread on a free loopback port.

Used by tests/test_serve.py (the browser tests) and benchmarks/serve_load.py (which puts tests/ on its path).
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn


class BackgroundServer:
  """An app served by uvicorn in a daemon thread on a free loopback port (tests, the load benchmark).

  Use as a context manager: `with BackgroundServer(app) as server: get(server.url + "/")`.
  """

  def __init__(self, app: Any, timeout: float = 30.0):
    with socket.socket() as s:
      s.bind(("127.0.0.1", 0))
      self.port = s.getsockname()[1]
    self.url = f"http://127.0.0.1:{self.port}"
    self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
    self._thread = threading.Thread(target=self._server.run, daemon=True)
    self._timeout = timeout

  def start(self) -> BackgroundServer:
    self._thread.start()
    deadline = time.time() + self._timeout
    while not self._server.started:
      if time.time() > deadline or not self._thread.is_alive():
        raise RuntimeError(f"the explorer did not start on {self.url} within {self._timeout:.0f} s")
      time.sleep(0.05)
    return self

  def stop(self) -> None:
    self._server.should_exit = True
    self._thread.join(10)

  def __enter__(self) -> BackgroundServer:
    return self.start()

  def __exit__(self, *exc) -> None:
    self.stop()
