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
from pathlib import Path


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
        """SIGKILL every live process of the tree (stopped ones too)."""
        for _ in range(3):
            live = self.poll()
            if not live:
                return
            for pid in live:
                for sig in (signal.SIGKILL, signal.SIGCONT):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, sig)
        if self.root.poll() is None:
            self.root.wait(timeout=5)
