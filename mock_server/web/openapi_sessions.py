"""The OpenAPI pieces of sessions: the ``/__admin/sessions`` routes, and every route's twin
under ``/sessions/{session}`` (see docs/sessions.md)."""

from __future__ import annotations

import copy
from typing import Any

from .openapi_parts import error_answer, json_answer

__all__ = ["SESSION_SCHEMA", "in_sessions", "session_admin_paths"]

_NAME_SCHEMA = {"type": "string", "pattern": "^[A-Za-z0-9_.\\-]{1,64}$"}
_SESSION_PARAMETER = {
    "name": "session",
    "in": "path",
    "required": True,
    "description": "The session: its own scripted steps, rate-limit buckets, chaos draws and"
    " journal view; begun on first use, forgotten when idle (--session-idle-seconds)",
    "schema": _NAME_SCHEMA,
}
_SESSION_LIST = {
    "type": "object",
    "properties": {
        "sessions": {"type": "array", "items": {"$ref": "#/components/schemas/Session"}},
        "max_sessions": {"type": "integer"},
        "idle_seconds": {"type": "integer"},
    },
}
SESSION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": _NAME_SCHEMA,
        "pending": {"type": "integer", "description": "scripted steps still waiting"},
        "requests": {"type": "integer", "description": "its entries in the journal"},
        "idle_seconds": {"type": "number"},
    },
}


def session_admin_paths(workers: int, admin_refusal: int | None) -> dict[str, Any]:
    """``GET /__admin/sessions``, ``GET`` and ``DELETE /__admin/sessions/{name}``, as a server
    with ``workers`` whose admin API refuses with ``admin_refusal`` (401, 403 or None) says."""
    name = {"name": "name", "in": "path", "required": True, "schema": _NAME_SCHEMA}
    refused = {
        "400": error_answer("not a session name, or a query parameter (these take none)"),
        "404": error_answer("no live session of that name"),
    }
    if admin_refusal == 401:
        refused["401"] = error_answer(
            "admin API from a non-loopback address without the admin token"
        )
    elif admin_refusal == 403:
        refused["403"] = error_answer("admin API from a non-loopback address, and no --admin-token")
    if workers > 1:
        refused["409"] = error_answer("--workers N > 1: each process has its own sessions")
    one = json_answer({"$ref": "#/components/schemas/Session"}, "The session")
    return {
        "/__admin/sessions": {
            "get": {
                "summary": "The live sessions, least recently used first (admin)",
                "responses": {"200": json_answer(_SESSION_LIST, "Live sessions"), **refused},
            }
        },
        "/__admin/sessions/{name}": {
            "get": {
                "summary": "One live session (admin)",
                "parameters": [name],
                "responses": {"200": one, **refused},
            },
            "delete": {
                "summary": "End a session: its steps and journal view are forgotten (admin)",
                "parameters": [name],
                "responses": {"200": json_answer({"type": "object"}, "Ended"), **refused},
            },
        },
    }


def in_sessions(paths: dict[str, Any]) -> dict[str, Any]:
    """``paths`` and, for each, its twin under ``/sessions/{session}``."""
    twins: dict[str, Any] = {}
    for path, item in paths.items():
        twin = copy.deepcopy(item)
        for operation in twin.values():
            operation["parameters"] = [_SESSION_PARAMETER, *operation.get("parameters", [])]
            operation["responses"].setdefault(
                "503", error_answer("--max-sessions sessions are live and none is idle")
            )
            if path.startswith("/__admin/"):  # reading a session does not begin one
                operation["responses"].setdefault(
                    "404", error_answer("no live session of that name")
                )
        twins["/sessions/{session}" + path] = twin
    return {**paths, **twins}
