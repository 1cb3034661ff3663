"""Scripted steps: what one request gets instead of the generated answer, and their parsers.

A step is a small frozen object: ``ReplyStep`` (other text), ``StatusStep`` (a status with the
built-in or a given body) or one ``FaultStep`` per kind of misbehaviour on the wire. Each has a
JSON form (``to_json``) that ``parse_step`` reads back; a bad one is a ``StepError`` naming the
field. A later kind is one more dataclass and one more parser in ``_STEP_PARSERS``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal

from .errors import StepError

__all__ = [
    "FAULT_KINDS",
    "FAULT_STEPS",
    "MAX_FAULT_MS",
    "SCOPES",
    "STREAM_FAULTS",
    "ConnectionReset",
    "Delay",
    "Dribble",
    "EmptyResponse",
    "FaultStep",
    "Garbage",
    "ReplyStep",
    "Scope",
    "StatusStep",
    "Step",
    "StreamCut",
    "StreamMalformed",
    "TruncatedBody",
    "check_image_steps",
    "parse_scope",
    "parse_step",
    "parse_steps",
    "type_name",
]

Scope = Literal["chat", "image", "any"]
SCOPES: tuple[Scope, ...] = ("chat", "image", "any")

# RFC 9110 token: what a header name may be made of.
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Headers a step may not set: they would break the framing of the answer (fault steps do that).
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})


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


def _integral(value: object) -> object:
    """``200.0`` as ``200``: JSON has one number type, and JSON Schema (the admin API's
    OpenAPI document) counts a number with no fraction as an integer, so tools send both."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _check_param(value: object, where: str, lo: int, hi: int, integer: bool) -> int | float:
    """``value`` if it is a number (an integer when ``integer``) in ``lo..hi``; else StepError."""
    what = "an integer" if integer else "a number"
    value = _integral(value) if integer else value
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (integer and not isinstance(value, int))
        or not (lo <= value <= hi)  # also refuses NaN
    ):
        shown = f"{value!r:.40}" if isinstance(value, (int, float, str)) else type_name(value)
        raise StepError(where, f"must be {what} {lo}..{hi}, not {shown}")
    return value


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
                checked = _check_param(value, f"{self.fault}.{name}", lo, hi, integer)
                object.__setattr__(self, name, checked)  # 64.0 is kept as 64

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


def type_name(value: object) -> str:
    """A value's JSON type name, for error messages."""
    return "null" if value is None else type(value).__name__


def _parse_headers(value: object, where: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise StepError(
            where, f"must be an object of header names to values, not {type_name(value)}"
        )
    out: list[tuple[str, str]] = []
    for name, raw in value.items():
        at = f"{where}.{name}"
        if not isinstance(name, str) or not _TOKEN_RE.fullmatch(name):
            raise StepError(at, "is not a valid header name")
        if name.lower() in _FRAMING_HEADERS:
            raise StepError(at, "cannot be scripted (it sets the framing of the answer)")
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            raise StepError(at, f"must be a string or a number, not {type_name(raw)}")
        text = str(raw)
        if any((ord(c) < 0x20 and c != "\t") or c == "\x7f" for c in text):
            raise StepError(at, "must not contain line breaks or control characters")
        out.append((name, text))
    return tuple(out)


def _parse_status(value: object, where: str) -> int:
    value = _integral(value)
    if isinstance(value, bool) or not isinstance(value, int):
        shown = f"{value!r:.40}" if isinstance(value, float) else type_name(value)
        raise StepError(where, f"must be an integer HTTP status, not {shown}")
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
        raise StepError(f"{where}.reply", f"must be a string or null, not {type_name(text)}")
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
    at = f"{where}."
    return cls(**{k: _check_param(data[k], at + k, *v) for k, v in cls.limits.items() if k in data})


# The key that names a step's kind, and its parser.
_STEP_PARSERS = {"reply": _reply_step, "status": _status_step, "fault": _fault_step}


def parse_step(value: object, where: str = "step") -> Step:
    """A step from its JSON form: ``200``, ``429``, ``{"status": ...}``, ``{"reply": ...}``,
    ``{"fault": ...}`` or a fault's bare name (``"connection_reset"``).

    An integer is shorthand: 200 is a normal answer, any other status its built-in body.
    A number with no fraction is an integer (``429.0`` is ``429``), as JSON Schema counts it.
    A step object passes through unchanged.
    """
    if isinstance(value, (ReplyStep, StatusStep, FaultStep)):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        status = _parse_status(value, where)
        return ReplyStep() if status == 200 else StatusStep(status)
    if isinstance(value, str):
        return _fault_class(value, where)()
    if not isinstance(value, Mapping):
        raise StepError(
            where, f"must be a status code, a fault's name or an object, not {type_name(value)}"
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
        raise StepError(where, f"must be a list of steps, not {type_name(values)}")
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


def check_image_steps(steps: Sequence[Step], where: str = "responses") -> None:
    """Stream faults scripted for images are refused: an image answer is not a stream."""
    for i, step in enumerate(steps):
        if isinstance(step, STREAM_FAULTS):
            raise StepError(
                f"{where}[{i}].fault",
                f"{step.fault} is for chat streams; an image answer is not a stream"
                " (truncated_body cuts it)",
            )
