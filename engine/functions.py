"""The Redis Function library: loading it, and calling it so that a restart can't lose it.

A Redis restarted without persistence comes back without functions; rather than
making every caller handle that, :meth:`Library.fcall` reloads the library when Redis
says a function is missing and tries again.
"""

from __future__ import annotations

import importlib.resources
import weakref
from typing import Any

import redis
import redis.exceptions as rex

from engine.keys import FUNCTION_LIBRARY

_LOADED: weakref.WeakSet[Any] = weakref.WeakSet()
"""Connection pools through which this process has loaded the library."""


def library_code() -> str:
    """The Lua source shipped in the package."""
    return importlib.resources.files("engine").joinpath("wordcount.lua").read_text("utf-8")


class Library:
    """Calls into the ``wordcount`` function library on one client."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._code = library_code()

    def load(self) -> None:
        """FUNCTION LOAD REPLACE: safe to repeat, and brings old servers up to date."""
        loaded = self.client.function_load(self._code, replace=True)
        name = loaded.decode() if isinstance(loaded, bytes) else str(loaded)
        assert name == FUNCTION_LIBRARY, f"library loaded as {name!r}"
        _LOADED.add(self.client.connection_pool)

    def fcall(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """FCALL, loading the library first if this Redis does not have it.

        The first call through each connection pool loads it anyway: a Redis may hold
        another version of the library (left by an older engine), whose functions of the
        same names take other arguments."""
        if self.client.connection_pool not in _LOADED:
            self.load()
        try:
            return self.client.fcall(name, len(keys), *keys, *args)
        except rex.ResponseError as exc:
            if "Function not found" not in str(exc):
                raise
        self.load()
        return self.client.fcall(name, len(keys), *keys, *args)
