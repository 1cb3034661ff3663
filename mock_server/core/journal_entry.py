"""One journal entry: a request the mock received and how it answered, decoded when read.

``JournalEntry.to_json()`` is its admin-API form (``GET /__admin/requests``) and
``JournalEntry.from_json()`` reads that form back (a client verifying over HTTP builds the same
entries the server's own ``verify`` reads, so both write the same report).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from .errors import StepError
from .jsonbody import parse_json_strictly
from .steps import Step, parse_step

__all__ = ["ENDPOINTS", "SOURCES", "JournalEntry", "StubRef", "VerbatimJSON"]

# What an entry's ``endpoint`` can be ("other": any path but the two inference endpoints, whose
# ``endpoint`` is null) and what its ``response.source`` can say; the journal's filters take these.
ENDPOINTS = ("chat", "image", "other")
SOURCES = (
    "reply",
    "script",
    "directive",
    "stub",
    "stub_error",
    "unmatched",
    "rate_limit",
    "chaos",
    "invalid",
    "error",
    "disconnected",
)


# The sources of an inference request the mock parsed as JSON (the others were refused, or cut
# short before or while it was read, or met a bug).
_PARSED = frozenset(SOURCES) - {"invalid", "error", "disconnected"}


class VerbatimJSON:
    """A body that is, byte for byte, the JSON object the mock parsed: a writer may copy
    ``raw`` into its output as the value of ``json`` instead of parsing and writing it again."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        self.raw = raw


class StubRef(NamedTuple):
    """The stub that answered a request: its id and its name (None when it has none)."""

    id: str
    name: str | None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}


def _header_text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _body_json(body: bytes) -> tuple[str, str]:
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), "base64"


def _body_bytes(text: object, encoding: object) -> bytes:
    if not isinstance(text, str):
        return b""
    return base64.b64decode(text) if encoding == "base64" else text.encode("utf-8")


def _step(value: object) -> Step | None:
    try:
        return None if value is None else parse_step(value)
    except StepError:  # a step the journal cut (its body left out): the entry still reads
        return None


@dataclass(slots=True)
class JournalEntry:
    """One request received and what was answered; ``to_json()`` gives its admin-API form.

    The hot path only packs bytes (see ``Journal``); decoding and JSON parsing happen when
    someone reads the journal.
    """

    id: int
    time: float
    method: str
    path: str
    raw_headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    body_size: int
    endpoint: str | None
    status: int
    response_type: str | None
    response_body: bytes | None
    source: str
    step: Step | None = None
    headers_truncated: bool = False  # later header lines were left out (see MIN_HEADER_BYTES)
    response_size: int | None = None  # the answer's size when it was cut; None when whole
    stub: StubRef | None = None  # the stub that answered
    session: str | None = None  # the session it came in (None: the server's own)
    # Stubs were in force and none matched it (nor did a directive or scripted step answer).
    missed: bool = False

    @property
    def headers(self) -> dict[str, str]:
        """Header names lowercased; repeated headers joined with ", "."""
        out: dict[str, str] = {}
        for raw_name, raw_value in self.raw_headers:
            name = _header_text(raw_name).lower()
            value = _header_text(raw_value)
            out[name] = f"{out[name]}, {value}" if name in out else value
        return out

    @property
    def json(self) -> Any:
        """The body parsed as JSON, or None when it is not (or was cut by the journal)."""
        if not self.body or len(self.body) < self.body_size:
            return None
        try:
            return parse_json_strictly(self.body)
        except ValueError:
            return None

    def _verbatim(self, encoding: str, headers: Mapping[str, str]) -> bool:
        """Whether the body is the JSON the decision parsed, as sent (UTF-8, not cut, no
        Content-Encoding undone before parsing)."""
        return (
            self.endpoint in ("chat", "image")
            and self.source in _PARSED
            and encoding == "utf-8"
            and self.body[:1] == b"{"
            and len(self.body) == self.body_size
            and "content-encoding" not in headers
        )

    def to_json(self, *, verbatim: bool = False) -> dict[str, Any]:
        """The admin API's form; with ``verbatim``, ``json`` is a ``VerbatimJSON`` (the body's
        bytes) whenever the body is the JSON the mock parsed, instead of that JSON parsed."""
        body, encoding = _body_json(self.body)
        headers = self.headers
        parsed: Any
        if verbatim and self._verbatim(encoding, headers):
            parsed = VerbatimJSON(self.body)
        else:
            parsed = self.json
        answer: str | None = None
        answer_encoding: str | None = None
        if self.response_body is not None:
            answer, answer_encoding = _body_json(self.response_body)
        return {
            "id": self.id,
            "session": self.session,
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "endpoint": self.endpoint,
            "headers": headers,
            "headers_truncated": self.headers_truncated,
            "body": body,
            "body_encoding": encoding,
            "body_size": self.body_size,
            "body_truncated": len(self.body) < self.body_size,
            "json": parsed,
            "response": {
                "status": self.status,
                "content_type": self.response_type,
                "body": answer,
                "body_encoding": answer_encoding,
                "body_truncated": self.response_size is not None,
                "source": self.source,
                "step": None if self.step is None else self.step.to_json(),
                "stub": None if self.stub is None else self.stub.to_json(),
                "missed": self.missed,
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JournalEntry:
        """An entry from its ``to_json()`` form (as the admin API sent it)."""
        response = data["response"]
        headers = data.get("headers") or {}
        stub, step = response.get("stub"), response.get("step")
        answer = response.get("body")
        return cls(
            id=data["id"],
            time=data["time"],
            method=data["method"],
            path=data["path"],
            raw_headers=tuple((k.encode(), v.encode()) for k, v in headers.items()),
            body=_body_bytes(data.get("body"), data.get("body_encoding")),
            body_size=data["body_size"],
            endpoint=data.get("endpoint"),
            status=response["status"],
            response_type=response.get("content_type"),
            response_body=(
                None if answer is None else _body_bytes(answer, response.get("body_encoding"))
            ),
            source=response["source"],
            step=_step(step),
            headers_truncated=data.get("headers_truncated", False),
            stub=None if stub is None else StubRef(stub["id"], stub.get("name")),
            session=data.get("session"),
            missed=response.get("missed", False),
        )
