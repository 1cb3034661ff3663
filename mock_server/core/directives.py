"""In-band directives, with no I/O: a message that asks the mock for a status or a fault.

An unmodified client can only send messages, so with ``--directives`` a message whose content
starts with ``[[websim-mock: key=value ...]]`` arranges the answer to that one request, exactly
like a scripted step::

    [[websim-mock: status=429 retry_after=1]] Hello      -> a 429 with Retry-After: 1
    [[websim-mock: fault=stream_cut after=2]] Hello      -> two events, then the socket closes
    [[websim-mock: reply="Just this."]] Hello            -> this answer instead of the generated one

Keys: ``status`` (with ``retry_after``), ``reply`` (a double-quoted JSON string or one word),
``fault`` and that fault's parameters (``after`` is short for ``after_events``). Items are separated
by spaces or commas; values are words or double-quoted JSON strings. A content that starts like a directive but is not a valid
one is a ``StepError`` (the mock answers 400), never silently ignored.
"""

from __future__ import annotations

import json
import re

from .errors import StepError
from .steps import FAULT_STEPS, Step, parse_step

__all__ = ["parse_directive"]

_START_RE = re.compile(r"\s*\[\[\s*websim-mock\s*:", re.IGNORECASE)
_ITEM_RE = re.compile(
    r'\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s\]",]+)\s*,?', re.DOTALL
)
_END_RE = re.compile(r"\s*\]\]")
_INT_RE = re.compile(r"-?[0-9]+")
_FLOAT_RE = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_ALIASES = {"after": "after_events", "retry-after": "retry_after"}
_PARAMS = sorted({name for cls in FAULT_STEPS.values() for name in cls.limits})
_KNOWN = ("status", "retry_after", "reply", "fault", *_PARAMS)
_MAX_DIRECTIVE = 4096
_WHERE = "directive"


def _value(raw: str, key: str) -> object:
    if raw.startswith('"'):
        try:
            text: object = json.loads(raw)
        except ValueError:
            raise StepError(
                f"{_WHERE}.{key}", f"is not a valid quoted string: {raw[:40]}"
            ) from None
        return text
    if key in ("fault", "reply"):
        return raw
    if _INT_RE.fullmatch(raw):
        return int(raw)
    if _FLOAT_RE.fullmatch(raw):
        return float(raw)
    return raw


def _step(items: dict[str, object]) -> Step:
    kinds = [k for k in ("status", "reply", "fault") if k in items]
    if len(kinds) != 1:
        problem = "has both " + " and ".join(kinds) if kinds else "needs status=, fault= or reply="
        raise StepError(_WHERE, problem)
    kind = kinds[0]
    extra = sorted(k for k in items if k != kind and (kind != "status" or k != "retry_after"))
    if kind != "fault" and extra:
        raise StepError(f"{_WHERE}.{extra[0]}", f"does not go with {kind}=")
    if kind == "fault":
        return parse_step(items, _WHERE)
    if kind == "reply":
        return parse_step({"reply": items["reply"]}, _WHERE)
    data: dict[str, object] = {"status": items["status"]}
    if "retry_after" in items:
        data["headers"] = {"Retry-After": items["retry_after"]}
    step = parse_step(data, _WHERE)
    return step


def parse_directive(text: str) -> tuple[Step, str] | None:
    """``(step, the text without the directive)``, or None when ``text`` has no directive.

    The directive must open the text (leading whitespace allowed); the rest keeps its content,
    without the whitespace that followed the directive.
    """
    start = _START_RE.match(text)
    if start is None:
        return None
    pos = start.end()
    items: dict[str, object] = {}
    while True:
        end = _END_RE.match(text, pos)
        if end is not None:
            break
        if pos - start.end() > _MAX_DIRECTIVE:
            raise StepError(_WHERE, f"is longer than {_MAX_DIRECTIVE} characters")
        item = _ITEM_RE.match(text, pos)
        if item is None:
            snippet = text[pos : pos + 30]
            if not snippet.strip():
                raise StepError(_WHERE, "is not closed with ]]")
            raise StepError(_WHERE, f"expected key=value or ]] at {snippet!r}")
        key = item[1].lower()
        key = _ALIASES.get(key, key)
        if key not in _KNOWN:
            raise StepError(f"{_WHERE}.{key}", f"unknown key (known: {', '.join(_KNOWN)})")
        if key in items:
            raise StepError(f"{_WHERE}.{key}", "is given twice")
        items[key] = _value(item[2], key)
        pos = item.end()
    return _step(items), text[end.end() :].lstrip()
