"""One exception root for everything the engine reports to a user.

Every error carries a message that names the bad value and says how to fix it, so the
command line can print ``error: <message>`` and exit instead of showing a traceback.
"""

from __future__ import annotations


class WordCountError(Exception):
    """Root of every error the engine raises on purpose."""

    exit_code = 2


class InputError(WordCountError):
    """An input path is missing, unreadable, or not in the expected format."""


class ConfigError(WordCountError):
    """A setting or command-line value is invalid."""


class RedisUnavailableError(WordCountError):
    """Redis could not be reached, or stayed unreachable past the retry deadline."""


class RedisAuthError(WordCountError):
    """Redis refused the credentials (or wanted some and got none)."""


class JobNotFoundError(WordCountError):
    """No job with the given ID exists in this Redis."""


class JobConflictError(WordCountError):
    """A job with this ID exists already, with settings that differ from the ones asked for."""


class NodeError(WordCountError):
    """A Redis server managed by this project (process or container) failed to start or stop."""


class JobFailedError(WordCountError):
    """The job finished, but some inputs could not be counted (see the dead-letter stream)."""

    exit_code = 1
