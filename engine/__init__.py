"""A fault-tolerant distributed word count whose workers coordinate only through Redis.

The public entry points are the ``wordcount`` command (``engine.cli``), the serial
reference counter (``engine.serial``) and the worker loop (``engine.worker``).
"""

__version__ = "0.1.0"
