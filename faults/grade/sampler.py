"""The atomicity sampler (with ``--stream`` and ``--group``): while the command runs, the
counts must always equal the sum of the counts of exactly the files acknowledged so far.

One Lua script reads the counts, the stream, the group's pending entries and its last
delivered ID in one step, so each sample is a consistent cut of Redis. A file is
acknowledged when it was delivered and is no longer pending. A sample that differs shows
counts added without their acknowledgement, or the reverse: the window a crash exploits,
seen with no fault at all.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

import redis

from faults.grade.server import GradeRedis

SNAPSHOT = """
local counts = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
local entries = redis.call('XRANGE', KEYS[1], '-', '+')
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 100000)
local last = '0-0'
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  if g[2] == ARGV[1] then last = g[8] end
end
return {counts, entries, pending, last}
"""


def _id(entry_id: bytes) -> tuple[int, int]:
    ms, _, seq = entry_id.decode().partition("-")
    return int(ms), int(seq or 0)


class Sampler:
    """Samples from a thread between :meth:`start` and :meth:`stop`."""

    def __init__(self, server: GradeRedis, stream: str, group: str, counts_key: str,
                 files: list[Path], per_file: list[Counter[str]]) -> None:  # fmt: skip
        self.server, self.keys, self.group = server, [stream, counts_key], group
        self.by_path = {str(p): c for p, c in zip(files, per_file, strict=True)}
        self.by_path.update({p.name: c for p, c in zip(files, per_file, strict=True)})
        self.violations: list[str] = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="grade-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(0.02) and not self.violations:
            try:
                raw = self.server.client(timeout_s=0.5).eval(SNAPSHOT, 2, *self.keys, self.group)
            except (redis.RedisError, OSError):
                continue  # Redis restarting or paused, or the group not made yet
            self.samples += 1
            problem = self.check(raw)
            if problem:
                self.violations.append(problem)

    def check(self, raw: Any) -> str | None:
        counts_raw, entries, pending, last = raw
        counts: Counter[str] = Counter()
        for i in range(0, len(counts_raw), 2):
            counts[counts_raw[i].decode("utf-8", "surrogateescape")] = int(counts_raw[i + 1])
        open_ids = {p[0] for p in pending}
        acked: Counter[str] = Counter()
        names = []
        for entry_id, fields in entries:
            if _id(entry_id) > _id(last) or entry_id in open_ids:
                continue
            values = [v.decode("utf-8", "replace") for v in fields[1::2]]
            match = next((v for v in values if v in self.by_path), None)
            if match is not None:
                acked.update(self.by_path[match])
                names.append(Path(match).name)
        if +counts == +acked:
            return None
        files = ", ".join(names) or "none"
        return f"at one moment the counts were not those of the acknowledged files ({files})"
