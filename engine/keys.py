"""Every Redis key and group name the engine uses, in one place.

All of a job's keys share the hash tag ``{<job>}`` so that in a Redis Cluster they live in
one slot, which the atomic commit function needs, and so that several jobs (and several
tests) can share one Redis without touching each other's data.
"""

from __future__ import annotations

import dataclasses
import re

from engine.errors import ConfigError

PREFIX = "wc"
GROUP = "workers"
FUNCTION_LIBRARY = "wordcount"
SYNC_CHANNEL = f"{PREFIX}:sync"
"""A Pub/Sub channel (no key): a PUBLISH to it is replicated, which gives a connection a
replication offset for WAIT to wait on (:mod:`engine.replica_sync`)."""
MAPREDUCE_LIBRARY = "wordcount_mr"
"""The MapReduce mode's function library (``engine/mapreduce/mapreduce.lua``)."""
_JOB_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


def check_job_id(job_id: str) -> str:
    """Reject IDs that would break the hash tag or make key names ambiguous."""
    if not _JOB_ID.match(job_id):
        raise ConfigError(
            f"invalid job ID {job_id!r}: use 1-100 letters, digits, '.', '_', ':' or '-'"
        )
    return job_id


@dataclasses.dataclass(frozen=True)
class JobKeys:
    """The key names of one job."""

    job_id: str

    def __post_init__(self) -> None:
        check_job_id(self.job_id)

    @property
    def _base(self) -> str:
        return f"{PREFIX}:{{{self.job_id}}}"

    @property
    def tasks(self) -> str:
        """Stream of tasks, read by the consumer group :data:`GROUP`."""
        return f"{self._base}:tasks"

    @property
    def counts(self) -> str:
        """Sorted set: word -> count."""
        return f"{self._base}:counts"

    @property
    def job(self) -> str:
        """Hash: state, settings and progress counters of the job."""
        return f"{self._base}:job"

    @property
    def done(self) -> str:
        """Set of the entry IDs of acknowledged tasks (for checkers and status)."""
        return f"{self._base}:done"

    @property
    def dead(self) -> str:
        """Dead-letter stream: tasks that could not be counted, with the error text."""
        return f"{self._base}:dead"

    def stage(self, attempt: str) -> str:
        """Hash of the parts of one commit attempt's counts, staged before its commit
        (``attempt``: the batch's first entry, the consumer and a random token)."""
        return f"{self._base}:stage:{attempt}"

    @property
    def applying(self) -> str:
        """Hash: staging hash -> number of parts, for the commits whose staged parts are
        still being merged into the counts (see engine/wordcount.lua)."""
        return f"{self._base}:applying"

    def alive(self, consumer: str) -> str:
        """String with a time to live: ``working`` or ``stalled`` while the consumer's
        heartbeat runs (see engine/heartbeat.py); gone once it died."""
        return f"{self._base}:alive:{consumer}"

    @property
    def reduces(self) -> str:
        """MapReduce mode: stream of reduce tasks (one per partition), group :data:`GROUP`,
        filled once every map task is committed or dead-lettered."""
        return f"{self._base}:reduces"

    @property
    def map_outputs(self) -> str:
        """MapReduce mode: hash, map task index -> its committed outputs (input bytes, and
        size and checksum of each partition file)."""
        return f"{self._base}:maps"

    @property
    def reduced(self) -> str:
        """MapReduce mode: set of the partitions whose final counts are committed."""
        return f"{self._base}:reduced"

    def all_fixed(self) -> list[str]:
        """The job's keys other than staging hashes (for deleting a job)."""
        return [self.tasks, self.counts, self.job, self.done, self.dead, self.applying,
                self.reduces, self.map_outputs, self.reduced]  # fmt: skip

    @property
    def stage_pattern(self) -> str:
        """SCAN pattern matching the job's staging hashes."""
        return f"{self._base}:stage:*"


JOB_KEY_PATTERN = f"{PREFIX}:{{*}}:job"
WORKER_FIELD_PREFIX = "w:"
"""Fields ``w:<consumer>:tasks|bytes|first_ms|last_ms`` of the job hash: each worker's
commits, tallied by the commit function for the status page (:mod:`engine.web`)."""


def job_id_from_key(key: str) -> str:
    """Invert :attr:`JobKeys.job` (used when listing jobs)."""
    return key[len(PREFIX) + 2 : key.rindex("}")]


FLOW_LIBRARY = "flow"


@dataclasses.dataclass(frozen=True)
class FlowKeys(JobKeys):
    """The key names of a dataflow job (``engine/flow``): the job hash and task stream are
    a word-count job's, so one job ID names one kind of job and ``worker`` can tell which."""

    def data(self, stage: int, partition: int) -> str:
        """Hash: input of one task of a stage, one field per source partition."""
        return f"{self._base}:flow:in:{stage}:{partition}"

    @property
    def result(self) -> str:
        """Hash: the last stage's output, one field per partition."""
        return f"{self._base}:flow:result"

    @property
    def runs(self) -> str:
        """Hash: accepted commits per task (``stage:partition`` -> count), for checkers."""
        return f"{self._base}:flow:runs"

    @property
    def data_pattern(self) -> str:
        return f"{self._base}:flow:in:*"
