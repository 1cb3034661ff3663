"""The mock server's state, with no I/O: its options, scripted steps and their queue, the journal.

Nothing here touches asyncio or sockets, so a hypothesis ``RuleBasedStateMachine`` can drive it;
the aiohttp handlers in ``mock_server.app`` are a thin shell that reads and updates it.
"""

from __future__ import annotations

import base64
import json
import random
import re
import struct
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from itertools import chain
from typing import Any, ClassVar, Literal

from .latency import MAX_LATENCY_MS, FixedLatency, LatencyModel, parse_latency
from .ratelimit import RATE_SCOPES, RateLimiter, RateScope, parse_rate

__all__ = [
    "DEFAULT_JOURNAL_BODY_BYTES",
    "DEFAULT_JOURNAL_SIZE",
    "DEFAULT_MAX_BODY_BYTES",
    "FAULT_KINDS",
    "FAULT_STEPS",
    "MAX_FAULT_MS",
    "SCOPES",
    "STREAM_FAULTS",
    "ConnectionReset",
    "Delay",
    "Dribble",
    "EmptyResponse",
    "Endpoint",
    "FaultStep",
    "Garbage",
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
    "StreamCut",
    "StreamMalformed",
    "TruncatedBody",
    "parse_json_strictly",
    "parse_scope",
    "parse_step",
    "parse_steps",
    "seeded_random",
]

Endpoint = Literal["chat", "image"]
Scope = Literal["chat", "image", "any"]
SCOPES: tuple[Scope, ...] = ("chat", "image", "any")

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_JOURNAL_SIZE = 10_000
DEFAULT_JOURNAL_BODY_BYTES = 64 * 1024

# RFC 9110 token: what a header name may be made of.
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Headers a step may not set: they would break the framing of the answer (fault steps do that).
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
    # Misbehaviour on demand (all off by default). latency: "fixed:MS", "uniform:LOW,HIGH",
    # "lognormal:MEDIAN,SIGMA"; rate_limit: "5/s", "300/min"; chaos: the fraction of requests
    # that get an outcome from chaos_mix ("429:3,connection_reset:1", see mock_server.chaos).
    latency: str | None = None
    rate_limit: str | None = None
    rate_burst: int | None = None
    rate_limit_scope: str = "global"
    chaos: float = 0.0
    chaos_mix: str | None = None
    directives: bool = False
    # Lets non-loopback clients use the admin API with "Authorization: Bearer <token>".
    admin_token: str | None = None
    # Set by `websim-mock --workers N` in each of its N processes (see mock_server.workers):
    # with workers > 1 the journal is off, the admin API's stateful endpoints answer 409,
    # the rate limit is split N ways, and chaos, latency and fault bytes are seeded with
    # seed + worker (the answers themselves only depend on seed).
    workers: int = 1
    worker: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, not {self.seed!r}")
        if not self.latency_ms >= 0:  # also refuses NaN
            raise ValueError(f"latency_ms must be >= 0, not {self.latency_ms!r}")
        if self.latency_ms > MAX_LATENCY_MS:
            raise ValueError(f"latency_ms must be <= {MAX_LATENCY_MS:.0f}, not {self.latency_ms!r}")
        if self.latency is not None:
            if self.latency_ms:
                raise ValueError("give latency_ms or latency, not both")
            parse_latency(self.latency)
        if self.rate_limit is not None:
            parse_rate(self.rate_limit)
        elif self.rate_burst is not None:
            raise ValueError("rate_burst needs rate_limit")
        if self.rate_burst is not None and (
            isinstance(self.rate_burst, bool)
            or not isinstance(self.rate_burst, int)
            or self.rate_burst < 1
        ):
            raise ValueError(f"rate_burst must be an integer >= 1, not {self.rate_burst!r}")
        if self.rate_limit_scope not in RATE_SCOPES:
            raise ValueError(
                f"rate_limit_scope must be 'global' or 'project', not {self.rate_limit_scope!r}"
            )
        if isinstance(self.chaos, bool) or not 0 <= self.chaos <= 1:
            raise ValueError(f"chaos must be a fraction 0..1, not {self.chaos!r}")
        if self.chaos_mix is not None:
            from .chaos import parse_mix  # chaos imports this module

            parse_mix(self.chaos_mix)
        if self.admin_token is not None and not (
            isinstance(self.admin_token, str) and self.admin_token.strip()
        ):
            raise ValueError("admin_token must be a non-empty string")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise ValueError(f"workers must be an integer >= 1, not {self.workers!r}")
        if (
            isinstance(self.worker, bool)
            or not isinstance(self.worker, int)
            or not 0 <= self.worker < self.workers
        ):
            raise ValueError(f"worker must be an integer 0..workers-1, not {self.worker!r}")
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


# --- fault steps: misbehaviour on the wire -------------------------------------------------------
# Every duration and count has an upper bound, so that no script can hang the server.

MAX_FAULT_MS = 60_000
_MAX_COUNT = 10_000
_MAX_GARBAGE = 64 * 1024
_MAX_KEEP = 100 * 1024 * 1024


def _check_param(value: object, where: str, lo: int, hi: int, integer: bool) -> None:
    what = "an integer" if integer else "a number"
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (integer and not isinstance(value, int))
        or not (lo <= value <= hi)  # also refuses NaN
    ):
        shown = f"{value!r:.40}" if isinstance(value, (int, float, str)) else _type(value)
        raise StepError(where, f"must be {what} {lo}..{hi}, not {shown}")


@dataclass(frozen=True)
class FaultStep:
    """Base of the fault steps: what happens on the socket instead of (or around) the answer.

    ``to_json()`` gives ``{"fault": NAME, **parameters}``; ``parse_step`` reads it back, and a
    bare name (``"connection_reset"``) is the fault with its default parameters.
    """

    kind: ClassVar[str] = "fault"
    fault: ClassVar[str] = ""
    # Parameter name -> (lowest, highest, integer only); checked by parse_step and the constructor.
    limits: ClassVar[dict[str, tuple[int, int, bool]]] = {}

    def __post_init__(self) -> None:
        for name, (lo, hi, integer) in self.limits.items():
            value = getattr(self, name)
            if value is not None:
                _check_param(value, f"{self.fault}.{name}", lo, hi, integer)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"fault": self.fault}
        for item in fields(self):
            value = getattr(self, item.name)
            if value is not None:
                out[item.name] = value
        return out


@dataclass(frozen=True)
class ConnectionReset(FaultStep):
    """Abort the connection without answering (an RST): the client sees a reset."""

    fault: ClassVar[str] = "connection_reset"


@dataclass(frozen=True)
class EmptyResponse(FaultStep):
    """Close the connection after reading the request, without sending a byte (a FIN)."""

    fault: ClassVar[str] = "empty_response"


@dataclass(frozen=True)
class Garbage(FaultStep):
    """Send ``size`` seeded random bytes that are not HTTP, then close."""

    size: int = 64
    fault: ClassVar[str] = "garbage"
    limits: ClassVar[dict[str, tuple[int, int, bool]]] = {"size": (1, _MAX_GARBAGE, True)}


@dataclass(frozen=True)
class TruncatedBody(FaultStep):
    """Send the headers with the full Content-Length, ``keep_bytes`` of the body, then close.

    ``None`` keeps half the body; at most all but its last byte is ever sent.
    """

    keep_bytes: int | None = None
    fault: ClassVar[str] = "truncated_body"
    limits: ClassVar[dict[str, tuple[int, int, bool]]] = {"keep_bytes": (0, _MAX_KEEP, True)}


@dataclass(frozen=True)
class Delay(FaultStep):
    """Answer normally after ``delay_ms`` milliseconds."""

    delay_ms: float = 1000
    fault: ClassVar[str] = "delay"
    limits: ClassVar[dict[str, tuple[int, int, bool]]] = {"delay_ms": (0, MAX_FAULT_MS, False)}


@dataclass(frozen=True)
class Dribble(FaultStep):
    """Send the normal answer's body in ``chunks`` pieces spread over ``duration_ms``.

    The headers go at once; piece ``i`` (from 1) leaves at ``i * duration_ms / chunks``.
    """

    chunks: int = 10
    duration_ms: float = 1000
    fault: ClassVar[str] = "dribble"
    limits: ClassVar[dict[str, tuple[int, int, bool]]] = {
        "chunks": (1, _MAX_COUNT, True),
        "duration_ms": (0, MAX_FAULT_MS, False),
    }


@dataclass(frozen=True)
class StreamCut(FaultStep):
    """Stream ``after_events`` events of the answer, then close: no ``[DONE]``, no last chunk."""

    after_events: int = 1
    fault: ClassVar[str] = "stream_cut"
    limits: ClassVar[dict[str, tuple[int, int, bool]]] = {"after_events": (0, _MAX_COUNT, True)}


@dataclass(frozen=True)
class StreamMalformed(FaultStep):
    """Stream the answer with a ``data: {not json`` event after ``after_events`` events.

    ``None`` puts it in the middle; the stream then goes on and ends with ``[DONE]``.
    """

    after_events: int | None = None
    fault: ClassVar[str] = "stream_malformed"
    limits: ClassVar[dict[str, tuple[int, int, bool]]] = {"after_events": (0, _MAX_COUNT, True)}


FAULT_STEPS: dict[str, type[FaultStep]] = {
    cls.fault: cls
    for cls in (
        ConnectionReset,
        EmptyResponse,
        Garbage,
        TruncatedBody,
        Delay,
        Dribble,
        StreamCut,
        StreamMalformed,
    )
}
FAULT_KINDS: tuple[str, ...] = tuple(FAULT_STEPS)
# Faults that only make sense for a chat stream: refused when scripted for the image endpoint.
STREAM_FAULTS = (StreamCut, StreamMalformed)

Step = ReplyStep | StatusStep | FaultStep


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


def _fault_class(name: object, where: str) -> type[FaultStep]:
    cls = FAULT_STEPS.get(name) if isinstance(name, str) else None
    if cls is None:
        known = ", ".join(FAULT_KINDS)
        raise StepError(where, f"unknown fault {name!r:.40} (known: {known})")
    return cls


def _fault_step(data: Mapping[str, Any], where: str) -> Step:
    cls = _fault_class(data["fault"], f"{where}.fault")
    _check_keys(data, frozenset({"fault", *cls.limits}), where)
    for name, (lo, hi, integer) in cls.limits.items():
        if name in data:
            _check_param(data[name], f"{where}.{name}", lo, hi, integer)
    return cls(**{name: data[name] for name in cls.limits if name in data})


# The key that names a step's kind, and its parser.
_STEP_PARSERS = {"reply": _reply_step, "status": _status_step, "fault": _fault_step}


def parse_step(value: object, where: str = "step") -> Step:
    """A step from its JSON form: ``200``, ``429``, ``{"status": ...}``, ``{"reply": ...}``,
    ``{"fault": ...}`` or a fault's bare name (``"connection_reset"``).

    An integer is shorthand: 200 is a normal answer, any other status its built-in body.
    A step object passes through unchanged.
    """
    if isinstance(value, (ReplyStep, StatusStep, FaultStep)):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        status = _parse_status(value, where)
        return ReplyStep() if status == 200 else StatusStep(status)
    if isinstance(value, str):
        return _fault_class(value, where)()
    if not isinstance(value, Mapping):
        raise StepError(
            where, f"must be a status code, a fault's name or an object, not {_type(value)}"
        )
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

    __slots__ = ("_queues", "_seq", "waiting")

    def __init__(self) -> None:
        self._queues: dict[Scope, deque[tuple[int, Step]]] = {s: deque() for s in SCOPES}
        self._seq = 0
        self.waiting = 0  # steps in all queues: what a request checks first (usually 0)

    def add(self, scope: Scope, steps: Iterable[Step]) -> int:
        """Queue steps behind those already waiting; returns how many were added."""
        queue = self._queues[scope]
        added = 0
        for step in steps:
            self._seq += 1
            queue.append((self._seq, step))
            added += 1
        self.waiting += added
        return added

    def take(self, endpoint: Endpoint) -> Step | None:
        """The next step for a request to ``endpoint``, removed from the queue; None if none."""
        own = self._queues[endpoint]
        shared = self._queues["any"]
        if own and (not shared or own[0][0] < shared[0][0]):
            self.waiting -= 1
            return own.popleft()[1]
        if shared:
            self.waiting -= 1
            return shared.popleft()[1]
        return None

    def pending(self) -> list[tuple[Scope, Step]]:
        """Every waiting step with its scope, in the order they were scripted."""
        tagged = [(seq, scope, step) for scope, q in self._queues.items() for seq, step in q]
        return [(scope, step) for _, scope, step in sorted(tagged, key=lambda t: t[0])]

    def clear(self) -> None:
        for queue in self._queues.values():
            queue.clear()
        self.waiting = 0

    def __len__(self) -> int:
        return self.waiting


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


# A journal entry packed: id, time, then the sizes of the path, the header block, the body
# (before it was cut) and the answer's body, followed by those bytes (the answer's last).
_PACKED = struct.Struct("<qdIIII")
_ODD_HEADERS = 0xFFFFFFFF  # header size meaning "kept apart": a name or value holds CRLF
_NO_ANSWER = 0xFFFFFFFF  # answer size meaning "no body was sent" (None)
_MAX_SHARED_ANSWERS = 256
_PACK_EVERY = 64


class Journal:
    """The last ``maxlen`` requests, oldest first; older ones are dropped and counted.

    Under load a full journal drops an entry per request, and what it frees has gone cold in
    the CPU caches by then (ten thousand requests later); the fifteen or so objects a request
    leaves behind (header tuples, body, path, time...) made that the larger part of the
    journal's cost (issue 7). So ``record`` only queues the request's pieces, and every
    ``_PACK_EVERY`` requests (or when read) they are packed, in one loop that stays in the
    caches, into one bytes object per entry (id, time, path, header block, body, the answer's
    body) and a tuple saying how it was answered, which entries answered alike share (the
    answer's body is packed so that they do). ``entries()`` unpacks them into ``JournalEntry``
    objects; nothing is decoded or parsed before that.
    """

    __slots__ = ("_answers", "_next_id", "_packed", "_pending", "_shared", "max_body", "total")

    def __init__(
        self, maxlen: int = DEFAULT_JOURNAL_SIZE, max_body: int = DEFAULT_JOURNAL_BODY_BYTES
    ) -> None:
        self._packed: deque[bytes] = deque(maxlen=maxlen)
        self._answers: deque[tuple[Any, ...]] = deque(maxlen=maxlen)
        self._pending: list[tuple[Any, ...]] = []
        self._shared: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self._next_id = 1
        self.max_body = max_body
        self.total = 0  # recorded since the last clear, dropped ones included

    @property
    def maxlen(self) -> int:
        maxlen = self._packed.maxlen
        assert maxlen is not None
        return maxlen

    @property
    def dropped(self) -> int:
        return self.total - len(self)

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
        """Add an entry (its body cut to ``max_body`` bytes); returns its id."""
        entry_id = self._next_id
        self._next_id = entry_id + 1
        self.total += 1
        pending = self._pending
        pending.append(
            (
                time,
                method,
                path,
                raw_headers,
                body,
                endpoint,
                status,
                response_type,
                response_body,
                source,
                step,
            )
        )
        if len(pending) >= _PACK_EVERY:
            self._pack()
        return entry_id

    def _pack(self) -> None:
        pending = self._pending
        if not pending:
            return
        max_body, shared = self.max_body, self._shared
        packed, answers = self._packed, self._answers
        entry_id = self._next_id - len(pending)
        for (
            when,
            method,
            path,
            raw_headers,
            body,
            endpoint,
            status,
            response_type,
            response_body,
            source,
            step,
        ) in pending:
            target = path.encode("utf-8", "surrogatepass")
            block = b"\r\n".join(chain.from_iterable(raw_headers))
            block_size = len(block)
            answer: tuple[Any, ...] = (method, endpoint, status, response_type, source, step)
            if raw_headers and block.count(b"\r\n") != 2 * len(raw_headers) - 1:
                block, block_size, answer = b"", _ODD_HEADERS, (*answer, raw_headers)
            elif step is None:  # hashable: share the answer with the entries answered alike
                answer = shared.setdefault(answer, answer)
                if len(shared) > _MAX_SHARED_ANSWERS:
                    shared.clear()
            if response_body is None:
                response_body, response_size = b"", _NO_ANSWER
            else:
                response_size = len(response_body)
            head = _PACKED.pack(entry_id, when, len(target), block_size, len(body), response_size)
            packed.append(b"".join((head, target, block, body[:max_body], response_body)))
            answers.append(answer)
            entry_id += 1
        pending.clear()

    def entries(self) -> list[JournalEntry]:
        self._pack()
        out = []
        for packed, answer in zip(self._packed, self._answers, strict=True):
            entry_id, time, path_size, block_size, size, response_size = _PACKED.unpack_from(packed)
            start = _PACKED.size + path_size
            path = packed[_PACKED.size : start].decode("utf-8", "surrogatepass")
            if block_size == _ODD_HEADERS:
                raw_headers = answer[6]
                block_size = 0
            else:
                fields = packed[start : start + block_size].split(b"\r\n") if block_size else []
                raw_headers = tuple(zip(fields[0::2], fields[1::2], strict=True))
            end = len(packed)
            response_body: bytes | None = None
            if response_size != _NO_ANSWER:
                end -= response_size
                response_body = packed[end:]
            body = packed[start + block_size : end]
            method, endpoint, status, response_type, source, step = answer[:6]
            out.append(
                JournalEntry(
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
        return out

    def clear(self) -> None:
        """Forget every entry; ids keep counting up, so an old id never names a new request."""
        self._pending.clear()
        self._packed.clear()
        self._answers.clear()
        self._shared.clear()
        self.total = 0

    def __len__(self) -> int:
        self._pack()
        return len(self._packed)


# --- everything together ------------------------------------------------------------------------


def seeded_random(purpose: str, seed: int) -> random.Random:
    """A generator for one purpose (chaos, latency, faults): independent streams per purpose,
    the same on every run and machine for the same seed."""
    return random.Random(f"websim-mock/{purpose}/{seed}")


class MockState:
    """A server's mutable state: its options, the script queue, the journal, handler errors,
    and what misbehaviour needs between requests (rate-limit buckets, seeded generators)."""

    __slots__ = (
        "chaos",
        "config",
        "errors",
        "fault_rng",
        "journal",
        "latency",
        "latency_rng",
        "limiter",
        "public_url",
        "scripts",
    )

    def __init__(
        self, config: MockConfig | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        from .chaos import Chaos  # chaos imports this module

        self.config = config = config or MockConfig()
        # Where image URLs point when a request has no usable Host header; set once listening.
        self.public_url = config.public_url
        self.scripts = ScriptQueue()
        # With several workers nobody could read a worker's journal (the admin API refuses).
        journal_size = config.journal_size if config.workers == 1 else 0
        self.journal = Journal(journal_size, config.journal_body_bytes)
        # Unexpected exceptions from handlers, for the pytest plugin to re-raise at teardown.
        self.errors: list[BaseException] = []
        self.latency: LatencyModel | None = None
        if config.latency is not None:
            self.latency = parse_latency(config.latency)
        elif config.latency_ms:
            self.latency = FixedLatency(config.latency_ms)
        self.limiter: RateLimiter | None = None
        if config.rate_limit is not None:
            scope: RateScope = "project" if config.rate_limit_scope == "project" else "global"
            # Split between the workers: each allows its share of the rate and of the burst.
            rate = parse_rate(config.rate_limit) / config.workers
            burst = config.rate_burst
            if burst is not None:
                burst = max(1, -(-burst // config.workers))
            self.limiter = RateLimiter(rate, burst, scope, clock)
        seed = self._draw_seed
        self.chaos = Chaos(config.chaos, config.chaos_mix, seed) if config.chaos else None
        self._reseed()

    @property
    def _draw_seed(self) -> int:
        """The seed of what misbehaviour draws (not of the answers): one stream per worker."""
        return self.config.seed + self.config.worker

    def _reseed(self) -> None:
        self.latency_rng = seeded_random("latency", self._draw_seed)
        self.fault_rng = seeded_random("faults", self._draw_seed)
        if self.chaos is not None:
            self.chaos.reset()

    def script(self, scope: object, steps: object) -> int:
        """Parse and queue steps for ``"chat"``, ``"image"`` or ``"any"``; returns the count.

        Stream faults scripted for ``"image"`` are refused (an image answer is no stream).
        """
        where = parse_scope(scope)
        parsed = parse_steps(steps)
        if where == "image":
            for i, step in enumerate(parsed):
                if isinstance(step, STREAM_FAULTS):
                    raise StepError(
                        f"responses[{i}].fault",
                        f"{step.fault} is for chat streams; an image answer is not a stream"
                        " (truncated_body cuts it)",
                    )
        return self.scripts.add(where, parsed)

    def reset(self) -> None:
        """Empty the journal and the scripts, refill the rate-limit buckets and start the seeded
        sequences (chaos, latency, garbage) over; handler errors are kept for the teardown check."""
        self.scripts.clear()
        self.journal.clear()
        if self.limiter is not None:
            self.limiter.reset()
        self._reseed()
