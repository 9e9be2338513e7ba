"""The submission's process tree: started in a session of its own, tracked, removed.

The command is started with ``start_new_session``, so its processes share a session ID
that the grader looks for in ``/proc``; a process that leaves the session (``setsid``)
is still caught as a descendant of one already seen, because the tree is polled while the
run lasts. At the end every process seen is SIGKILLed (after a SIGCONT, in case it was
stopped), whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

GONE_WITHIN_S = 5.0
"""How long :meth:`ProcessTree.kill_all` waits for the processes it SIGKILLed to go."""


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent PID, session ID) of a live process, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    if fields[0] == "Z":
        return None
    return int(fields[1]), int(fields[3])


class ProcessTree:
    """Every process the command started, as far as the grader has seen."""

    def __init__(self, root: subprocess.Popen[bytes]) -> None:
        self.root = root
        self.session = root.pid
        self.seen: set[int] = {root.pid}
        self.children: list[int] = []
        """Processes of the tree other than the root, in the order first seen."""

    def poll(self) -> set[int]:
        """Look again: the live processes of the tree (and remember them)."""
        live: set[int] = set()
        parents: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            stat = _stat(int(entry))
            if stat is None:
                continue
            parents[int(entry)] = stat[0]
            if stat[1] == self.session:
                live.add(int(entry))
        grew = True
        while grew:  # descendants of known processes, even outside the session
            more = {pid for pid, parent in parents.items() if parent in live | self.seen}
            grew = not more <= live
            live |= more
        live = {pid for pid in live if pid in parents}
        self.children += sorted(live - self.seen)
        self.seen |= live
        return live

    def kill_all(self) -> None:
        """SIGKILL every live process of the tree (stopped ones too), and wait until each
        one signalled is gone: a process that left the session is no longer seen as the
        tree's once its parent died, so looking again cannot tell that it is dead yet (a
        loaded machine delivers a SIGKILL late)."""
        signalled: set[int] = set()
        for _ in range(3):
            live = self.poll()
            if not live:
                break
            for pid in live:
                for sig in (signal.SIGKILL, signal.SIGCONT):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, sig)
            signalled |= live
        if self.root.poll() is None:
            self.root.wait(timeout=5)
        deadline = time.monotonic() + GONE_WITHIN_S
        while any(_stat(pid) is not None for pid in signalled) and time.monotonic() < deadline:
            time.sleep(0.01)
