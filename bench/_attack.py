"""What every section of ``bench/attack.py`` reports: one ``Row`` per attack, measured.

A section is a module with ``NAMES`` (its attacks, in order) and
``run(names, short, checkout) -> list[Row]``; this module holds what they share.
"""

from __future__ import annotations

import contextlib
import resource
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One attack's outcome: what was measured (``figure``) against what must hold (``limit``)."""

    attack: str
    figure: str
    limit: str
    held: bool

    @property
    def verdict(self) -> str:
        return "held" if self.held else "FAILED"


def failed(attack: str, limit: str, exc: BaseException) -> Row:
    """The row of an attack that could not even be carried out (counted as FAILED)."""
    return Row(attack, f"the attack itself failed: {exc!r:.160}", limit, held=False)


def raise_fd_limit(wanted: int) -> None:
    """Raise this process's soft descriptor limit to ``wanted`` (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


def mib(n_bytes: float) -> str:
    return f"{n_bytes / (1 << 20):,.1f} MiB"
