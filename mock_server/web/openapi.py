"""The OpenAPI 3.1 description the mock serves at ``GET /openapi.json``: every public and admin route.

It describes the server as configured (``--strict-ids``, ``--workers``, ``--directives``, the
admin guard, the limits), so that a tool generating requests from it (schemathesis) finds what
the server really accepts and answers. Built from one small function per route, so a test can
check that each route has an entry and a reader can find each one; ``openapi_body`` keeps one
serialised document per distinct description (building one is most of an app's build time).
"""

from __future__ import annotations

import functools
import json
from typing import Any

from websim_core.routing import CHAT_PATH, IMAGE_PATH

from ..core.config import MockConfig
from .openapi_admin import admin_paths
from .openapi_parts import (
    ERROR,
    DocFacts,
    body_errors,
    error_answer,
    json_answer,
    plain_errors,
    request_body,
)
from .openapi_schemas import (
    aspect_ratio_schema,
    components,
    message_schema,
    not_blank_schema,
    project_id_schema,
    sse_event_schema,
)
from .openapi_sessions import SESSION_SCHEMA, in_sessions, session_admin_paths

__all__ = ["openapi_body", "openapi_spec"]


def _inference_answers(facts: DocFacts, answer: dict[str, Any]) -> dict[str, Any]:
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
        "content": {"application/json": {"schema": ERROR}},
    }
    scripted = (
        "Whatever a scripted step (POST /__admin/scenarios)"
        + (", an in-band directive" if facts.directives else "")
        + (", or chaos (this server runs --chaos)" if facts.chaos else "")
        + " arranges: any status 200-599 with its built-in body or the step's own body and"
        " headers. A fault step may also answer nothing at all (a reset or closed connection,"
        " bytes that are not HTTP, a truncated body)."
    )
    unmatched = "no stub, scripted step or directive arranged the request (--unmatched 404);"
    unmatched += " near_misses lists the closest stubs"
    return {
        "200": answer,
        **body_errors(facts, bad),
        **({"404": error_answer(unmatched)} if facts.unmatched_404 else {}),
        "405": error_answer("wrong method (the Allow header names the right one)"),
        **({"429": rate} if facts.rate_limited else {}),
        "default": {"description": scripted, "content": {"*/*": {"schema": {}}}},
    }


def _chat_path(facts: DocFacts) -> dict[str, Any]:
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
            "requestBody": request_body(body),
            "responses": _inference_answers(facts, answer),
        }
    }


def _image_path(facts: DocFacts) -> dict[str, Any]:
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
            "requestBody": request_body(body),
            "responses": _inference_answers(facts, json_answer(url, "Where the image is")),
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
                **plain_errors(**{"404": "no such image (each side must be 1..256 px)"}),
            },
        }
    }


def _health_path(facts: DocFacts) -> dict[str, Any]:
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
            "responses": {"200": json_answer(schema, text), **plain_errors()},
        }
    }


def _document_path() -> dict[str, Any]:
    return {
        "get": {
            "summary": "This document",
            "responses": {"200": json_answer({"type": "object"}, "OpenAPI 3.1"), **plain_errors()},
        }
    }


def openapi_spec(version: str, config: MockConfig | None = None) -> dict[str, Any]:
    """The document for a server run with ``config`` (the defaults when None); ``version`` is
    the package version. A fresh copy of what is served: pieces of the document are shared
    between calls, and tools such as schemathesis change the dict they are given."""
    facts = DocFacts.of(config if config is not None else MockConfig())
    spec: dict[str, Any] = json.loads(_serialised(version, facts))
    return spec


def _spec_of(version: str, facts: DocFacts) -> dict[str, Any]:
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
                **admin_paths(facts),
                **session_admin_paths(facts.workers, facts.admin_refusal),
            }
        ),
        "components": {**parts, "schemas": {**parts["schemas"], "Session": SESSION_SCHEMA}},
    }


@functools.lru_cache(maxsize=32)
def _serialised(version: str, facts: DocFacts) -> bytes:
    return json.dumps(_spec_of(version, facts), indent=1).encode()


def openapi_body(version: str, config: MockConfig) -> bytes:
    """The document as served, built once per distinct description (not per seed or app)."""
    return _serialised(version, DocFacts.of(config))
