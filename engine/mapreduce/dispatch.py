"""The default engine's worker: waits for its job, then runs the worker of the job's mode.

A worker may start before its job exists (the driver may still be bootstrapping) and on
another host than the driver, so the mode is read from the job's hash, where the bootstrap
records it before adding any task.
"""

from __future__ import annotations

import time
from typing import Any

import redis

from engine import connection
from engine.errors import JobNotFoundError
from engine.keys import JobKeys

POLL_S = 0.05


class ModeWorker:
    """Runs :class:`engine.worker.Worker` or :class:`MapReduceWorker`, as the job says."""

    def __init__(self, client: redis.Redis, job_id: str, **options: Any) -> None:
        self.client, self.job_id, self.options = client, job_id, options

    def run(self) -> Any:
        return self.resolve().run()

    def resolve(self) -> Any:
        keys = JobKeys(self.job_id)
        wait_s = float(self.options.get("wait_for_job_s", 30.0))
        give_up = time.monotonic() + wait_s
        while True:
            settings, mode = connection.call(
                self.client, lambda: self.client.hmget(keys.job, "settings", "mode")
            )
            if settings is not None:
                break
            if time.monotonic() > give_up:
                raise JobNotFoundError(
                    f"no job {self.job_id!r} appeared in Redis within {wait_s:.0f} s: "
                    "start it with `wordcount run --job ID ...`"
                )
            time.sleep(POLL_S)
        if mode == b"mapreduce":  # imported only then: numpy costs a stream job 0.1 s
            from engine.mapreduce.worker import MapReduceWorker

            return MapReduceWorker(self.client, self.job_id, **self.options)
        from engine.worker import Worker

        return Worker(self.client, self.job_id, **self.options)
