"""One exception root for the fault-injection machinery.

Everything :mod:`faults` raises on purpose is a :class:`FaultsError` whose message names
the bad value and says what to do, so the ``faults`` command can print one ``error:`` line
and callers can catch one type. A run that goes wrong is *not* an error: it becomes an
``unknown`` or ``invalid`` verdict, because a fault-injection tool that throws when the
system under test misbehaves would hide exactly the cases it exists to find.
"""

from __future__ import annotations


class FaultsError(Exception):
    """Root of every error the fault machinery raises on purpose."""


class ScenarioError(FaultsError):
    """A scenario (JSON file, command-line fault, or dataclass) is malformed."""


class ControllerError(FaultsError):
    """The fault controller could not start or talk to an engine process."""


class RunnerError(FaultsError):
    """A scenario could not be set up (Redis node, temp files, driver start)."""


class EngineSpecError(FaultsError):
    """``--engine MODULE:FACTORY`` names nothing loadable, or something that does not fit
    the contract of :mod:`engine.plugins`: found before any scenario runs."""
