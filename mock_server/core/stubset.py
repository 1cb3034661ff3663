"""The stubs in force and which one answers a request: lowest priority, then the newest.

Selection must not cost a scan of every stub: each stub whose match requires a literal text
in a field (``equals``, ``contains``, or a literal run a ``regex`` cannot match without) is
indexed under the rarest three-character piece of that literal. A request looks up the pieces
of its own field texts, so only the stubs that could match are tested, in precedence order.
"""

from __future__ import annotations

import builtins
import itertools
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from .matching import All, Facts, Predicate, Text
from .stubs import Stub

__all__ = ["StubSet", "required_literal", "requirement"]

_GRAM = 3
# A regex run of these characters is literal text (nothing in it is special).
_PLAIN = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-,;:'\"=<>/@#%&!~`"
)
_QUANTIFIERS = frozenset("*?+{")


def required_literal(pattern: str) -> str:
    """A text every string the regex ``pattern`` matches (searches) contains; "" when unsure.

    Conservative: any alternation or ``(?`` group gives up; only runs of plain characters
    outside groups and classes count, minus a last character a quantifier makes optional.
    """
    if "|" in pattern or "(?" in pattern:
        return ""
    best, run, depth, i = "", "", 0, 0
    in_class = False
    while i < len(pattern):
        char = pattern[i]
        plain = char in _PLAIN and depth == 0 and not in_class
        if plain:
            run += char
            i += 1
            continue
        if run:
            if char in _QUANTIFIERS:
                run = run[:-1]
            best = max(best, run, key=len)
            run = ""
        if char == "\\":
            i += 2
            while i < len(pattern) and pattern[i].isalnum():  # \x41, \u0041, \12: not literal
                i += 1
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if pattern[i + 1 : i + 2] == "^":
                i += 1
            if pattern[i + 1 : i + 2] == "]":  # "[]...]", "[^]...]": that ] is a member
                i += 1
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        i += 1
    return max(best, run, key=len)


def requirement(match: Predicate) -> tuple[str, str, bool] | None:
    """``(field, literal, ignore_case)``: a text the field must contain for ``match`` to hold
    (the longest one found); None when there is none."""
    parts = match.parts if isinstance(match, All) else (match,)
    best: tuple[str, str, bool] | None = None
    for part in parts:
        if not isinstance(part, Text) or part.name == "any_message":
            continue
        test = part.test
        if test.op in ("equals", "contains"):
            literal = test.value
        elif test.op == "regex" and not test.ignore_case:
            # (Not with ignore_case: re's case rules are not casefold's, "i" matches the dotless "\u0131".)
            literal = required_literal(test.value)
        else:
            continue
        if test.ignore_case:
            literal = literal.casefold()
        if best is None or len(literal) > len(best[1]):
            best = (part.name, literal, test.ignore_case)
    return best


def _grams(text: str) -> set[str]:
    return {text[i : i + _GRAM] for i in range(len(text) - _GRAM + 1)}


@dataclass
class _Index:
    """One endpoint's stubs: the indexed ones by (field, folded) then piece, and the others."""

    tables: dict[tuple[str, bool], dict[str, list[Stub]]] = field(default_factory=dict)
    unindexed: list[Stub] = field(default_factory=list)

    def candidates(self, facts: Facts) -> list[Stub]:
        found = list(self.unindexed)
        for (name, folded), table in self.tables.items():
            text = facts.text(name)
            if text is None:
                continue  # the field is required and missing: none of these can match
            if folded:
                text = text.casefold()
            if len(text) - _GRAM < len(table):
                # Set intersection runs in C: one Python step per piece found, not per piece.
                for gram in _grams(text) & table.keys():
                    found += table[gram]
            else:
                for gram, bucket in table.items():
                    if gram in text:
                        found += bucket
        return found


def _order(stub: Stub) -> tuple[int, int]:
    return stub.priority, -stub.seq


def _build(stubs: Iterable[Stub]) -> _Index:
    index = _Index()
    keyed: list[tuple[Stub, tuple[str, bool], str]] = []
    for stub in stubs:
        need = requirement(stub.match)
        if need is None or len(need[1]) < _GRAM:
            index.unindexed.append(stub)
        else:
            keyed.append((stub, (need[0], need[2]), need[1]))
    counts = Counter(gram for _, _, literal in keyed for gram in _grams(literal))
    for stub, key, literal in keyed:
        rarest = min(_grams(literal), key=lambda gram: (counts[gram], gram))
        index.tables.setdefault(key, {}).setdefault(rarest, []).append(stub)
    return index


class StubSet:
    """The stubs in force: add, remove, clear, list, and ``select`` the one that answers.

    ``count`` is how many there are (0: the decision skips stubs altogether). The ids it gives
    start with ``prefix`` (a session's name: its stubs' ids never name a global one).
    """

    __slots__ = ("_ids", "_indexes", "_seq", "_stubs", "count", "prefix")

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self._stubs: dict[str, Stub] = {}
        self._indexes: dict[str, _Index] = {}
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)
        self.count = 0

    def add(self, stubs: Iterable[Stub]) -> list[str]:
        """Put stubs in force (already parsed: all or none); returns their ids."""
        ids = []
        for stub in stubs:
            stub.seq = next(self._seq)
            stub.id = stub.id or f"{self.prefix}stub-{next(self._ids)}"
            stub.answered = 0
            self._stubs[stub.id] = stub
            ids.append(stub.id)
        self._changed()
        return ids

    def replace(self, stubs: Iterable[Stub]) -> list[str]:
        """The whole set becomes ``stubs`` (a reloaded file)."""
        self._stubs.clear()
        return self.add(stubs)

    def remove(self, stub_id: str) -> bool:
        """Take one stub out; False when there is none with that id."""
        found = self._stubs.pop(stub_id, None) is not None
        if found:
            self._changed()
        return found

    def clear(self) -> None:
        self._stubs.clear()
        self._changed()

    def list(self) -> builtins.list[Stub]:
        """The stubs in force, in the order they were added."""
        return sorted(self._stubs.values(), key=lambda stub: stub.seq)

    def _changed(self) -> None:
        self._indexes.clear()  # rebuilt on the next request: adding many costs one build
        self.count = len(self._stubs)

    def _index(self, endpoint: str) -> _Index:
        index = self._indexes.get(endpoint)
        if index is None:
            mine = (s for s in self._stubs.values() if s.endpoint in (endpoint, "any"))
            index = self._indexes[endpoint] = _build(mine)
        return index

    def candidates(self, facts: Facts) -> builtins.list[Stub]:
        """The stubs that could match this request (the others cannot), in precedence order."""
        found = self._index(facts.endpoint).candidates(facts)
        found.sort(key=_order)
        return found

    def select(self, facts: Facts) -> Stub | None:
        """The stub that answers this request (counted, and retired after its ``times``)."""
        for stub in self.candidates(facts):
            if stub.match.match(facts):
                stub.answered += 1
                if stub.times is not None and stub.answered >= stub.times:
                    self.remove(stub.id)
                return stub
        return None
