"""Cassette files as plain data: load them with vcrpy, write them atomically, stamp provenance.

Loading goes through vcrpy's own deserializer, so whatever this module accepts, plain vcrpy
accepts too; writing goes through vcrpy's serializer, then a rename, so no reader ever sees half.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .bodies import body_bytes

__all__ = [
    "MAX_ALIAS_NODES",
    "PROVENANCE_KEY",
    "CassetteFile",
    "CassetteLoadError",
    "Interaction",
    "RecordedRequest",
    "RecordedResponse",
    "cassette_paths",
    "dump_cassette",
    "interaction_from_vcrpy",
    "load_cassette",
    "provenance",
    "provenance_header",
    "read_provenance",
    "remove_stale_temps",
    "stage_file",
    "stamp_provenance",
    "write_atomic",
]

# Provenance is a top-level key of its own. vcrpy's deserializer reads ``interactions`` (and,
# from 9.4, ``metadata``) and ignores any other key, in every version. vcrpy's own ``metadata``
# is not used: pytest-recording 0.14's CombinedPersister unpacks exactly two values from
# ``deserialize`` and fails on a cassette that has metadata (three).
PROVENANCE_KEY = "websim_harness"
_HEADER_END = "\ninteractions:"


class CassetteLoadError(Exception):
    """A cassette file that vcrpy cannot load; the message says why."""


@dataclass(frozen=True)
class RecordedRequest:
    """One recorded request, with a single value per header as vcrpy keeps them.

    ``body`` is the bytes sent, whatever form the cassette stores them in (a ``json=`` dict
    recorded by vcrpy's aiohttp stub reads as canonical JSON: ``bodies.body_bytes``).
    """

    method: str
    uri: str
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return urlsplit(self.uri).path


@dataclass(frozen=True)
class RecordedResponse:
    """One recorded response; header values are lists, as vcrpy stores them."""

    status: int
    reason: str = ""
    headers: Mapping[str, Sequence[str]] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The first value of a header, whatever its case, or None."""
        for key, values in self.headers.items():
            if key.lower() == name.lower():
                if isinstance(values, str):
                    return values
                return values[0] if values else ""
        return None

    @property
    def media_type(self) -> str:
        return (self.header("content-type") or "").split(";", 1)[0].strip().lower()


@dataclass(frozen=True)
class Interaction:
    """A request and the response it got."""

    request: RecordedRequest
    response: RecordedResponse


@dataclass(frozen=True)
class CassetteFile:
    """A loaded cassette: where it came from, its interactions in order, and its provenance."""

    path: Path
    interactions: list[Interaction]
    provenance: dict[str, Any] = field(default_factory=dict)


def _response(raw: Any) -> RecordedResponse:
    if not isinstance(raw, dict):
        raise CassetteLoadError(f"a response is {type(raw).__name__}, not a mapping")
    status = raw.get("status")
    if not isinstance(status, dict) or not isinstance(status.get("code"), int):
        raise CassetteLoadError("a response has no integer status.code")
    headers = raw.get("headers") or {}
    if not isinstance(headers, dict):
        raise CassetteLoadError("a response's headers are not a mapping")
    body = raw.get("body") or {}
    return RecordedResponse(
        status=status["code"],
        reason=str(status.get("message") or ""),
        headers={
            str(k): [str(x) for x in v] if isinstance(v, list) else [str(v)]
            for k, v in headers.items()
        },
        body=body_bytes(body.get("string") if isinstance(body, dict) else body),
    )


# What aliases may add to a cassette, counted in YAML nodes once each alias is expanded. vcrpy
# copies what an alias points to, so a 600-byte "billion laughs" became minutes and gigabytes.
MAX_ALIAS_NODES = 100_000
_ANCHOR = re.compile(r"(?:^|[\s\[{,:-])&[^\s]", re.M)


def _check_aliases(text: str) -> None:
    """Raise ``CassetteLoadError`` if aliases expand to more than ``MAX_ALIAS_NODES`` nodes.

    Reads parser events only (nothing is built), and only when the text has an anchor at all.
    """
    if _ANCHOR.search(text) is None:
        return
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    sizes: dict[str, int] = {}
    open_nodes: list[list[Any]] = [[None, 0]]  # [anchor, nodes inside so far]
    added = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.AliasEvent):
            size = sizes.get(event.anchor or "", 1)
            added += size
            open_nodes[-1][1] += size
            if added > MAX_ALIAS_NODES:
                raise CassetteLoadError(
                    f"its YAML aliases expand to over {MAX_ALIAS_NODES:,} nodes "
                    "(an alias bomb?); vcrpy never writes such a file"
                )
        elif isinstance(event, yaml.ScalarEvent):
            open_nodes[-1][1] += 1
            if event.anchor:
                sizes[event.anchor] = 1
        elif isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            open_nodes.append([event.anchor, 1])
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            anchor, size = open_nodes.pop()
            if anchor:
                sizes[anchor] = size
            open_nodes[-1][1] += size


def load_cassette(path: str | os.PathLike[str]) -> CassetteFile:
    """Load a YAML cassette with vcrpy's deserializer; ``CassetteLoadError`` if it cannot."""
    from vcr.serialize import deserialize
    from vcr.serializers import yamlserializer

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CassetteLoadError(f"cannot read: {exc}") from None
    try:
        _check_aliases(text)
        requests, responses, *_metadata = deserialize(text, yamlserializer)
    except CassetteLoadError:
        raise
    except Exception as exc:  # vcrpy and PyYAML raise many kinds; all mean "not a cassette"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CassetteLoadError(f"vcrpy cannot load it: {type(exc).__name__}: {first}") from None
    interactions = [
        interaction_from_vcrpy(request, response)
        for request, response in zip(requests, responses, strict=False)
    ]
    return CassetteFile(path, interactions, read_provenance(text))


def interaction_from_vcrpy(request: Any, response: Any) -> Interaction:
    """An interaction from vcrpy's forms: a ``vcr.request.Request`` and a response dict.

    Raises ``CassetteLoadError`` for a response without an integer status code.
    """
    headers = {str(k): str(v) for k, v in dict(request.headers).items()}
    return Interaction(
        RecordedRequest(str(request.method), str(request.uri), body_bytes(request.body), headers),
        _response(response),
    )


def read_provenance(text: str) -> dict[str, Any]:
    """The ``websim_harness`` block of a cassette's text, or ``{}``; reads only the header."""
    from vcr.serializers import yamlserializer

    key = f"{PROVENANCE_KEY}:"
    if not text.startswith(key) and f"\n{key}" not in text:
        return {}
    end = text.find(_HEADER_END)
    head = text[:end] if end >= 0 and text.find(key) < end else text
    try:
        data = yamlserializer.deserialize(head)
    except Exception:
        return {}
    block = data.get(PROVENANCE_KEY) if isinstance(data, dict) else None
    return block if isinstance(block, dict) else {}


def provenance_header(block: Mapping[str, Any]) -> str:
    """The lines that start a cassette we write: a one-line comment, then the provenance key."""
    from vcr.serializers import yamlserializer

    against = block.get("recorded_against", "?")
    comment = (
        f"# Recorded against {against} ({block.get('base_url', '?')}) at "
        f"{block.get('recorded_at', '?')}; see {PROVENANCE_KEY} below. vcrpy ignores that key.\n"
    )
    dumped: str = yamlserializer.serialize({PROVENANCE_KEY: dict(block)})
    return comment + dumped


def stamp_provenance(path: str | os.PathLike[str], block: Mapping[str, Any]) -> None:
    """Put the provenance header on a cassette vcrpy just wrote (atomically)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if read_provenance(text):
        raise ValueError(f"{path} already has provenance")
    write_atomic(path, provenance_header(block) + text)


def _text(body: bytes) -> str | bytes:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body


def dump_cassette(
    interactions: Iterable[Interaction], provenance: Mapping[str, Any] | None = None
) -> str:
    """The YAML text vcrpy would write for these interactions, after a provenance header."""
    from vcr.request import Request
    from vcr.serialize import serialize
    from vcr.serializers import yamlserializer

    requests, responses = [], []
    for item in interactions:
        req, resp = item.request, item.response
        requests.append(Request(req.method, req.uri, req.body or None, dict(req.headers)))
        responses.append(
            {
                "status": {"code": resp.status, "message": resp.reason},
                "headers": {k: list(v) for k, v in resp.headers.items()},
                "body": {"string": resp.body},
            }
        )
    text: str = serialize({"requests": requests, "responses": responses}, yamlserializer)
    return provenance_header(provenance) + text if provenance else text


def write_atomic(path: str | os.PathLike[str], text: str, *, durable: bool = True) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory and a rename.

    A crash or an interrupt leaves either the old file or the new one, never a partial file.
    ``durable=False`` skips the fsync: still all-or-nothing for any reader and if the process is
    killed, but a power cut may lose the newest write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = stage_file(path, text, durable=durable)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def stage_file(dest: Path, text: str, *, durable: bool = True) -> Path:
    """``text`` written and synced to a new temporary file next to ``dest``, for a rename onto it.

    If writing fails the temporary file is removed; once it is returned, it is the caller's.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return Path(tmp)


# stage_file's names: ".<dest name>.<8 random chars>.tmp" (tempfile.mkstemp's random part).
_STAGED = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


def remove_stale_temps(
    directory: str | os.PathLike[str], *, older_than: float = 60.0
) -> list[Path]:
    """Remove the temporary files ``stage_file`` left in ``directory`` (a writer killed before
    its rename), if older than ``older_than`` seconds (a live writer's are younger). Only files
    of that pattern are touched; returns what was removed."""
    root = Path(directory)
    if not root.is_dir():
        return []
    removed = []
    now = time.time()
    for path in root.iterdir():
        if _STAGED.match(path.name) and path.is_file():
            with contextlib.suppress(OSError):
                if now - path.stat().st_mtime > older_than:
                    path.unlink()
                    removed.append(path)
    return removed


def cassette_paths(directory: str | os.PathLike[str], *, recursive: bool = True) -> list[Path]:
    """The cassette files (``*.yaml``, ``*.yml``) under a directory, sorted; hidden ones skipped,
    links to folders not followed. Recursive by default: pytest-recording keeps one folder per
    test module (``tests/cassettes/<module>/<test>.yaml``), so a user's cassette folder is a tree.
    """
    root = Path(directory)
    found: list[Path] = []
    for top, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
        found.extend(
            Path(top, name)
            for name in files
            if name.endswith((".yaml", ".yml")) and not name.startswith(".")
        )
    return sorted(p for p in found if p.is_file())


def provenance(
    *,
    recorded_against: str,
    base_url: str,
    scenario: str | None = None,
    description: str | None = None,
    recorded_at: datetime | None = None,
    tool: str = "websim_cassettes",
) -> dict[str, Any]:
    """The provenance block stored under ``websim_harness`` in every cassette we write.

    ``recorded_against`` is ``"mock"``, ``"live"`` or ``"upstream"`` (the record proxy), so
    nobody mistakes a mock recording for a live one.
    """
    from importlib.metadata import PackageNotFoundError, version

    def _version(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "unknown"

    when = (recorded_at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    block: dict[str, Any] = {
        "recorded_against": recorded_against,
        "base_url": base_url,
        "recorded_at": when.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "recorded_with": tool,
        "websim_harness_version": _version("websim-harness"),
        "vcrpy_version": _version("vcrpy"),
        "aiohttp_version": _version("aiohttp"),
        "python_version": platform.python_version(),
    }
    if scenario is not None:
        block["scenario"] = scenario
    if description is not None:
        block["description"] = description
    return block
