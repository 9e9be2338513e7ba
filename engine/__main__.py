"""``python -m engine`` is the ``wordcount`` command."""

from engine.cli import console

console()
