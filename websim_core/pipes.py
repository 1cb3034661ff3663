"""Console commands whose output goes to a pipe: a reader that leaves early is not an error.

``websim chat "Hi" | head -1`` closes the pipe before the command is done writing; Python
then raises ``BrokenPipeError`` (it ignores SIGPIPE), which would end in a traceback.
"""

from __future__ import annotations

import os
import sys

__all__ = ["READER_GONE", "reader_gone"]

# The status a shell reports for a command killed by SIGPIPE (128 + 13), as `cat` ends.
READER_GONE = 141


def reader_gone() -> int:
    """Point stdout at /dev/null and return ``READER_GONE``; call it on ``BrokenPipeError``.

    Python's documented recipe (the ``signal`` module's "Note on SIGPIPE"): the interpreter
    flushes stdout once more at exit, and that flush must not meet the closed pipe again.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)
    return READER_GONE
