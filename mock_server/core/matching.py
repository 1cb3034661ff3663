"""Request patterns: small predicate objects that say whether a request matches, and why not.

One implementation serves stubs (which answer a request) and verification (which counts them).
A predicate has ``match(facts) -> bool``, ``explain(facts)`` (the mismatches, each a path with
what was expected and what came; empty exactly when it matches) and ``to_json()``, the form
``parse_match`` reads back. ``Facts`` is the request as the predicates see it.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from websim_core.protocol import content_text

__all__ = [
    "FIELDS",
    "All",
    "AnyOf",
    "Facts",
    "Flag",
    "Mismatch",
    "Not",
    "Predicate",
    "Roles",
    "Text",
    "TextTest",
    "Turns",
]

# The text fields a text predicate reads; a header is "headers.<name>".
FIELDS = ("last_user_message", "system", "any_message", "prompt", "project_id")


class Mismatch(NamedTuple):
    """Why a request did not match: at ``path``, ``expected`` what, and ``actual`` came."""

    path: str
    expected: Any
    actual: Any


class Facts:
    """A parsed request as the predicates read it; each field worked out on first use."""

    def __init__(
        self,
        endpoint: str,
        *,
        messages: Sequence[Mapping[str, Any]] = (),
        prompt: str | None = None,
        aspect_ratio: str | None = None,
        project_id: str = "",
        json: bool = False,
        stream: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.messages = messages
        self.prompt = prompt
        self.aspect_ratio = aspect_ratio
        self.project_id = project_id
        self.json = json
        self.stream = stream
        self.headers: Mapping[str, str] = headers if headers is not None else {}

    @functools.cached_property
    def pairs(self) -> list[tuple[str, str]]:
        """``(role, text)`` per message."""
        return [(str(m.get("role")), content_text(m.get("content"))) for m in self.messages]

    @functools.cached_property
    def last_user_message(self) -> str | None:
        # Read without ``pairs``: the usual stub reads only this field, so the others wait.
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return content_text(message.get("content"))
        return None

    @functools.cached_property
    def system(self) -> str | None:
        """The system messages' texts, one per line; None without any."""
        texts = [text for role, text in self.pairs if role == "system"]
        return "\n".join(texts) if texts else None

    @functools.cached_property
    def turns(self) -> int:
        """How many user messages the conversation has."""
        return sum(1 for role, _ in self.pairs if role == "user")

    @functools.cached_property
    def roles(self) -> list[str]:
        return [role for role, _ in self.pairs]

    def text(self, name: str) -> str | None:
        """A text field by name (``headers.x-app`` for a header); None when the request has none."""
        if name.startswith("headers."):
            return self.headers.get(name[8:])
        if name == "prompt":
            return self.prompt
        if name == "project_id":
            return self.project_id
        if name == "last_user_message":
            return self.last_user_message
        if name == "system":
            return self.system
        raise KeyError(name)  # any_message is a list: Text reads it itself


class Predicate(Protocol):
    """What every pattern object does."""

    def match(self, facts: Facts) -> bool: ...

    def explain(self, facts: Facts) -> list[Mismatch]: ...

    def to_json(self) -> dict[str, Any]: ...


# --- text tests ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextTest:
    """One test on a text: ``equals``, ``contains``, ``regex`` (a search) or ``glob`` (the whole
    text, ``fnmatch`` rules), optionally ignoring case."""

    op: str
    value: str
    ignore_case: bool = False
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.op == "regex" and self._regex is None:
            flags = re.IGNORECASE if self.ignore_case else 0
            object.__setattr__(self, "_regex", re.compile(self.value, flags))
        elif self.op == "glob" and self._regex is None:
            value = self.value.casefold() if self.ignore_case else self.value
            object.__setattr__(self, "_regex", re.compile(fnmatch.translate(value)))

    def test(self, text: str) -> bool:
        op, value = self.op, self.value
        if op == "regex":
            assert self._regex is not None
            return self._regex.search(text) is not None
        if self.ignore_case:
            text = text.casefold()
            value = value.casefold()
        if op == "contains":
            return value in text
        if op == "equals":
            return text == value
        assert self._regex is not None
        return self._regex.match(text) is not None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {self.op: self.value}
        if self.ignore_case:
            out["ignore_case"] = True
        return out


@dataclass(frozen=True)
class Text:
    """A text field passes a test; ``any_message`` holds when any message's text does."""

    name: str
    test: TextTest

    def match(self, facts: Facts) -> bool:
        if self.name == "any_message":
            return any(self.test.test(text) for _, text in facts.pairs)
        text = facts.text(self.name)
        return text is not None and self.test.test(text)

    def explain(self, facts: Facts) -> list[Mismatch]:
        if self.match(facts):
            return []
        if self.name == "any_message":
            actual: Any = [text for _, text in facts.pairs]
        else:
            actual = facts.text(self.name)
        return [Mismatch(self.name, self.test.to_json(), actual)]

    def to_json(self) -> dict[str, Any]:
        if self.name.startswith("headers."):
            return {"headers": {self.name[8:]: self.test.to_json()}}
        return {self.name: self.test.to_json()}


# --- other fields --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flag:
    """A field equals a value: ``endpoint``, ``json``, ``stream``, ``aspect_ratio``."""

    name: str
    value: Any

    def _actual(self, facts: Facts) -> Any:
        return getattr(facts, self.name)

    def match(self, facts: Facts) -> bool:
        if self.name == "endpoint" and self.value == "any":
            return True
        return bool(self._actual(facts) == self.value)

    def explain(self, facts: Facts) -> list[Mismatch]:
        return [] if self.match(facts) else [Mismatch(self.name, self.value, self._actual(facts))]

    def to_json(self) -> dict[str, Any]:
        return {self.name: self.value}


@dataclass(frozen=True)
class Turns:
    """The number of user messages is within ``low..high`` (None: unbounded)."""

    low: int | None
    high: int | None

    def match(self, facts: Facts) -> bool:
        turns = facts.turns
        return (self.low is None or turns >= self.low) and (self.high is None or turns <= self.high)

    def explain(self, facts: Facts) -> list[Mismatch]:
        return (
            [] if self.match(facts) else [Mismatch("turns", self.to_json()["turns"], facts.turns)]
        )

    def to_json(self) -> dict[str, Any]:
        if self.low is not None and self.low == self.high:
            return {"turns": self.low}
        bounds = {k: v for k, v in (("min", self.low), ("max", self.high)) if v is not None}
        return {"turns": bounds}


@dataclass(frozen=True)
class Roles:
    """The conversation's roles, in order, are exactly these."""

    roles: tuple[str, ...]

    def match(self, facts: Facts) -> bool:
        return tuple(facts.roles) == self.roles

    def explain(self, facts: Facts) -> list[Mismatch]:
        return [] if self.match(facts) else [Mismatch("roles", list(self.roles), facts.roles)]

    def to_json(self) -> dict[str, Any]:
        return {"roles": list(self.roles)}


# --- combinators ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class All:
    """Every part holds (no part: always)."""

    parts: tuple[Predicate, ...]

    def match(self, facts: Facts) -> bool:
        return all(part.match(facts) for part in self.parts)

    def explain(self, facts: Facts) -> list[Mismatch]:
        return [miss for part in self.parts for miss in part.explain(facts)]

    def to_json(self) -> dict[str, Any]:
        return {"all": [part.to_json() for part in self.parts]}


@dataclass(frozen=True)
class AnyOf:
    """At least one part holds (no part: never)."""

    parts: tuple[Predicate, ...]

    def match(self, facts: Facts) -> bool:
        return any(part.match(facts) for part in self.parts)

    def explain(self, facts: Facts) -> list[Mismatch]:
        if self.match(facts):
            return []
        return [
            Mismatch("any", [part.to_json() for part in self.parts], "none of them held"),
            *(miss for part in self.parts for miss in part.explain(facts)),
        ]

    def to_json(self) -> dict[str, Any]:
        return {"any": [part.to_json() for part in self.parts]}


@dataclass(frozen=True)
class Not:
    """The part does not hold."""

    part: Predicate

    def match(self, facts: Facts) -> bool:
        return not self.part.match(facts)

    def explain(self, facts: Facts) -> list[Mismatch]:
        return [] if self.match(facts) else [Mismatch("not", self.part.to_json(), "it held")]

    def to_json(self) -> dict[str, Any]:
        return {"not": self.part.to_json()}
