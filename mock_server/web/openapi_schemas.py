"""The schemas of the mock's OpenAPI document: messages, project IDs, scripted steps, errors
and the journal; ``mock_server.web.openapi`` puts them on the routes."""

from __future__ import annotations

import dataclasses
from typing import Any

from websim_core.ids import LENIENT_ID_PATTERN
from websim_core.protocol import KNOWN_ROLES

from ..core.replies import BUILTIN_STATUSES
from ..core.steps import FAULT_KINDS, FAULT_STEPS, MAX_FAULT_MS

__all__ = ["components", "message_schema", "project_id_schema", "step_schema"]


def _fault_schemas() -> list[dict[str, Any]]:
    """One schema per fault kind, from the step classes' parameters and their limits."""
    out: list[dict[str, Any]] = []
    for name, cls in FAULT_STEPS.items():
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        properties: dict[str, Any] = {"fault": {"const": name}}
        for param, (lo, hi, integer) in cls.limits.items():
            schema: dict[str, Any] = {
                "type": "integer" if integer else "number",
                "minimum": lo,
                "maximum": hi,
            }
            if defaults.get(param) is not None:
                schema["default"] = defaults[param]
            properties[param] = schema
        doc = " ".join((cls.__doc__ or "").split("\n\n")[0].replace("``", "").split())
        out.append(
            {
                "type": "object",
                "required": ["fault"],
                "additionalProperties": False,
                "properties": properties,
                "description": doc,
            }
        )
    return out


def message_schema() -> dict[str, Any]:
    """One chat message."""
    return {
        "type": "object",
        "required": ["role", "content"],
        "properties": {
            "role": {"type": "string", "enum": sorted(KNOWN_ROLES)},
            "content": {
                "oneOf": [
                    {"type": "string"},
                    {"type": "array", "items": {"type": "object", "required": ["type"]}},
                ]
            },
        },
    }


def project_id_schema() -> dict[str, Any]:
    """A project ID as the server accepts it."""
    return {
        "type": "string",
        "pattern": LENIENT_ID_PATTERN,
        "description": "Any 1-64 characters of [a-z0-9_]; with --strict-ids only the canonical"
        " form: chat ^[a-z0-9]{3}_[a-z0-9]{16}$, image ^[a-z0-9]{7}_[a-z0-9]{12}$.",
    }


def step_schema() -> dict[str, Any]:
    """One scripted step, in every form ``parse_step`` reads."""
    return {
        "oneOf": [
            {
                "type": "integer",
                "minimum": 200,
                "maximum": 599,
                "description": "Shorthand: 200 is a normal answer, any other status its"
                f" built-in body (built in: {', '.join(map(str, BUILTIN_STATUSES))}).",
            },
            {
                "type": "object",
                "required": ["status"],
                "additionalProperties": False,
                "properties": {
                    "status": {"type": "integer", "minimum": 200, "maximum": 599},
                    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                    "body": {
                        "description": "A string is sent as text, anything else as JSON;"
                        " absent means the built-in body for the status."
                    },
                },
            },
            {
                "type": "object",
                "required": ["reply"],
                "additionalProperties": False,
                "properties": {
                    "reply": {
                        "type": ["string", "null"],
                        "description": "Chat: the answer's content (streamed if asked)."
                        " Image: the URL to answer. null: the generated answer.",
                    },
                    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            },
            {
                "type": "string",
                "enum": list(FAULT_KINDS),
                "description": "Shorthand: the fault with its default parameters.",
            },
            *_fault_schemas(),
        ],
        "description": "One scripted answer. Faults misbehave on the socket: connection_reset"
        " (RST, no answer), empty_response (close, no bytes), garbage (random non-HTTP bytes),"
        " truncated_body (full Content-Length, part of the body), delay, dribble (the answer in"
        " slow pieces), stream_cut (some events, then close without [DONE]), stream_malformed"
        f" (a non-JSON event in the stream). Durations are capped at {MAX_FAULT_MS} ms.",
    }


def components() -> dict[str, Any]:
    """The shared schemas: the error body and the journal."""
    return {
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["message"],
                        "properties": {
                            "message": {"type": "string"},
                            "field": {"type": ["string", "null"]},
                        },
                    }
                },
            },
            "Journal": {
                "type": "object",
                "properties": {
                    "requests": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "id": {"type": "integer"},
                                "time": {"type": "number"},
                                "method": {"type": "string"},
                                "path": {"type": "string"},
                                "endpoint": {"type": ["string", "null"]},
                                "headers": {"type": "object"},
                                "headers_truncated": {"type": "boolean"},
                                "body": {"type": "string"},
                                "body_encoding": {"enum": ["utf-8", "base64"]},
                                "body_size": {"type": "integer"},
                                "body_truncated": {"type": "boolean"},
                                "json": {},
                                "response": {"type": "object"},
                            },
                        },
                    },
                    "count": {"type": "integer"},
                    "next": {"type": ["integer", "null"]},
                    "total": {"type": "integer"},
                    "dropped": {"type": "integer"},
                },
            },
        }
    }
