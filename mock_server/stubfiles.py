"""Stub files: ``websim-mock --stubs PATH`` and ``MockServer(stubs=PATH)`` (so also
``ThreadedMockServer`` and the pytest fixtures' options) read a YAML or JSON file, or a folder of
them, through ``stubs_option``, and the server reloads the whole set when one changes (a broken
file keeps the set in force).

Watching is a cheap poll of the files' sizes and modification times on the event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .core.errors import ConfigError, StubError
from .core.state import MockState
from .core.stubs import parse_stubs

__all__ = [
    "MAX_STUB_FILE_BYTES",
    "POLL_SECONDS",
    "Snapshot",
    "StubsFile",
    "load_stub_files",
    "read_stub_files",
    "read_stubs_path",
    "snapshot",
    "stubs_option",
    "watch_stub_files",
]

logger = logging.getLogger("mock_server.stubs")

MAX_STUB_FILE_BYTES = 16 * 1024 * 1024
_SUFFIXES = (".yaml", ".yml", ".json")
POLL_SECONDS = 1.0  # how often a server looks whether its stubs file changed
Snapshot = tuple[tuple[str, int, int], ...]


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in _SUFFIXES and p.is_file())
    return [path]


def snapshot(path: Path) -> Snapshot:
    """What changes when a stub file does: each file's name, size and modification time."""
    try:
        found = []
        for file in _files(path):
            stat = file.stat()
            found.append((str(file), stat.st_size, stat.st_mtime_ns))
        return tuple(found)
    except OSError:
        return ()


def read_stub_files(path: Path) -> list[Any]:
    """The stubs (JSON form) in a file or a folder's files, in file-name order; ``StubError``
    (field ``stubs`` with the file's name) when one cannot be read."""
    stubs: list[Any] = []
    for file in _files(path):
        where = f"stubs file {file}"
        try:
            if file.stat().st_size > MAX_STUB_FILE_BYTES:
                raise StubError(where, f"is larger than {MAX_STUB_FILE_BYTES} bytes")
            text = file.read_text(encoding="utf-8")
            data = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
        except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
            raise StubError(where, f"cannot be read ({exc})") from None
        if data is None:
            continue  # an empty file: no stubs
        items = data if isinstance(data, list) else [data]
        parse_stubs(items, file.name)  # a bad stub named by its file: "stubs.yaml[2].match..."
        stubs.extend(items)
    return stubs


def read_stubs_path(path: Path) -> tuple[Snapshot, list[Any]]:
    """For ``--stubs PATH`` at start: the files' snapshot taken before reading them (a change
    from then on is reloaded) and their stubs; ``StubError`` when there are none to read."""
    if not path.exists():
        raise StubError("stubs", f"no such file or folder: {path}")
    seen = snapshot(path)
    return seen, read_stub_files(path)


@dataclass(frozen=True)
class StubsFile:
    """A stubs file (or folder) as it was read: the server watching it reloads it on change."""

    path: Path
    seen: Snapshot


def stubs_option(options: Mapping[str, Any]) -> tuple[dict[str, Any], StubsFile | None]:
    """``options`` with a ``stubs`` path (``str`` or ``os.PathLike``) replaced by the stubs it
    holds, and the file to watch; other ``stubs`` values pass as they are (``MockConfig``
    checks them). ``ConfigError`` naming the file (and the bad stub) when it cannot be used."""
    given = options.get("stubs")
    if not isinstance(given, (str, os.PathLike)):
        return dict(options), None
    path = Path(given)
    try:
        seen, stubs = read_stubs_path(path)
    except StubError as exc:
        raise ConfigError(exc.field, exc.problem) from None
    return {**options, "stubs": stubs}, StubsFile(path, seen)


def load_stub_files(state: MockState, path: Path) -> int:
    """Replace the state's stubs with those in ``path``, whole or not at all; returns how many."""
    return len(state.load_stubs(read_stub_files(path)))


async def watch_stub_files(
    state: MockState, path: Path, seen: Snapshot, interval: float | None = None
) -> None:
    """Reload ``path`` into ``state`` whenever its files differ from ``seen`` (the
    ``snapshot`` taken before they were last read), every ``interval`` seconds (default
    ``POLL_SECONDS``) until cancelled."""
    while True:
        await asyncio.sleep(POLL_SECONDS if interval is None else interval)
        now = snapshot(path)
        if now == seen:
            continue
        seen = now
        try:
            count = load_stub_files(state, path)
        except StubError as exc:
            logger.error("stubs not reloaded, the previous set stays in force: %s", exc)
        else:
            logger.info("stubs reloaded from %s: %d in force", path, count)
