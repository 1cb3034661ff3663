"""Stubs: a request pattern plus what to answer (WireMock's stub mapping), and their parser.

``parse_stubs(data)`` reads one stub or a list (from a file, the admin API or Python) whole, or
raises ``StubError`` naming the path of the first bad field (``stubs[2].match.turns.min``).
A ``Respond`` is a scripted step (``core.steps``) plus what only stubs do: a JSON value or a
Jinja2 template as the content, extra latency, and the pacing of a streamed answer.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from .errors import StepError, StubError
from .matching import All, Flag, Predicate
from .patterns import parse_match
from .steps import MAX_FAULT_MS, STREAM_FAULTS, Step, parse_step, type_name

__all__ = [
    "MAX_RENDERED",
    "Pacing",
    "Respond",
    "Stub",
    "pacing_gaps",
    "parse_respond",
    "parse_stub",
    "parse_stubs",
    "render",
    "stub_data",
]

MAX_RENDERED = 1024 * 1024  # characters a template may produce


def stub_data(
    match: Mapping[str, Any] | None,
    respond: Mapping[str, Any],
    name: str | None,
    priority: int,
    times: int | None,
) -> dict[str, Any]:
    """A stub as the admin API takes it, from the keywords of ``MockServer.stub``."""
    data: dict[str, Any] = {"match": dict(match or {}), "respond": dict(respond)}
    extra = {"name": name, "priority": priority or None, "times": times}
    data.update({key: value for key, value in extra.items() if value is not None})
    return data


_MAX_STUBS = 10_000
_STUB_KEYS = ("name", "priority", "times", "match", "respond")
_TEXT_KINDS = ("reply", "json", "url", "template")
_STEP_KINDS = ("status", "fault")
# No loader: a template cannot include or import a file; the sandbox keeps it off Python's
# internals (and so off os.environ); StrictUndefined makes a misspelt name an error, not "".
_JINJA = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, loader=None)


@dataclass(frozen=True)
class Pacing:
    """How a streamed answer is sent: the first event after ``first_event_ms``, then
    ``events_per_second`` events (or ``tokens_per_second`` words), each gap scaled by a seeded
    draw in ``1 ± jitter``."""

    first_event_ms: float = 0.0
    events_per_second: float | None = None
    tokens_per_second: float | None = None
    jitter: float = 0.0
    seed: int = 0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"first_event_ms": self.first_event_ms}
        for key in ("events_per_second", "tokens_per_second"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.jitter:
            out["jitter"], out["seed"] = self.jitter, self.seed
        return out


@dataclass(frozen=True)
class Respond:
    """What a stub answers: ``step`` (a reply, status or fault; None: the generated answer),
    ``template`` (its source, rendered per request), the extra ``latency_ms`` and stream
    ``pacing``; ``source`` is the JSON form it was read from."""

    step: Step | None
    template: str | None = None
    latency_ms: float = 0.0
    pacing: Pacing | None = None
    source: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(eq=False)
class Stub:
    """A stub in a set: ``match`` and ``respond``, its ``endpoint`` (chat, image or any),
    ``priority`` (lower wins), ``times`` (None: no limit) and how many it has ``answered``."""

    match: Predicate
    respond: Respond
    endpoint: str = "any"
    name: str | None = None
    priority: int = 0
    times: int | None = None
    id: str = ""
    seq: int = 0
    answered: int = 0
    source: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The stub as given, plus its id and how many requests it answered."""
        return {"id": self.id, **self.source, "answered": self.answered}


def _number(value: object, where: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise StubError(where, f"must be a number {lo:g}..{hi:g}, not {value!r:.40}")
    return float(value)


def _pacing(value: object, where: str) -> Pacing:
    if not isinstance(value, Mapping):
        raise StubError(where, f"must be an object, not {type_name(value)}")
    known = ("first_event_ms", "events_per_second", "tokens_per_second", "jitter", "seed")
    for key in value:
        if key not in known:
            raise StubError(f"{where}.{key}", f"unknown key (known: {', '.join(known)})")
    rates = [key for key in known[1:3] if key in value]
    if len(rates) > 1:
        raise StubError(where, "give events_per_second or tokens_per_second, not both")
    seed = value.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise StubError(f"{where}.seed", f"must be an integer, not {seed!r:.40}")
    rate = {key: _number(value[key], f"{where}.{key}", 0.01, 100_000) for key in rates}
    return Pacing(
        first_event_ms=_number(
            value.get("first_event_ms", 0), f"{where}.first_event_ms", 0, MAX_FAULT_MS
        ),
        jitter=_number(value.get("jitter", 0), f"{where}.jitter", 0, 1),
        seed=seed,
        **rate,
    )


def _text_step(data: Mapping[str, Any], kind: str, where: str) -> tuple[Step, str | None]:
    """The reply step for ``reply``, ``json``, ``url`` or ``template``, and the template."""
    value = data[kind]
    at = f"{where}.{kind}"
    headers = {"headers": data["headers"]} if "headers" in data else {}
    if kind == "json":
        try:
            text = json.dumps(value, allow_nan=False, ensure_ascii=False)
        except (TypeError, ValueError, RecursionError) as exc:
            raise StubError(at, f"cannot be sent as JSON ({exc})") from None
        return _step({"reply": text, **headers}, where), None
    if not isinstance(value, str):
        raise StubError(at, f"must be a string, not {type_name(value)}")
    if kind == "template":
        try:
            _compiled(value)
        except TemplateError as exc:
            raise StubError(at, f"is not a valid template ({exc})") from None
        return _step({"reply": None, **headers}, where), value
    return _step({"reply": value, **headers}, where), None


def _step(data: Mapping[str, Any], where: str) -> Step:
    try:
        return parse_step(dict(data), where)
    except StubError:
        raise
    except StepError as exc:
        raise StubError(exc.field, exc.problem) from None


def parse_respond(value: object, where: str = "respond") -> Respond:
    """A stub's ``respond``: at most one of reply, json, url, template, status or fault (none:
    the generated answer), with ``headers``, ``latency_ms`` and ``stream`` pacing."""
    if not isinstance(value, Mapping):
        raise StubError(where, f"must be an object, not {type_name(value)}")
    kinds = [key for key in (*_TEXT_KINDS, *_STEP_KINDS) if key in value]
    if len(kinds) > 1:
        raise StubError(where, "has both " + " and ".join(kinds))
    extra = {key: value[key] for key in ("latency_ms", "stream") if key in value}
    rest = {key: item for key, item in value.items() if key not in extra}
    latency = _number(extra.get("latency_ms", 0), f"{where}.latency_ms", 0, MAX_FAULT_MS)
    pacing = _pacing(extra["stream"], f"{where}.stream") if "stream" in extra else None
    template = None
    step: Step | None
    if kinds and kinds[0] in _TEXT_KINDS:
        allowed = {kinds[0], "headers"}
        for key in rest:
            if key not in allowed:
                raise StubError(f"{where}.{key}", f"unknown key beside {kinds[0]}")
        step, template = _text_step(rest, kinds[0], where)
    elif kinds:
        step = _step(rest, where)
    else:
        step = _step({"reply": None, **rest}, where) if rest else None
    return Respond(step, template, latency, pacing, dict(value))


def _endpoint_of(match: Predicate, respond: Respond, where: str) -> str:
    """chat, image or any: the match's own ``endpoint``, else what the answer is for."""
    parts = match.parts if isinstance(match, All) else (match,)
    given = [p.value for p in parts if isinstance(p, Flag) and p.name == "endpoint"]
    kind = next((k for k in _TEXT_KINDS if k in respond.source), None)
    chat_only = kind in ("reply", "json") or respond.pacing is not None
    chat_only = chat_only or isinstance(respond.step, STREAM_FAULTS)
    endpoint = given[0] if given else "image" if kind == "url" else "chat" if chat_only else "any"
    if endpoint != "chat" and chat_only:
        what = kind or ("stream" if respond.pacing else "fault")
        raise StubError(f"{where}.respond.{what}", f"answers chat requests, not {endpoint}")
    if endpoint != "image" and kind == "url":
        raise StubError(f"{where}.respond.url", f"answers image requests, not {endpoint}")
    return str(endpoint)


def parse_stub(value: object, where: str = "stub") -> Stub:
    """One stub: ``match`` and ``respond``, with optional ``name``, ``priority`` and ``times``."""
    if not isinstance(value, Mapping):
        raise StubError(where, f"must be an object with match and respond, not {type_name(value)}")
    for key in value:
        if key not in _STUB_KEYS:
            raise StubError(
                f"{where}.{key}", f"unknown key (a stub knows: {', '.join(_STUB_KEYS)})"
            )
    if "respond" not in value:
        raise StubError(f"{where}.respond", "is missing")
    name = value.get("name")
    if name is not None and not (isinstance(name, str) and 0 < len(name) <= 200):
        raise StubError(f"{where}.name", "must be a string of 1 to 200 characters")
    priority = value.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int) or abs(priority) > 10**9:
        raise StubError(f"{where}.priority", f"must be an integer, not {priority!r:.40}")
    times = value.get("times")
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise StubError(f"{where}.times", f"must be an integer >= 1, not {times!r:.40}")
    match = parse_match(value.get("match", {}), f"{where}.match")
    respond = parse_respond(value["respond"], f"{where}.respond")
    endpoint = _endpoint_of(match, respond, where)
    return Stub(match, respond, endpoint, name, priority, times, source=dict(value))


def parse_stubs(value: object, where: str = "stubs") -> list[Stub]:
    """One stub or a list of them, all or none (``stubs[2].match...`` names the bad one)."""
    if isinstance(value, Mapping):
        return [parse_stub(value, where)]
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise StubError(where, f"must be a stub or a list of stubs, not {type_name(value)}")
    if len(value) > _MAX_STUBS:
        raise StubError(where, f"has more than {_MAX_STUBS} stubs")
    return [parse_stub(item, f"{where}[{i}]") for i, item in enumerate(value)]


@functools.lru_cache(maxsize=1024)
def _compiled(source: str) -> Template:
    return _JINJA.from_string(source)


def render(template: str, variables: Mapping[str, Any]) -> str:
    """A stub's template over the request; ``TemplateError`` (or RecursionError) when it fails,
    ``ValueError`` when it writes more than ``MAX_RENDERED`` characters."""
    parts: list[str] = []
    size = 0
    for chunk in _compiled(template).generate(**variables):
        size += len(chunk)
        if size > MAX_RENDERED:
            raise ValueError(f"the template wrote more than {MAX_RENDERED} characters")
        parts.append(chunk)
    return "".join(parts)


def pacing_gaps(pacing: Pacing, chunks: Sequence[str], rng: Any) -> list[float]:
    """Seconds to wait before each of ``len(chunks) + 1`` events (the last one is ``[DONE]``)."""
    gaps = [pacing.first_event_ms / 1000]
    for chunk in chunks[1:]:
        if pacing.tokens_per_second is not None:
            gap = max(1, len(chunk.split())) / pacing.tokens_per_second
        elif pacing.events_per_second is not None:
            gap = 1 / pacing.events_per_second
        else:
            gap = 0.0
        if pacing.jitter:
            gap *= 1 + pacing.jitter * (2 * rng.random() - 1)
        gaps.append(max(0.0, gap) if math.isfinite(gap) else 0.0)
    gaps.append(0.0)
    return gaps
