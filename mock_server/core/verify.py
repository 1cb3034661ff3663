"""Verification, with no I/O: which journaled requests a pattern matches, and why others did not.

The patterns are the stubs' (``core.patterns.parse_match``), read against what the app sent: a
journal entry's JSON body and headers become the same ``Facts`` a stub sees. ``find`` selects,
``count_problem`` says whether a count meets ``times`` / ``at_least`` / ``at_most``, and
``report`` writes the message a failed ``verify`` raises: what was seen and, for the closest
requests, which predicates failed and what came instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .errors import FieldError
from .journal import JournalEntry
from .matching import Facts, Mismatch, Predicate
from .patterns import parse_match

__all__ = [
    "CLOSEST",
    "count_problem",
    "entry_facts",
    "find",
    "parse_bounds",
    "parse_count",
    "report",
    "verify",
]

CLOSEST = 3  # near misses shown in a failed verification


def entry_facts(entry: JournalEntry) -> Facts | None:
    """A journaled inference request as the predicates read it; None for anything else (other
    paths, bodies that were not JSON objects or were cut by the journal)."""
    if entry.endpoint not in ("chat", "image"):
        return None
    data = entry.json  # (parsed only for the inference requests)
    if not isinstance(data, Mapping):
        return None
    headers = entry.headers
    project_id = data.get("project_id")
    project = project_id if isinstance(project_id, str) else ""
    if entry.endpoint == "chat":
        raw = data.get("messages")
        messages = [m for m in raw if isinstance(m, Mapping)] if isinstance(raw, list) else []
        return Facts(
            "chat",
            messages=messages,
            project_id=project,
            json=data.get("json") is True,
            stream=data.get("stream") is True,
            headers=headers,
        )
    prompt, ratio = data.get("prompt"), data.get("aspect_ratio")
    return Facts(
        "image",
        prompt=prompt if isinstance(prompt, str) else None,
        aspect_ratio=ratio if isinstance(ratio, str) else None,
        project_id=project,
        headers=headers,
    )


def find(
    entries: Iterable[JournalEntry], pattern: Predicate, *, since: int = 0, limit: int | None = None
) -> list[JournalEntry]:
    """The entries after id ``since`` that ``pattern`` matches, oldest first, at most ``limit``."""
    found: list[JournalEntry] = []
    for entry in entries:
        if entry.id <= since:
            continue
        facts = entry_facts(entry)
        if facts is not None and pattern.match(facts):
            found.append(entry)
            if limit is not None and len(found) >= limit:
                break
    return found


def parse_count(value: object, name: str) -> int | None:
    """A count option (``times``, ``at_least``, ``at_most``, ``limit``, ``since``): None or an
    integer >= 0; ``FieldError`` naming it otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FieldError(name, f"must be an integer >= 0, not {value!r:.40}")
    return value


def parse_bounds(
    times: object = None, at_least: object = None, at_most: object = None
) -> tuple[int | None, int | None, int | None]:
    """``times``, ``at_least`` and ``at_most`` checked as counts and together: bounds that no
    count can meet (``at_least=3, at_most=1``) are a ``FieldError`` naming them, since a
    verification that can never pass is a mistake in the test, not in the app."""
    exact = parse_count(times, "times")
    low = parse_count(at_least, "at_least")
    high = parse_count(at_most, "at_most")
    if low is not None and high is not None and low > high:
        raise FieldError("at_least", f"is {low}, above at_most={high}: no count can pass")
    for name, bound, ok in (
        ("at_least", low, exact is None or low is None or exact >= low),
        ("at_most", high, exact is None or high is None or exact <= high),
    ):
        if not ok:
            raise FieldError("times", f"is {exact}, outside {name}={bound}: no count can pass")
    return exact, low, high


def count_problem(
    count: int, *, times: int | None = None, at_least: int | None = None, at_most: int | None = None
) -> str | None:
    """What is wrong with ``count`` requests (None: nothing); with no bound, at least one."""
    if times is None and at_least is None and at_most is None:
        at_least = 1
    if times is not None and count != times:
        return f"expected exactly {times}"
    if at_least is not None and count < at_least:
        return f"expected at least {at_least}"
    if at_most is not None and count > at_most:
        return f"expected at most {at_most}"
    return None


def _shown(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return repr(text[:limit] + ("..." if len(text) > limit else ""))


def _line(entry: JournalEntry) -> str:
    return f"#{entry.id} {entry.method} {entry.path} -> {entry.status} ({entry.source})"


def _misses(mismatches: Sequence[Mismatch]) -> list[str]:
    return [
        f"      {m.path}: expected {_shown(m.expected)}, came {_shown(m.actual)}"
        for m in mismatches
    ]


def report(
    entries: Sequence[JournalEntry],
    pattern: Predicate,
    matched: Sequence[JournalEntry],
    problem: str,
    match: Mapping[str, Any] | None = None,
) -> str:
    """The message of a failed verification: the count, the matches, the closest misses.
    The pattern is shown as the user wrote it (``match``) when given, else in its own form."""
    shown = pattern.to_json() if match is None else match
    wanted = json.dumps(shown, ensure_ascii=False, default=str)
    lines = [
        f"{problem} request(s) matching {wanted}; {len(matched)} of the {len(entries)}"
        " journaled request(s) matched"
    ]
    lines += [f"  matched {_line(entry)}" for entry in matched[:10]]
    hits = {entry.id for entry in matched}
    near: list[tuple[int, JournalEntry, list[Mismatch]]] = []
    for entry in entries:
        facts = entry_facts(entry)
        if facts is None or entry.id in hits:
            continue
        near.append((len(mismatches := pattern.explain(facts)), entry, mismatches))
    near.sort(key=lambda item: (item[0], -item[1].id))
    for _, entry, mismatches in near[:CLOSEST]:
        lines.append(f"  closest: {_line(entry)}")
        lines += _misses(mismatches)
    return "\n".join(lines)


def verify(
    entries: Sequence[JournalEntry],
    match: Mapping[str, Any] | Predicate,
    *,
    times: int | None = None,
    at_least: int | None = None,
    at_most: int | None = None,
) -> list[JournalEntry]:
    """The entries ``match`` selects, when their count meets the bounds (none given: at least
    one); else ``AssertionError`` with ``report``'s message. A bad match or bound is a
    ``FieldError`` naming it, before anything is counted."""
    given: Mapping[str, Any] | None = None
    if isinstance(match, Mapping):
        given, pattern = match, parse_match(match)
    else:
        pattern = match
    parse_bounds(times, at_least, at_most)
    matched = find(entries, pattern)
    problem = count_problem(len(matched), times=times, at_least=at_least, at_most=at_most)
    if problem is not None:
        raise AssertionError(report(entries, pattern, matched, problem, given))
    return matched
