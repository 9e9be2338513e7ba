"""Finding what a test session left running, by the marks it left, and ending it.

Every process a test session starts inherits a marker variable in its environment, and
every container it starts carries an owner label (``host:pid``). After the session these
two sweeps kill the processes and remove the containers, so that a test that crashed or
timed out cannot leave a Redis server or a worker behind for the next run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
from pathlib import Path


def sweep_processes(marker_env: str) -> list[tuple[int, str]]:
    """SIGKILL each live process whose environment carries this process's marker."""
    marker = os.environ.get(marker_env)
    if not marker or not sys.platform.startswith("linux"):
        return []
    needle = f"\0{marker_env}={marker}\0".encode()
    killed = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle not in b"\0" + (entry / "environ").read_bytes():
                continue
            name = (entry / "comm").read_text().strip()
            os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue  # exited meanwhile, or not ours to read
        killed.append((int(entry.name), name))
    return killed


def sweep_containers(owners: set[int], owner_label: str) -> list[str]:
    """Remove containers owned by this process or by the processes just killed.

    Only where this process used containers: the sweep never imports the docker SDK itself.
    """
    if "engine.nodes.container" not in sys.modules and not owners:
        return []
    try:
        from engine.nodes.dockerutil import docker_available, docker_client

        if not docker_available():
            return []
        client = docker_client(timeout_s=10)
    except Exception:
        return []
    owners = owners | {os.getpid()}
    removed = []
    try:
        for container in client.containers.list(all=True, filters={"label": owner_label}):
            host, _, pid = container.labels.get(owner_label, "").rpartition(":")
            if host == socket.gethostname() and pid.isdigit() and int(pid) in owners:
                with contextlib.suppress(Exception):
                    container.remove(force=True, v=True)
                    removed.append(f"removed container {container.short_id}")
    except Exception as exc:
        removed.append(f"could not list containers ({exc})")
    finally:
        client.close()
    return removed
