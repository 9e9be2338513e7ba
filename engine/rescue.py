"""Writing ``--output`` at the end of a run without losing the counts when that fails.

The output is checked before the job starts (:func:`engine.output.check_output`), but a
disk can fill up while the job runs. Then the counts must not be lost with the error:
on an external Redis they are still there, and the message says how to fetch them; an
embedded Redis is gone with the run, so the counts go to a file in the temporary folder
(then the home folder) and the message names it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

from engine.connection import redact
from engine.errors import ConfigError
from engine.output import write_counts
from engine.redisopts import PASSWORD_ENV


class OutputLostError(ConfigError):
    """The output file could not be written; the message says where the counts are."""


def write_or_rescue(
    output: str, counts: Mapping[str, int], *, job_id: str, redis_url: str | None
) -> None:
    """Write ``counts`` to ``output``, or raise an error that says where they still are."""
    try:
        write_counts(output, counts)
        return
    except ConfigError as exc:
        failure = str(exc)
    suffix = Path(output).suffix.lower()
    if redis_url is not None:
        shown = redact(redis_url)
        raise OutputLostError(
            f"{failure}; the counts of job {job_id} stay in Redis at {shown}: fetch them with "
            f"`wordcount top --redis-url-file FILE --job {job_id} --output OTHER{suffix}` "
            f"(or --redis-url, with the password in ${PASSWORD_ENV})"
        )
    tried = []
    for folder in (Path(tempfile.gettempdir()), Path.home()):
        fallback = folder / f"wordcount-{job_id}-counts{suffix}"
        try:
            write_counts(fallback, counts)
        except ConfigError as again:
            tried.append(str(again))
            continue
        raise OutputLostError(f"{failure}; the counts of job {job_id} were written to {fallback}")
    raise OutputLostError(
        f"{failure}; the embedded Redis is gone and the fallbacks failed too "
        f"({'; '.join(tried)}): free some disk space and run the job again"
    )
