"""Reading a stub's ``match`` (JSON or YAML data) into the predicates of ``core.matching``.

``parse_match(data, where)`` returns one predicate, or raises ``StubError`` naming the path of
the bad field (``stubs[2].match.last_user_message.regex``). Several keys in one object must all
hold; one key is that predicate alone, so ``parse_match(p.to_json()) == p``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import StubError
from .matching import FIELDS, All, AnyOf, Flag, Not, Predicate, Roles, Text, TextTest, Turns
from .steps import type_name

__all__ = ["TEXT_OPS", "parse_match", "parse_text_test"]

TEXT_OPS = ("equals", "contains", "regex", "glob")
_MAX_PATTERN = 10_000  # characters in one text test: bounded, as everything from outside
_MAX_TURNS = 1_000_000
_ENDPOINTS = ("chat", "image", "any")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_text_test(value: object, where: str) -> TextTest:
    """``{"contains": "x", "ignore_case": true}``; a bare string means ``equals``."""
    if isinstance(value, str):
        value = {"equals": value}
    if not isinstance(value, Mapping):
        raise StubError(
            where, f"must be a string or an object like {{contains: ...}}, not {type_name(value)}"
        )
    ops = [op for op in TEXT_OPS if op in value]
    unknown = sorted(str(k) for k in value if k not in (*TEXT_OPS, "ignore_case"))
    if unknown:
        raise StubError(
            f"{where}.{unknown[0]}", f"unknown key (known: {', '.join(TEXT_OPS)}, ignore_case)"
        )
    if len(ops) != 1:
        problem = "has both " + " and ".join(ops) if ops else f"needs one of {', '.join(TEXT_OPS)}"
        raise StubError(where, problem)
    op = ops[0]
    text = value[op]
    if not isinstance(text, str):
        raise StubError(f"{where}.{op}", f"must be a string, not {type_name(text)}")
    if len(text) > _MAX_PATTERN:
        raise StubError(f"{where}.{op}", f"is longer than {_MAX_PATTERN} characters")
    ignore_case = value.get("ignore_case", False)
    if not isinstance(ignore_case, bool):
        raise StubError(
            f"{where}.ignore_case", f"must be true or false, not {type_name(ignore_case)}"
        )
    try:
        return TextTest(op, text, ignore_case)
    except re.error as exc:
        raise StubError(f"{where}.{op}", f"is not a valid regular expression ({exc})") from None


def _text(name: str) -> Any:
    def parse(value: object, where: str) -> Predicate:
        return Text(name, parse_text_test(value, where))

    return parse


def _headers(value: object, where: str) -> Predicate:
    if not isinstance(value, Mapping) or not value:
        raise StubError(where, "must be an object of header names to text tests")
    parts: list[Predicate] = []
    for name, test in value.items():
        if not isinstance(name, str) or not name:
            raise StubError(where, "header names must be non-empty strings")
        at = f"{where}.{name}"
        parts.append(Text(f"headers.{name.lower()}", parse_text_test(test, at)))
    return parts[0] if len(parts) == 1 else All(tuple(parts))


def _boolean(name: str) -> Any:
    def parse(value: object, where: str) -> Predicate:
        if not isinstance(value, bool):
            raise StubError(where, f"must be true or false, not {type_name(value)}")
        return Flag(name, value)

    return parse


def _endpoint(value: object, where: str) -> Predicate:
    if value not in _ENDPOINTS:
        raise StubError(where, f"must be 'chat', 'image' or 'any', not {value!r:.40}")
    return Flag("endpoint", value)


def _aspect_ratio(value: object, where: str) -> Predicate:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{1,5}:[0-9]{1,5}", value):
        raise StubError(where, f"must be a ratio like '16:9', not {value!r:.40}")
    return Flag("aspect_ratio", value)


def _bound(value: object, where: str) -> int | None:
    if value is None:
        return None
    if not (_is_int(value) and 0 <= value <= _MAX_TURNS):  # type: ignore[operator]
        raise StubError(where, f"must be an integer 0..{_MAX_TURNS}, not {value!r:.40}")
    assert isinstance(value, int)
    return value


def _turns(value: object, where: str) -> Predicate:
    if isinstance(value, Mapping) and value and set(value) <= {"min", "max"}:
        low = _bound(value.get("min"), f"{where}.min")
        high = _bound(value.get("max"), f"{where}.max")
    elif _is_int(value):
        low = high = _bound(value, where)
    else:
        raise StubError(where, "must be a number of user messages or {min, max}")
    if low is not None and high is not None and low > high:
        raise StubError(where, f"min {low} is above max {high}")
    return Turns(low, high)


def _roles(value: object, where: str) -> Predicate:
    if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
        raise StubError(where, "must be a list of role names")
    return Roles(tuple(value))


def _parts(value: object, where: str) -> tuple[Predicate, ...]:
    if not isinstance(value, list):
        raise StubError(where, f"must be a list of matches, not {type_name(value)}")
    return tuple(parse_match(item, f"{where}[{i}]") for i, item in enumerate(value))


def _all(value: object, where: str) -> Predicate:
    return All(_parts(value, where))


def _any(value: object, where: str) -> Predicate:
    return AnyOf(_parts(value, where))


def _not(value: object, where: str) -> Predicate:
    return Not(parse_match(value, where))


_PARSERS: dict[str, Any] = {
    **{name: _text(name) for name in FIELDS},
    "headers": _headers,
    "json": _boolean("json"),
    "stream": _boolean("stream"),
    "endpoint": _endpoint,
    "aspect_ratio": _aspect_ratio,
    "turns": _turns,
    "roles": _roles,
    "all": _all,
    "any": _any,
    "not": _not,
}


def parse_match(value: object, where: str = "match") -> Predicate:
    """The predicate for a ``match`` object: all of its keys must hold (``{}`` always does)."""
    if not isinstance(value, Mapping):
        raise StubError(where, f"must be an object, not {type_name(value)}")
    parts: list[Predicate] = []
    for key, item in value.items():
        parse = _PARSERS.get(key) if isinstance(key, str) else None
        if parse is None:
            known = ", ".join(_PARSERS)
            raise StubError(f"{where}.{key}", f"unknown key (a match knows: {known})")
        parts.append(parse(item, f"{where}.{key}"))
    return parts[0] if len(parts) == 1 else All(tuple(parts))
