"""The crash points of a dataflow job, reported through :func:`engine.crashpoints.reach`.

They are named apart from the word count's (``flow.`` first) so that the word count's
fault suite, which expects its own points, is unaffected. Every worker point carries the
task's ``stage``, ``partition``, ``entry`` and ``consumer``.
"""

from __future__ import annotations

WORKER_AFTER_READ = "flow.worker.after_read"
"""A new task was delivered; nothing of it is read yet."""
WORKER_AFTER_CLAIM = "flow.worker.after_claim"
"""A stale task was stolen with XAUTOCLAIM."""
WORKER_AFTER_EXECUTE = "flow.worker.after_execute"
"""The stage's operators ran over the partition; nothing is written yet."""
WORKER_BEFORE_COMMIT = "flow.worker.before_commit"
"""The output is routed and packed; the atomic commit is next."""
WORKER_AFTER_COMMIT = "flow.worker.after_commit"
"""The commit returned (``accepted``, ``reason``, ``state``)."""
DRIVER_BOOTSTRAP = "flow.driver.bootstrap"
"""The driver has read and partitioned the input and is about to bootstrap the job."""
DRIVER_BETWEEN_STAGES = "flow.driver.between_stages"
"""The driver saw the job move to a new ``stage``."""
DRIVER_BEFORE_RESULT = "flow.driver.before_result"
"""The job is done; the driver has not read the result yet."""

WORKER_POINTS = (
    WORKER_AFTER_READ,
    WORKER_AFTER_CLAIM,
    WORKER_AFTER_EXECUTE,
    WORKER_BEFORE_COMMIT,
    WORKER_AFTER_COMMIT,
)
DRIVER_POINTS = (DRIVER_BOOTSTRAP, DRIVER_BETWEEN_STAGES, DRIVER_BEFORE_RESULT)
ALL = WORKER_POINTS + DRIVER_POINTS
