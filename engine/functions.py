"""The Redis Function library: loading it, and calling it so that a restart can't lose it.

A Redis restarted without persistence comes back without functions; rather than
making every caller handle that, :meth:`Library.fcall` reloads the library when Redis
says a function is missing and tries again.
"""

from __future__ import annotations

import importlib.resources
from typing import Any

import redis
import redis.exceptions as rex

from engine.keys import FUNCTION_LIBRARY


def library_code() -> str:
    """The Lua source shipped in the package."""
    return importlib.resources.files("engine").joinpath("wordcount.lua").read_text("utf-8")


class Library:
    """Calls into the ``wordcount`` function library on one client."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._code = library_code()
        self._loaded = False

    def load(self) -> None:
        """FUNCTION LOAD REPLACE: safe to repeat, and brings old servers up to date."""
        loaded = self.client.function_load(self._code, replace=True)
        name = loaded.decode() if isinstance(loaded, bytes) else str(loaded)
        assert name == FUNCTION_LIBRARY, f"library loaded as {name!r}"
        self._loaded = True

    def fcall(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """FCALL, loading the library first if this Redis does not have it.

        The first call of each instance loads it anyway: a Redis may hold another
        version of the library (left by an older engine), whose functions of the same
        names take other arguments."""
        if not self._loaded:
            self.load()
        try:
            return self.client.fcall(name, len(keys), *keys, *args)
        except rex.ResponseError as exc:
            if "Function not found" not in str(exc):
                raise
        self.load()
        return self.client.fcall(name, len(keys), *keys, *args)
