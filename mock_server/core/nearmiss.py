"""Near misses, with no I/O: the stubs that came closest to answering a request, and why not.

Read by ``GET /__admin/requests/unmatched`` (against the stubs in force when it is read) and by
``--unmatched 404`` (when the request comes). Bounded: at most ``MAX_SCANNED`` stubs are
explained per request, the ``CLOSEST`` kept (fewest failed predicates first, then the order in
which stubs win), and every value shown cut to ``SHOWN`` characters (``SHOWN_ITEMS`` items).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from .matching import Facts, Mismatch
from .stubs import Stub
from .stubset import StubSet

__all__ = [
    "CLOSEST",
    "MAX_SCANNED",
    "SHOWN",
    "SHOWN_ITEMS",
    "NearMiss",
    "bounded",
    "near_misses",
    "unmatched_body",
]

CLOSEST = 3
MAX_SCANNED = 1000
SHOWN = 200
SHOWN_ITEMS = 10


def bounded(value: Any) -> Any:
    """``value`` (JSON) small enough to show: texts cut to ``SHOWN`` characters (ending in
    "..."), lists and objects to their first ``SHOWN_ITEMS`` items (then "...")."""
    if isinstance(value, str):
        return value if len(value) <= SHOWN else value[:SHOWN] + "..."
    if isinstance(value, (list, tuple)):
        items = [bounded(item) for item in value[:SHOWN_ITEMS]]
        return [*items, "..."] if len(value) > SHOWN_ITEMS else items
    if isinstance(value, dict):
        shown = {str(k): bounded(v) for k, v in islice(value.items(), SHOWN_ITEMS)}
        if len(value) > SHOWN_ITEMS:
            shown["..."] = f"{len(value) - SHOWN_ITEMS} more"
        return shown
    return value


@dataclass(frozen=True)
class NearMiss:
    """A stub that did not match a request, and each predicate of it that failed."""

    stub: Stub
    mismatches: Sequence[Mismatch]

    def to_json(self) -> dict[str, Any]:
        return {
            "stub": {"id": self.stub.id, "name": self.stub.name},
            "mismatches": [
                {"path": m.path, "expected": bounded(m.expected), "actual": bounded(m.actual)}
                for m in self.mismatches
            ],
        }


def near_misses(
    stubsets: Iterable[StubSet], facts: Facts, closest: int = CLOSEST
) -> list[NearMiss]:
    """The ``closest`` stubs of ``stubsets`` (in the order they are consulted) for ``facts``'
    endpoint, each with the predicates that failed; at most ``MAX_SCANNED`` are looked at."""
    scanned: list[tuple[tuple[int, int, int, int], NearMiss]] = []
    for order, stubs in enumerate(stubsets):
        mine = (s for s in stubs.list() if s.endpoint in (facts.endpoint, "any"))
        for stub in islice(mine, MAX_SCANNED - len(scanned)):
            mismatches = stub.match.explain(facts)
            rank = (len(mismatches), order, stub.priority, -stub.seq)
            scanned.append((rank, NearMiss(stub, mismatches)))
    scanned.sort(key=lambda item: item[0])
    return [miss for _, miss in scanned[:closest]]


def unmatched_body(misses: Sequence[NearMiss]) -> bytes:
    """The JSON 404 of ``--unmatched 404``: the mock's flat error, plus the near misses."""
    if misses:
        names = ", ".join(repr(m.stub.name or m.stub.id) for m in misses)
        message = f"no stub, scripted step or directive arranged this request; closest: {names}"
    else:
        message = "no stub, scripted step or directive arranged this request (no stub in force)"
    message += " (the mock runs --unmatched 404)"
    body = {"message": message, "field": None, "near_misses": [m.to_json() for m in misses]}
    return json.dumps(body).encode("utf-8")
