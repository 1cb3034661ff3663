"""The OpenAPI description of the admin API (``/__admin/...``): the journal and its reads,
reset, scripted scenarios and stubs, as the server was configured (its guard, its workers)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core.journal_entry import ENDPOINTS, SOURCES
from .admin_journal import MAX_UNMATCHED_PAGE, UNMATCHED_PAGE
from .openapi_parts import DocFacts, body_errors, error_answer, json_answer, plain_errors
from .openapi_parts import request_body as _body
from .openapi_schemas import scenario_schema, stub_schema
from .paging import MAX_PAGE_SIZE, MAX_SINCE, PAGE_SIZE

__all__ = ["admin_paths"]

_JOURNAL = json_answer({"$ref": "#/components/schemas/Journal"}, "A page of the journal")
_OBJECT = {"type": "object"}


def _counts(*names: str) -> dict[str, Any]:
    integer = {"type": "integer", "minimum": 0}
    return {"type": "object", "required": list(names), "properties": dict.fromkeys(names, integer)}


_NEAR_MISSES = {
    "type": "object",
    "properties": {
        "requests": {
            "type": "array",
            "items": {
                "type": "object",
                "description": "a journal entry (as in the Journal) with its near_misses",
                "properties": {
                    "id": {"type": "integer"},
                    "near_misses": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "stub": {"$ref": "#/components/schemas/StubRef"},
                                "mismatches": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["path", "expected", "actual"],
                                        "properties": {"path": {"type": "string"}},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
        "count": {"type": "integer"},
        "next": {"type": ["integer", "null"]},
    },
}

# Per operation: summary and its 200.
_ADMIN: dict[str, tuple[str, dict[str, Any]]] = {
    "get_requests": ("The journal: requests received, oldest first, a page at a time", _JOURNAL),
    "find": ("The journaled requests a match selects, a page at a time", _JOURNAL),
    "count": ("How many journaled requests a match selects", json_answer(_counts("count"), "")),
    "unmatched": (
        "The requests no stub matched while stubs were in force, each with the closest stubs",
        json_answer(_NEAR_MISSES, "A page of unmatched requests"),
    ),
    "reset": (
        "Empty the journal and the scripts, put back the standing stubs",
        json_answer(
            {"type": "object", "required": ["reset"], "properties": {"reset": {"const": True}}},
            "Done",
        ),
    ),
    "add_scenario": (
        "Queue scripted answers for the next matching requests",
        json_answer(_counts("queued", "pending"), "Queued"),
    ),
    "add_stubs": (
        "Put stubs in force: one or a list, all or none; answers their ids",
        json_answer(
            {
                "type": "object",
                "required": ["ids", "count"],
                "properties": {
                    "ids": {"type": "array", "items": {"type": "string"}},
                    "count": {"type": "integer", "minimum": 0},
                },
            },
            "Added",
        ),
    ),
    "stubs": ("The stubs in force, with their ids", json_answer(_OBJECT, "The stubs")),
    "delete_stubs": ("Remove every stub", json_answer(_OBJECT, "Removed")),
    "delete_stub": ("Remove one stub by its id", json_answer(_OBJECT, "Removed")),
    "scenarios": (
        "The steps still waiting, in order",
        json_answer(
            {
                "type": "object",
                "required": ["pending"],
                "properties": {"pending": {"type": "array", "items": _OBJECT}},
            },
            "Pending steps",
        ),
    ),
}
_WHO = {
    401: "called from a non-loopback address without 'Authorization: Bearer <admin token>'",
    403: "called from a non-loopback address (this server has no --admin-token)",
}
_BAD_MATCH = (
    "invalid JSON, an unknown key, a match that is not valid (the field names where), a"
    " limit or since that is not an integer in range, or a query parameter (it takes none)"
)


def _find_body(*keys: str) -> dict[str, Any]:
    properties = {
        "match": stub_schema()["properties"]["match"],
        "limit": {"type": "integer", "minimum": 0, "maximum": MAX_PAGE_SIZE, "default": PAGE_SIZE},
        "since": {"type": "integer", "minimum": 0, "maximum": MAX_SINCE, "default": 0},
    }
    chosen = {key: properties[key] for key in keys}
    return {"type": "object", "additionalProperties": False, "properties": chosen}


def _stubs_body() -> dict[str, Any]:
    stub = stub_schema()
    return {"oneOf": [stub, {"type": "array", "items": stub}]}


_BODIES: dict[str, Callable[[], dict[str, Any]]] = {
    "add_scenario": scenario_schema,
    "add_stubs": _stubs_body,
    "find": lambda: _find_body("match", "limit", "since"),
    "count": lambda: _find_body("match", "since"),
}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": schema}


def _page(default: int, most: int) -> list[dict[str, Any]]:
    """``since`` and ``limit``: the admin reads come a page at a time."""
    return [
        _query(
            "since",
            "Only items with an id above this one (the page's 'next')",
            {"type": "integer", "minimum": 0, "maximum": MAX_SINCE, "default": 0},
        ),
        _query(
            "limit",
            "Items per page (a page also ends after 16 MiB of items; 'next' goes on)",
            {"type": "integer", "minimum": 0, "maximum": most, "default": default},
        ),
    ]


_PARAMETERS: dict[str, list[dict[str, Any]]] = {
    "get_requests": [
        *_page(PAGE_SIZE, MAX_PAGE_SIZE),
        _query("endpoint", "Only this endpoint's requests", {"enum": list(ENDPOINTS)}),
        _query("source", "Only requests answered so", {"enum": list(SOURCES)}),
    ],
    "scenarios": _page(PAGE_SIZE, MAX_PAGE_SIZE),
    "unmatched": _page(UNMATCHED_PAGE, MAX_UNMATCHED_PAGE),
    "delete_stub": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
}
_UNKNOWN_QUERY = "a query parameter it does not take (the field names it)"
_REFUSALS: dict[str, dict[str, Any]] = {
    "get_requests": {
        "400": error_answer(f"since, limit, endpoint or source is not valid, or {_UNKNOWN_QUERY}")
    },
    "scenarios": {
        "400": error_answer(f"since or limit is not an integer in range, or {_UNKNOWN_QUERY}")
    },
    "unmatched": {
        "400": error_answer(f"since or limit is not an integer in range, or {_UNKNOWN_QUERY}")
    },
    "delete_stub": {"404": error_answer("no stub has this id")},
}


def _responses(facts: DocFacts, name: str) -> dict[str, Any]:
    answer = _ADMIN[name][1]
    if facts.workers > 1:
        # Each worker process has its own scripts and no journal: every answer would be wrong.
        message = (
            f"this server runs --workers {facts.workers}: scripted scenarios and"
            " the journal need --workers 1"
        )
        return {"400": error_answer(_UNKNOWN_QUERY), "409": error_answer(message)}
    if name in ("find", "count"):
        return {"200": answer, **body_errors(facts, _BAD_MATCH)}
    if name in _BODIES:
        bad = (
            "invalid JSON, an unknown key, a bad step or stub (the field names which), or a"
            " query parameter (it takes none)"
        )
        return {"200": answer, **body_errors(facts, bad)}
    return {"200": answer, "400": error_answer(_UNKNOWN_QUERY), **_REFUSALS.get(name, {})}


def _admin(facts: DocFacts, name: str) -> dict[str, Any]:
    summary = _ADMIN[name][0]
    if facts.admin_refusal is not None:
        summary += " (loopback clients" + (
            ", or the admin token)" if facts.admin_refusal == 401 else ")"
        )
    operation: dict[str, Any] = {"summary": summary}
    if name in _BODIES:
        operation["requestBody"] = _body(_BODIES[name]())
    if name in ("find", "count"):  # every key is optional: an empty body means {}
        operation["requestBody"]["required"] = False
        operation["requestBody"]["description"] = "Every key is optional; an empty body is {}"
    if name in _PARAMETERS:
        operation["parameters"] = _PARAMETERS[name]
    responses = _responses(facts, name)
    if facts.admin_refusal is not None:
        responses[str(facts.admin_refusal)] = error_answer(_WHO[facts.admin_refusal])
    return {**operation, "responses": {**plain_errors(), **responses}}


def admin_paths(facts: DocFacts) -> dict[str, Any]:
    """The admin API: the journal and its reads, reset, scripted scenarios and stubs."""
    return {
        "/__admin/requests": {"get": _admin(facts, "get_requests")},
        "/__admin/requests/find": {"post": _admin(facts, "find")},
        "/__admin/requests/count": {"post": _admin(facts, "count")},
        "/__admin/requests/unmatched": {"get": _admin(facts, "unmatched")},
        "/__admin/reset": {"post": _admin(facts, "reset")},
        "/__admin/scenarios": {
            "post": _admin(facts, "add_scenario"),
            "get": _admin(facts, "scenarios"),
        },
        "/__admin/stubs": {
            "post": _admin(facts, "add_stubs"),
            "get": _admin(facts, "stubs"),
            "delete": _admin(facts, "delete_stubs"),
        },
        "/__admin/stubs/{id}": {"delete": _admin(facts, "delete_stub")},
    }
