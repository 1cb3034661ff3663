"""The mock server's state, with no I/O: its options, scripted steps and their queue, the journal.

Nothing here touches asyncio or sockets, so a hypothesis ``RuleBasedStateMachine`` can drive it;
the aiohttp handlers in ``mock_server.app`` are a thin shell that reads and updates it.
"""

from __future__ import annotations

import base64
import json
import re
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

__all__ = [
    "DEFAULT_JOURNAL_BODY_BYTES",
    "DEFAULT_JOURNAL_SIZE",
    "DEFAULT_MAX_BODY_BYTES",
    "ENDPOINTS",
    "SCOPES",
    "Endpoint",
    "Journal",
    "JournalEntry",
    "MockConfig",
    "MockState",
    "ReplyStep",
    "Scope",
    "ScriptQueue",
    "StatusStep",
    "Step",
    "StepError",
    "parse_json_strictly",
    "parse_scope",
    "parse_step",
    "parse_steps",
]

Endpoint = Literal["chat", "image"]
Scope = Literal["chat", "image", "any"]
ENDPOINTS: tuple[Endpoint, ...] = ("chat", "image")
SCOPES: tuple[Scope, ...] = ("chat", "image", "any")

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_JOURNAL_SIZE = 10_000
DEFAULT_JOURNAL_BODY_BYTES = 64 * 1024

# RFC 9110 token: what a header name may be made of.
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Headers a step may not set: they would break the framing of the answer (faults come later).
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})


class StepError(ValueError):
    """A scripted step (or its endpoint) is not valid; ``field`` says where, like the 400 body."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"invalid {field}: {problem}")
        self.field = field
        self.problem = problem


# --- options ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MockConfig:
    """The server's options; ``create_app(**options)`` and the CLI flags build one."""

    seed: int = 0
    strict_ids: bool = False
    latency_ms: float = 0.0
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    journal_size: int = DEFAULT_JOURNAL_SIZE
    journal_body_bytes: int = DEFAULT_JOURNAL_BODY_BYTES
    admin_loopback_only: bool = True
    # The origin image URLs point at when a request carries no usable Host header.
    public_url: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, not {self.seed!r}")
        if not self.latency_ms >= 0:  # also refuses NaN
            raise ValueError(f"latency_ms must be >= 0, not {self.latency_ms!r}")
        if self.max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be >= 1, not {self.max_body_bytes!r}")
        if self.journal_size < 0:
            raise ValueError(f"journal_size must be >= 0, not {self.journal_size!r}")
        if self.journal_body_bytes < 0:
            raise ValueError(f"journal_body_bytes must be >= 0, not {self.journal_body_bytes!r}")


# --- scripted steps -----------------------------------------------------------------------------
# One frozen dataclass per kind of step; the handler dispatches on the class. A later kind
# (faults) is one more dataclass, one more parser in _STEP_PARSERS and one more handler branch.


@dataclass(frozen=True)
class ReplyStep:
    """A normal answer; ``text`` replaces the generated chat content (or the image URL)."""

    text: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    kind: ClassVar[str] = "reply"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reply": self.text}
        if self.headers:
            out["headers"] = dict(self.headers)
        return out


@dataclass(frozen=True)
class StatusStep:
    """An answer with this status; ``body`` None means the built-in body for the status.

    ``body`` is sent as text when it is a string, otherwise as JSON.
    """

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: Any = None
    kind: ClassVar[str] = "status"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        if self.headers:
            out["headers"] = dict(self.headers)
        if self.body is not None:
            out["body"] = self.body
        return out


Step = ReplyStep | StatusStep


def _type(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _parse_headers(value: object, where: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise StepError(where, f"must be an object of header names to values, not {_type(value)}")
    out: list[tuple[str, str]] = []
    for name, raw in value.items():
        at = f"{where}.{name}"
        if not isinstance(name, str) or not _TOKEN_RE.fullmatch(name):
            raise StepError(at, "is not a valid header name")
        if name.lower() in _FRAMING_HEADERS:
            raise StepError(at, "cannot be scripted (it sets the framing of the answer)")
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            raise StepError(at, f"must be a string or a number, not {_type(raw)}")
        text = str(raw)
        if any((ord(c) < 0x20 and c != "\t") or c == "\x7f" for c in text):
            raise StepError(at, "must not contain line breaks or control characters")
        out.append((name, text))
    return tuple(out)


def _parse_status(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise StepError(where, f"must be an integer HTTP status, not {_type(value)}")
    if not 200 <= value <= 599:
        raise StepError(where, f"must be between 200 and 599, not {value}")
    return value


def _check_keys(data: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        known = ", ".join(sorted(allowed))
        raise StepError(f"{where}.{unknown[0]}", f"unknown key (a {where} step knows: {known})")


_REPLY_KEYS = frozenset({"reply", "headers"})
_STATUS_KEYS = frozenset({"status", "headers", "body"})


def _reply_step(data: Mapping[str, Any], where: str) -> Step:
    _check_keys(data, _REPLY_KEYS, where)
    text = data["reply"]
    if text is not None and not isinstance(text, str):
        raise StepError(f"{where}.reply", f"must be a string or null, not {_type(text)}")
    return ReplyStep(text, _parse_headers(data.get("headers"), f"{where}.headers"))


def _status_step(data: Mapping[str, Any], where: str) -> Step:
    _check_keys(data, _STATUS_KEYS, where)
    status = _parse_status(data["status"], f"{where}.status")
    headers = _parse_headers(data.get("headers"), f"{where}.headers")
    body = data.get("body")
    if status in (204, 304) and body not in (None, ""):
        raise StepError(f"{where}.body", f"a {status} answer cannot carry a body")
    if body is not None and not isinstance(body, str):
        try:
            json.dumps(body, allow_nan=False)
        except (TypeError, ValueError, RecursionError) as exc:
            raise StepError(f"{where}.body", f"cannot be sent as JSON ({exc})") from None
    if status == 200 and body is None:
        return ReplyStep(None, headers)  # {"status": 200} is a normal answer, like the int 200
    return StatusStep(status, headers, body)


# The key that names a step's kind, and its parser. Issue 4 adds "fault" here.
_STEP_PARSERS = {"reply": _reply_step, "status": _status_step}


def parse_step(value: object, where: str = "step") -> Step:
    """A step from its JSON form: ``200``, ``429``, ``{"status": ...}`` or ``{"reply": ...}``.

    An integer is shorthand: 200 is a normal answer, any other status its built-in body.
    A ``ReplyStep`` or ``StatusStep`` passes through unchanged.
    """
    if isinstance(value, (ReplyStep, StatusStep)):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        status = _parse_status(value, where)
        return ReplyStep() if status == 200 else StatusStep(status)
    if not isinstance(value, Mapping):
        raise StepError(where, f"must be a status code or an object, not {_type(value)}")
    kinds = [key for key in _STEP_PARSERS if key in value]
    if len(kinds) != 1:
        names = " or ".join(f"'{k}'" for k in _STEP_PARSERS)
        problem = "has both " + " and ".join(kinds) if kinds else f"needs one of {names}"
        raise StepError(where, problem)
    return _STEP_PARSERS[kinds[0]](value, where)


def parse_steps(values: object, where: str = "responses") -> list[Step]:
    """A list of steps; the error names the first bad one (``responses[2].status``)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise StepError(where, f"must be a list of steps, not {_type(values)}")
    return [parse_step(value, f"{where}[{i}]") for i, value in enumerate(values)]


def parse_scope(value: object, where: str = "endpoint") -> Scope:
    """``"chat"``, ``"image"`` or ``"any"``."""
    if value == "chat":
        return "chat"
    if value == "image":
        return "image"
    if value == "any":
        return "any"
    raise StepError(where, f"must be 'chat', 'image' or 'any', not {value!r:.40}")


class ScriptQueue:
    """Scripted steps waiting for requests, oldest first.

    A request to an endpoint consumes the oldest step scripted for that endpoint or for "any";
    each scope keeps its own deque and steps carry a sequence number, so taking one is O(1).
    """

    __slots__ = ("_queues", "_seq")

    def __init__(self) -> None:
        self._queues: dict[Scope, deque[tuple[int, Step]]] = {s: deque() for s in SCOPES}
        self._seq = 0

    def add(self, scope: Scope, steps: Iterable[Step]) -> int:
        """Queue steps behind those already waiting; returns how many were added."""
        queue = self._queues[scope]
        added = 0
        for step in steps:
            self._seq += 1
            queue.append((self._seq, step))
            added += 1
        return added

    def take(self, endpoint: Endpoint) -> Step | None:
        """The next step for a request to ``endpoint``, removed from the queue; None if none."""
        own = self._queues[endpoint]
        shared = self._queues["any"]
        if own and (not shared or own[0][0] < shared[0][0]):
            return own.popleft()[1]
        if shared:
            return shared.popleft()[1]
        return None

    def pending(self) -> list[tuple[Scope, Step]]:
        """Every waiting step with its scope, in the order they were scripted."""
        tagged = [(seq, scope, step) for scope, q in self._queues.items() for seq, step in q]
        return [(scope, step) for _, scope, step in sorted(tagged, key=lambda t: t[0])]

    def clear(self) -> None:
        for queue in self._queues.values():
            queue.clear()

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues.values())


# --- the journal --------------------------------------------------------------------------------


def _strict_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_STRICT_DECODER = json.JSONDecoder(parse_constant=_strict_constant)


def parse_json_strictly(body: bytes) -> Any:
    """JSON per RFC 8259 (no NaN or Infinity); ValueError otherwise, also for deep nesting.

    Decodes like ``json.loads(bytes)`` (UTF-8, -16 or -32) with one shared decoder.
    """
    if body[:1] == b"{" and body[1:2] != b"\x00":  # the usual case: UTF-8, skip detection
        text = body.decode("utf-8", "surrogatepass")
    else:
        text = body.decode(json.detect_encoding(body), "surrogatepass")
    if text.startswith("\ufeff"):
        raise ValueError("Unexpected UTF-8 BOM (decode using utf-8-sig)")
    try:
        return _STRICT_DECODER.decode(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _header_text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _body_json(body: bytes) -> tuple[str, str]:
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), "base64"


@dataclass(slots=True)
class JournalEntry:
    """One request received and what was answered; ``to_json()`` gives its admin-API form.

    The hot path only stores references (raw header pairs, body bytes); decoding and JSON
    parsing happen when someone reads the journal.
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

    def to_json(self) -> dict[str, Any]:
        body, encoding = _body_json(self.body)
        answer: str | None = None
        answer_encoding: str | None = None
        if self.response_body is not None:
            answer, answer_encoding = _body_json(self.response_body)
        return {
            "id": self.id,
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "endpoint": self.endpoint,
            "headers": self.headers,
            "body": body,
            "body_encoding": encoding,
            "body_size": self.body_size,
            "body_truncated": len(self.body) < self.body_size,
            "json": self.json,
            "response": {
                "status": self.status,
                "content_type": self.response_type,
                "body": answer,
                "body_encoding": answer_encoding,
                "source": self.source,
                "step": None if self.step is None else self.step.to_json(),
            },
        }


class Journal:
    """The last ``maxlen`` requests, oldest first; older ones are dropped and counted.

    Entries are kept as plain tuples (cheap to build, and not tracked by the garbage collector
    once their contents are immutable) and turned into ``JournalEntry`` objects when read.
    """

    __slots__ = ("_entries", "_next_id", "max_body", "total")

    def __init__(
        self, maxlen: int = DEFAULT_JOURNAL_SIZE, max_body: int = DEFAULT_JOURNAL_BODY_BYTES
    ) -> None:
        self._entries: deque[tuple[Any, ...]] = deque(maxlen=maxlen)
        self._next_id = 1
        self.max_body = max_body
        self.total = 0  # recorded since the last clear, dropped ones included

    @property
    def maxlen(self) -> int:
        maxlen = self._entries.maxlen
        assert maxlen is not None
        return maxlen

    @property
    def dropped(self) -> int:
        return self.total - len(self._entries)

    def record(
        self,
        *,
        time: float,
        method: str,
        path: str,
        raw_headers: tuple[tuple[bytes, bytes], ...],
        body: bytes,
        endpoint: str | None,
        status: int,
        response_type: str | None = None,
        response_body: bytes | None = None,
        source: str = "reply",
        step: Step | None = None,
    ) -> int:
        """Append an entry (body cut to ``max_body`` bytes); returns its id."""
        size = len(body)
        if size > self.max_body:
            body = body[: self.max_body]
        entry_id = self._next_id
        self._next_id = entry_id + 1
        self.total += 1
        self._entries.append(
            (
                entry_id,
                time,
                method,
                path,
                raw_headers,
                body,
                size,
                endpoint,
                status,
                response_type,
                response_body,
                source,
                step,
            )
        )
        return entry_id

    def entries(self) -> list[JournalEntry]:
        return [JournalEntry(*fields) for fields in self._entries]

    def clear(self) -> None:
        """Forget every entry; ids keep counting up, so an old id never names a new request."""
        self._entries.clear()
        self.total = 0

    def __len__(self) -> int:
        return len(self._entries)


# --- everything together ------------------------------------------------------------------------


class MockState:
    """A server's mutable state: its options, the script queue, the journal, handler errors."""

    __slots__ = ("config", "errors", "journal", "public_url", "scripts")

    def __init__(self, config: MockConfig | None = None) -> None:
        self.config = config or MockConfig()
        # Where image URLs point when a request has no usable Host header; set once listening.
        self.public_url = self.config.public_url
        self.scripts = ScriptQueue()
        self.journal = Journal(self.config.journal_size, self.config.journal_body_bytes)
        # Unexpected exceptions from handlers, for the pytest plugin to re-raise at teardown.
        self.errors: list[BaseException] = []

    def script(self, scope: object, steps: object) -> int:
        """Parse and queue steps for ``"chat"``, ``"image"`` or ``"any"``; returns the count."""
        return self.scripts.add(parse_scope(scope), parse_steps(steps))

    def reset(self) -> None:
        """Empty the journal and the scripts (handler errors are kept for the teardown check)."""
        self.scripts.clear()
        self.journal.clear()
