"""A cassette grown one interaction at a time, each serialized once, read back whole by vcrpy.

Rewriting a cassette after every interaction through vcrpy's serializer costs the whole cassette
each time (481 ms at 750 interactions). Here each interaction is turned into its YAML list item
once; the file's text is the provenance header, those items joined, and vcrpy's version line,
exactly what ``dump_cassette`` writes for the same interactions.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .files import Interaction, dump_cassette, load_cassette, provenance_header, read_provenance

__all__ = ["CassetteLog"]

_START = "interactions:\n"
_END = "version: 1\n"


def _item(interaction: Interaction) -> str:
    """The YAML list item of one interaction, as it sits under ``interactions:``."""
    text = dump_cassette([interaction])
    if not (text.startswith(_START) and text.endswith(_END)):
        raise AssertionError(f"vcrpy's YAML layout changed: {text[:40]!r}...{text[-20:]!r}")
    return text[len(_START) : -len(_END)]


class CassetteLog:
    """The interactions of one cassette file, those already in it first.

    ``CassetteLog(path, block)`` picks up an existing cassette (its provenance kept, its
    interactions kept in order); raises ``CassetteLoadError`` when one is there that vcrpy
    cannot load, so it is never overwritten.
    """

    def __init__(self, path: str | os.PathLike[str], block: Mapping[str, Any]) -> None:
        self.path = Path(path)
        self._items: list[str] = []
        header_block: Mapping[str, Any] = block
        if self.path.exists():
            existing = load_cassette(self.path)
            header_block = read_provenance(self.path.read_text(encoding="utf-8")) or block
            self._items = [_item(item) for item in existing.interactions]
        self.header = provenance_header(header_block)

    def __len__(self) -> int:
        return len(self._items)

    def add(self, interaction: Interaction) -> None:
        self._items.append(_item(interaction))

    def text(self, count: int | None = None) -> str:
        """The file's text with the first ``count`` interactions (all by default)."""
        items = self._items if count is None else self._items[:count]
        return "".join([self.header, _START, *items, _END])
