"""Multi-process (multi-host) runs through jax.distributed.

Every process runs the same command; the mesh then spans every process's
devices, each process feeds its own slice of each global batch, and orbax
writes each checkpoint once. Where the coordinator comes from, in order:

1. explicit arguments (the CLI's --coordinator-address/--num-processes/--process-id);
2. the environment variables TRAJVAE_COORDINATOR_ADDRESS, TRAJVAE_NUM_PROCESSES, TRAJVAE_PROCESS_ID;
3. JAX's own cluster detection (SLURM, Cloud TPU VMs, Open MPI, ...), when none of the above is set.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from typing import Any, Mapping

import jax
import numpy as np

from trajvae.errors import ConfigError, UserError

ENV_ADDRESS = "TRAJVAE_COORDINATOR_ADDRESS"
ENV_NUM_PROCESSES = "TRAJVAE_NUM_PROCESSES"
ENV_PROCESS_ID = "TRAJVAE_PROCESS_ID"


class DistributedInitError(UserError, RuntimeError):
  """This process could not join the run (coordinator unreachable, or bad process settings)."""


class ConfigMismatchError(ConfigError):
  """The processes of one run were started with different configs."""


def _env_int(name: str) -> int | None:
  value = os.environ.get(name)
  if value is None or value == "":
    return None
  try:
    return int(value)
  except ValueError:
    raise DistributedInitError(f"environment variable {name}={value!r} is not an integer") from None


def initialize(
  coordinator_address: str | None = None,
  num_processes: int | None = None,
  process_id: int | None = None,
  timeout_s: int = 300,
) -> None:
  """Join a multi-process run; must be called before any other JAX work in the process.

  Raises DistributedInitError, naming the coordinator, if the run cannot be joined within timeout_s.
  """
  coordinator_address = coordinator_address or os.environ.get(ENV_ADDRESS) or None
  num_processes = num_processes if num_processes is not None else _env_int(ENV_NUM_PROCESSES)
  process_id = process_id if process_id is not None else _env_int(ENV_PROCESS_ID)
  if num_processes is not None and process_id is not None and not 0 <= process_id < num_processes:
    raise DistributedInitError(f"process id {process_id} is outside [0, {num_processes})")
  if jax.config.jax_platforms in (None, "", "cpu") or os.environ.get("JAX_PLATFORMS", "") == "cpu":
    # CPU collectives across processes need gloo; GPU and TPU bring their own.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
  where = coordinator_address or "the coordinator found by JAX's cluster detection"
  if coordinator_address and process_id not in (None, 0):
    # jax aborts the whole process (no Python exception) when the coordinator never answers; probe it first.
    wait_for_coordinator(coordinator_address, timeout_s)
  try:
    jax.distributed.initialize(
      coordinator_address=coordinator_address,
      num_processes=num_processes,
      process_id=process_id,
      initialization_timeout=timeout_s,
    )
  except Exception as e:  # noqa: BLE001 - jax raises several types here, all meaning "could not join"
    raise DistributedInitError(
      f"process {process_id} could not join the run at {where} within {timeout_s}s "
      f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); check the address and port, "
      "that process 0 is running, and that every process was given the same --num-processes"
    ) from e


def wait_for_coordinator(address: str, timeout_s: float) -> None:
  """Poll host:port until it accepts a TCP connection, or raise DistributedInitError after timeout_s."""
  host, _, port = address.rpartition(":")
  if not host or not port.isdigit():
    raise DistributedInitError(f"coordinator address {address!r} is not of the form host:port")
  deadline = time.monotonic() + timeout_s
  while True:
    try:
      with socket.create_connection((host.strip("[]"), int(port)), timeout=1.0):
        return
    except OSError as e:
      if time.monotonic() >= deadline:
        raise DistributedInitError(
          f"could not join the run at {address}: nothing answered there within {timeout_s}s ({e}); "
          "check the address and port and that process 0 is running"
        ) from None
      time.sleep(0.2)


def config_digest(config: Mapping[str, Any]) -> int:
  """A stable 31-bit digest of a config (as plain data)."""
  text = json.dumps(config, sort_keys=True)
  return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") & 0x7FFFFFFF


def check_same_config(config: Mapping[str, Any]) -> None:
  """Raise ConfigMismatchError on every process if any two processes hold different configs."""
  if jax.process_count() == 1:
    return
  from jax.experimental import multihost_utils

  digests = np.asarray(multihost_utils.process_allgather(np.array([config_digest(config)], np.int32)))
  digests = digests.reshape(-1)
  if len(set(digests.tolist())) > 1:
    groups: dict[int, list[int]] = {}
    for process, digest in enumerate(digests.tolist()):
      groups.setdefault(digest, []).append(process)
    raise ConfigMismatchError(
      f"processes were started with different configs (processes grouped by config: {list(groups.values())}); "
      "every process of a run must get the same preset and overrides"
    )


def barrier(name: str) -> None:
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils

    multihost_utils.sync_global_devices(name)
