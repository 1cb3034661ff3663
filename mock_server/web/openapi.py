"""The OpenAPI 3.1 description the mock serves at ``GET /openapi.json``: every public and admin route.

It describes the server as configured (``--strict-ids``, ``--workers``, ``--directives``, the
admin guard, the limits), so that a tool generating requests from it (schemathesis) finds what
the server really accepts and answers. Built from one small function per route, so a test can
check that each route has an entry and a reader can find each one; ``openapi_body`` keeps one
serialised document per distinct description (building one is most of an app's build time).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any

from websim_core.routing import CHAT_PATH, IMAGE_PATH

from ..core.config import MockConfig
from .openapi_schemas import (
    aspect_ratio_schema,
    components,
    message_schema,
    not_blank_schema,
    project_id_schema,
    scenario_schema,
    sse_event_schema,
    stub_schema,
)
from .openapi_sessions import SESSION_SCHEMA, in_sessions, session_admin_paths

__all__ = ["openapi_body", "openapi_spec"]

_ERROR = {"$ref": "#/components/schemas/Error"}


@dataclasses.dataclass(frozen=True)
class _Facts:
    """What of a ``MockConfig`` the document depends on (the cache key: seeds do not matter)."""

    strict_ids: bool
    directives: bool
    workers: int
    max_body_bytes: int
    rate_limited: bool
    chaos: bool
    admin_refusal: int | None  # 401 (token), 403 (loopback only) or None (anyone may)

    @classmethod
    def of(cls, config: MockConfig) -> _Facts:
        refusal = None
        if config.admin_loopback_only:
            refusal = 401 if config.admin_token is not None else 403
        return cls(
            strict_ids=config.strict_ids,
            directives=config.directives,
            workers=config.workers,
            max_body_bytes=config.max_body_bytes,
            rate_limited=config.rate_limit is not None,
            chaos=config.chaos > 0,
            admin_refusal=refusal,
        )


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ERROR, description)


# Any route: aiohttp's parser answers before routing.
_BAD_HTTP = "the request is not valid HTTP/1.1"
_COMMON = {
    "431": _error(
        "the request line or a header line is longer than 8190 bytes, or there are"
        " more than 128 header lines"
    ),
}


def _body_errors(facts: _Facts, bad_body: str) -> dict[str, Any]:
    """The answers of a route that reads a JSON body, before its handler looks at it."""
    return {
        "400": _error(f"{bad_body}; or {_BAD_HTTP}"),
        "413": _error(f"the body (decompressed) is larger than {facts.max_body_bytes} bytes"),
        "415": _error("a Content-Encoding other than gzip, deflate or identity"),
        **_COMMON,
    }


def _plain_errors(**extra: str) -> dict[str, Any]:
    return {"400": _error(_BAD_HTTP), **{k: _error(v) for k, v in extra.items()}, **_COMMON}


def _request_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _inference_answers(facts: _Facts, answer: dict[str, Any]) -> dict[str, Any]:
    """The answers of an inference route: its own, the refusals, and anything a script plays."""
    bad = "malformed request: invalid JSON, a missing or wrongly typed field, a bad project ID"
    if facts.strict_ids:
        bad += " (this server runs --strict-ids: canonical IDs only)"
    if facts.directives:
        bad += ", or a message that starts like an in-band directive but is not a valid one"
    rate = {
        "description": "Rate limited (this server runs --rate-limit): come back after"
        " Retry-After seconds",
        "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
        "content": {"application/json": {"schema": _ERROR}},
    }
    scripted = (
        "Whatever a scripted step (POST /__admin/scenarios)"
        + (", an in-band directive" if facts.directives else "")
        + (", or chaos (this server runs --chaos)" if facts.chaos else "")
        + " arranges: any status 200-599 with its built-in body or the step's own body and"
        " headers. A fault step may also answer nothing at all (a reset or closed connection,"
        " bytes that are not HTTP, a truncated body)."
    )
    return {
        "200": answer,
        **_body_errors(facts, bad),
        "405": _error("wrong method (the Allow header names the right one)"),
        **({"429": rate} if facts.rate_limited else {}),
        "default": {"description": scripted, "content": {"*/*": {"schema": {}}}},
    }


def _chat_path(facts: _Facts) -> dict[str, Any]:
    body = {
        "type": "object",
        "required": ["project_id", "messages"],
        "properties": {
            "project_id": project_id_schema("chat", strict=facts.strict_ids),
            "messages": {"type": "array", "minItems": 1, "items": message_schema()},
            "stream": {"type": "boolean"},
            "json": {
                "type": "boolean",
                "description": "JSON output mode: the content is a JSON document (Websim's"
                " websim.chat.completions.create({messages, json: true}))",
            },
        },
    }
    answer = {
        "description": 'The answer: JSON {"content": ...}, or with "stream": true a'
        ' text/event-stream of data: {"content": ...} events ending with data: [DONE]',
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["content"],
                    "properties": {"content": {"type": "string"}},
                }
            },
            # OpenAPI 3.1 has no itemSchema: tools read this as the schema of one event.
            "text/event-stream": {"schema": sse_event_schema()},
        },
    }
    return {
        "post": {
            "summary": "Chat completion",
            "requestBody": _request_body(body),
            "responses": _inference_answers(facts, answer),
        }
    }


def _image_path(facts: _Facts) -> dict[str, Any]:
    body = {
        "type": "object",
        "required": ["project_id", "prompt"],
        "properties": {
            "project_id": project_id_schema("image", strict=facts.strict_ids),
            "prompt": not_blank_schema("What to draw; not blank."),
            "aspect_ratio": aspect_ratio_schema(),
        },
    }
    url = {
        "type": "object",
        "required": ["url"],
        "properties": {"url": {"type": "string", "format": "uri"}},
    }
    return {
        "post": {
            "summary": "Image generation",
            "description": "Answers a URL on this server; same prompt, ratio and"
            " seed give the same URL and bytes.",
            "requestBody": _request_body(body),
            "responses": _inference_answers(facts, _json(url, "Where the image is")),
        }
    }


def _image_file_path() -> dict[str, Any]:
    return {
        "get": {
            "summary": "A generated image (PNG, longer side 256 px)",
            "parameters": [
                {
                    "name": "name",
                    "in": "path",
                    "required": True,
                    "schema": {
                        "type": "string",
                        "pattern": "^[0-9a-f]{16}-[0-9]+x[0-9]+\\.png$",
                    },
                }
            ],
            "responses": {
                "200": {
                    "description": "The image",
                    "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
                },
                **_plain_errors(**{"404": "no such image (each side must be 1..256 px)"}),
            },
        }
    }


def _health_path(facts: _Facts) -> dict[str, Any]:
    properties: dict[str, Any] = {"status": {"const": "ok"}}
    required = ["status"]
    text = '{"status": "ok"}'
    if facts.workers > 1:
        properties["worker"] = {"type": "integer", "minimum": 0, "maximum": facts.workers - 1}
        properties["workers"] = {"const": facts.workers}
        required += ["worker", "workers"]
        text += ', which of the --workers processes answered ("worker") and how many there are'
    schema = {"type": "object", "required": required, "properties": properties}
    return {
        "get": {
            "summary": "Liveness",
            "responses": {"200": _json(schema, text), **_plain_errors()},
        }
    }


def _document_path() -> dict[str, Any]:
    return {
        "get": {
            "summary": "This document",
            "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1"), **_plain_errors()},
        }
    }


def _admin_paths(facts: _Facts) -> dict[str, Any]:
    """The admin API: the journal, reset, scripted scenarios and stubs."""
    return {
        "/__admin/requests": {"get": _admin(facts, "get_requests")},
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


_ADMIN = {
    "get_requests": (
        "The journal: requests received, oldest first",
        _json({"$ref": "#/components/schemas/Journal"}, "The journal"),
    ),
    "reset": (
        "Empty the journal and the scripts, put back the standing stubs",
        _json(
            {"type": "object", "required": ["reset"], "properties": {"reset": {"const": True}}},
            "Done",
        ),
    ),
    "add_scenario": (
        "Queue scripted answers for the next matching requests",
        _json(
            {
                "type": "object",
                "required": ["queued", "pending"],
                "properties": {
                    "queued": {"type": "integer", "minimum": 0},
                    "pending": {"type": "integer", "minimum": 0},
                },
            },
            "Queued",
        ),
    ),
    "add_stubs": (
        "Put stubs in force: one or a list, all or none; answers their ids",
        _json(
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
    "stubs": ("The stubs in force, with their ids", _json({"type": "object"}, "The stubs")),
    "delete_stubs": ("Remove every stub", _json({"type": "object"}, "Removed")),
    "delete_stub": ("Remove one stub by its id", _json({"type": "object"}, "Removed")),
    "scenarios": (
        "The steps still waiting, in order",
        _json(
            {
                "type": "object",
                "required": ["pending"],
                "properties": {"pending": {"type": "array", "items": {"type": "object"}}},
            },
            "Pending steps",
        ),
    ),
}
_WHO = {
    401: "called from a non-loopback address without 'Authorization: Bearer <admin token>'",
    403: "called from a non-loopback address (this server has no --admin-token)",
}


def _page_parameters() -> list[dict[str, Any]]:
    """``since`` and ``limit``: the admin reads come a page at a time."""
    return [
        {
            "name": "since",
            "in": "query",
            "description": "Only items with an id above this one (the page's 'next')",
            "schema": {"type": "integer", "minimum": 0, "default": 0},
        },
        {
            "name": "limit",
            "in": "query",
            "description": "Items per page",
            "schema": {"type": "integer", "minimum": 0, "maximum": 1000, "default": 100},
        },
    ]


def _admin(facts: _Facts, name: str) -> dict[str, Any]:
    summary, answer = _ADMIN[name]
    guard = ""
    if facts.admin_refusal is not None:
        guard = " (loopback clients" + (
            ", or the admin token)" if facts.admin_refusal == 401 else ")"
        )
    operation: dict[str, Any] = {"summary": summary + guard}
    if name == "add_scenario":
        operation["requestBody"] = _request_body(scenario_schema())
    elif name == "add_stubs":
        stub = stub_schema()
        operation["requestBody"] = _request_body(
            {"oneOf": [stub, {"type": "array", "items": stub}]}
        )
    elif name in ("get_requests", "scenarios"):
        operation["parameters"] = _page_parameters()
    elif name == "delete_stub":
        operation["parameters"] = [
            {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
        ]
    if facts.workers > 1:
        # Each worker process has its own scripts and no journal: every answer would be wrong.
        responses = {
            "409": _error(
                f"this server runs --workers {facts.workers}: scripted scenarios and"
                " the journal need --workers 1"
            )
        }
    elif name in ("add_scenario", "add_stubs"):
        bad = "invalid JSON, an unknown key, or a bad step or stub (the field names which)"
        responses = {"200": answer, **_body_errors(facts, bad)}
    elif name == "delete_stub":
        responses = {"200": answer, "404": _error("no stub has this id")}
    elif name in ("get_requests", "scenarios"):
        responses = {"200": answer, "400": _error("since or limit is not an integer in range")}
    else:
        responses = {"200": answer}
    if facts.admin_refusal is not None:
        responses[str(facts.admin_refusal)] = _error(_WHO[facts.admin_refusal])
    return {**operation, "responses": {**_plain_errors(), **responses}}


def openapi_spec(version: str, config: MockConfig | None = None) -> dict[str, Any]:
    """The document for a server run with ``config`` (the defaults when None); ``version`` is
    the package version. A fresh copy of what is served: pieces of the document are shared
    between calls, and tools such as schemathesis change the dict they are given."""
    facts = _Facts.of(config if config is not None else MockConfig())
    spec: dict[str, Any] = json.loads(_serialised(version, facts))
    return spec


def _spec_of(version: str, facts: _Facts) -> dict[str, Any]:
    parts = components()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Websim mock server",
            "version": version,
            "description": "A local imitation of the Websim inference API, with an admin API"
            " for scripted answers and a journal of the requests received. This document"
            " describes this server as it was started (its options change what it accepts).",
        },
        "paths": in_sessions(
            {
                CHAT_PATH: _chat_path(facts),
                IMAGE_PATH: _image_path(facts),
                "/images/{name}": _image_file_path(),
                "/healthz": _health_path(facts),
                "/openapi.json": _document_path(),
                **_admin_paths(facts),
                **session_admin_paths(facts.workers, facts.admin_refusal),
            }
        ),
        "components": {**parts, "schemas": {**parts["schemas"], "Session": SESSION_SCHEMA}},
    }


@functools.lru_cache(maxsize=32)
def _serialised(version: str, facts: _Facts) -> bytes:
    return json.dumps(_spec_of(version, facts), indent=1).encode()


def openapi_body(version: str, config: MockConfig) -> bytes:
    """The document as served, built once per distinct description (not per seed or app)."""
    return _serialised(version, _Facts.of(config))
