"""Redis servers as objects: a local ``redis-server`` process or a Docker container.

Both implement :class:`RedisNode`, so the driver's embedded Redis and the fault suite can
start, kill, pause and restart either kind the same way.
"""

from engine.nodes.base import Persistence, RedisNode

__all__ = ["Persistence", "RedisNode"]
