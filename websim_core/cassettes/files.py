"""Cassette files as plain data: load them with vcrpy, write them atomically, stamp provenance.

Loading goes through vcrpy's own deserializer, so whatever this module accepts, plain vcrpy
accepts too; writing goes through vcrpy's serializer, then a rename, so no reader ever sees half.
"""

from __future__ import annotations

import contextlib
import os
import platform
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "PROVENANCE_KEY",
    "CassetteFile",
    "CassetteLoadError",
    "Interaction",
    "RecordedRequest",
    "RecordedResponse",
    "cassette_paths",
    "dump_cassette",
    "load_cassette",
    "provenance",
    "write_atomic",
]

# vcrpy (9.4 and later) loads and saves a top-level ``metadata`` mapping; older versions read
# only ``interactions`` and ignore it. Ours sits under one key, so other metadata can coexist.
PROVENANCE_KEY = "websim_harness"


class CassetteLoadError(Exception):
    """A cassette file that vcrpy cannot load; the message says why."""


@dataclass(frozen=True)
class RecordedRequest:
    """One recorded request, with a single value per header as vcrpy keeps them."""

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
    """A loaded cassette: where it came from, its interactions in order, and its metadata."""

    path: Path
    interactions: list[Interaction]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def provenance(self) -> dict[str, Any]:
        value = self.metadata.get(PROVENANCE_KEY)
        return value if isinstance(value, dict) else {}


def _bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    read = getattr(value, "read", None)
    if callable(read):
        data = read()
        return data if isinstance(data, bytes) else str(data).encode("utf-8")
    return str(value).encode("utf-8")


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
        body=_bytes(body.get("string") if isinstance(body, dict) else body),
    )


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
        requests, responses, *rest = deserialize(text, yamlserializer)
    except Exception as exc:  # vcrpy and PyYAML raise many kinds; all mean "not a cassette"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CassetteLoadError(f"vcrpy cannot load it: {type(exc).__name__}: {first}") from None
    interactions = []
    for request, response in zip(requests, responses, strict=False):
        headers = {str(k): str(v) for k, v in dict(request.headers).items()}
        interactions.append(
            Interaction(
                RecordedRequest(
                    str(request.method), str(request.uri), _bytes(request.body), headers
                ),
                _response(response),
            )
        )
    metadata = rest[0] if rest and isinstance(rest[0], dict) else {}
    return CassetteFile(path, interactions, metadata)


def _text(body: bytes) -> str | bytes:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body


def dump_cassette(
    interactions: Iterable[Interaction], metadata: Mapping[str, Any] | None = None
) -> str:
    """The YAML text vcrpy would write for these interactions (and metadata, if any)."""
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
    data: dict[str, Any] = {"requests": requests, "responses": responses}
    if metadata:
        data["metadata"] = dict(metadata)
    text: str = serialize(data, yamlserializer)
    return text


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory and a rename.

    A crash or an interrupt leaves either the old file or the new one, never a partial file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def cassette_paths(directory: str | os.PathLike[str]) -> list[Path]:
    """The cassette files of a directory (``*.yaml`` and ``*.yml``, not hidden), sorted."""
    root = Path(directory)
    return sorted(
        p
        for p in list(root.glob("*.yaml")) + list(root.glob("*.yml"))
        if p.is_file() and not p.name.startswith(".")
    )


def provenance(
    *,
    recorded_against: str,
    base_url: str,
    scenario: str | None = None,
    description: str | None = None,
    recorded_at: datetime | None = None,
    tool: str = "websim_core.cassettes",
) -> dict[str, Any]:
    """The provenance block stored under ``metadata.websim_harness`` in every cassette we write.

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
