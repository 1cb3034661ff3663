"""The schemas of the mock's OpenAPI document: messages, project IDs, scripted steps, errors
and the journal; ``mock_server.web.openapi`` puts them on the routes."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from websim_core.ids import LENIENT_ID_PATTERN, id_pattern
from websim_core.protocol import KNOWN_ROLES

from ..core.journal_entry import SOURCES
from ..core.statuses import BUILTIN_STATUSES
from ..core.steps import FAULT_KINDS, FAULT_STEPS, MAX_FAULT_MS, STREAM_FAULTS

__all__ = [
    "aspect_ratio_schema",
    "components",
    "headers_schema",
    "message_schema",
    "not_blank_schema",
    "project_id_schema",
    "scenario_schema",
    "sse_event_schema",
    "step_schema",
    "stub_schema",
]

# Patterns are written for both ECMA-262 (what OpenAPI tools validate with) and Python's re
# (what Hypothesis generates from): no lookarounds, no inline flags.
# One to six digits, not all zeros: what protocol.parse_aspect_ratio accepts on each side.
_RATIO_SIDE = "(?:[1-9][0-9]{0,5}|0[1-9][0-9]{0,4}|00[1-9][0-9]{0,3}|000[1-9][0-9]{0,2}|0000[1-9][0-9]?|00000[1-9])"
# RFC 9110 token (steps._TOKEN_RE), and the framing headers a step may not set, in any case.
_TOKEN = "^[!#$%&'*+\\-.^_`|~0-9A-Za-z]+$"
_FRAMING = ("content-length", "transfer-encoding", "connection")
# A header value: no control character but tab (steps._parse_headers).
_HEADER_TEXT = "^[^\\x00-\\x08\\x0a-\\x1f\\x7f]*$"


# Python's whitespace (what str.strip removes: protocol refuses a prompt of only these), spelled
# out because ECMA-262's \\s and Python's differ (U+001C..U+001F, U+0085, U+FEFF).
_SPACES = "".join(f"\\u{ord(c):04x}" for c in map(chr, range(0x3001)) if c.isspace())


def not_blank_schema(description: str) -> dict[str, Any]:
    """A string with at least one character Python does not count as whitespace."""
    return {"type": "string", "pattern": f"[^{_SPACES}]", "description": description}


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c}]" if c.isalpha() else c for c in word)


def headers_schema() -> dict[str, Any]:
    """The ``headers`` of a step: token names (not the framing ones), text or number values."""
    framing = "^(?:" + "|".join(_any_case(name) for name in _FRAMING) + ")$"
    return {
        "type": ["object", "null"],
        "propertyNames": {"pattern": _TOKEN, "not": {"pattern": framing}},
        "additionalProperties": {
            "anyOf": [{"type": "string", "pattern": _HEADER_TEXT}, {"type": "number"}]
        },
        "description": "Header names to values (null: none); a number is sent as its decimal text."
        " Content-Length, Transfer-Encoding and Connection cannot be scripted.",
    }


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
    """One chat message; its content a string or a list of parts (a text part has a text)."""
    text_part = {
        "type": "object",
        "required": ["type", "text"],
        "properties": {"type": {"const": "text"}, "text": {"type": "string"}},
    }
    other_part = {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"type": "string", "not": {"const": "text"}}},
    }
    return {
        "type": "object",
        "required": ["role", "content"],
        "properties": {
            "role": {"type": "string", "enum": sorted(KNOWN_ROLES)},
            "content": {
                "oneOf": [
                    {"type": "string"},
                    {"type": "array", "items": {"anyOf": [text_part, other_part]}},
                ]
            },
        },
    }


def aspect_ratio_schema() -> dict[str, Any]:
    """``W:H``, each side one to six digits and not zero."""
    return {
        "type": "string",
        "pattern": f"^{_RATIO_SIDE}:{_RATIO_SIDE}$",
        "default": "1:1",
        "description": "W:H with positive integers of at most six digits: any such ratio,"
        " 4:3 too, is an image of that shape, longer side 256 px (0:1, 4x3 or wide: a 400"
        " naming aspect_ratio).",
    }


def sse_event_schema() -> dict[str, Any]:
    """One event of a chat stream, as OpenAPI 3.1 tools read a text/event-stream schema."""
    return {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {
                "type": "string",
                "description": 'JSON {"content": "..."} with the next piece of the answer;'
                " the last event is [DONE]. (The stream_malformed fault sends one that is"
                " not JSON, stream_cut ends the stream without [DONE].)",
            },
            "event": {"type": "string"},
            "id": {"type": "string"},
            "retry": {"type": "integer", "minimum": 0},
        },
    }


def project_id_schema(kind: Literal["chat", "image"], *, strict: bool) -> dict[str, Any]:
    """A project ID as this server accepts it: lenient, or (``--strict-ids``) canonical."""
    if strict:
        return {
            "type": "string",
            "pattern": id_pattern(kind),
            "description": f"The canonical {kind} project ID (this server runs --strict-ids).",
        }
    return {
        "type": "string",
        "pattern": LENIENT_ID_PATTERN,
        "description": "Any 1-64 characters of [a-z0-9_] (with --strict-ids only the canonical"
        f" form, {id_pattern(kind)}).",
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
                    "headers": headers_schema(),
                    "body": {
                        "description": "A string is sent as text, anything else as JSON;"
                        " absent (or null) means the built-in body for the status."
                    },
                },
                # A 204 or 304 answer has no body (RFC 9110).
                "if": {"properties": {"status": {"enum": [204, 304]}}},
                "then": {"properties": {"body": {"enum": [None, ""]}}},
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
                    "headers": headers_schema(),
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


def scenario_schema() -> dict[str, Any]:
    """The body of ``POST /__admin/scenarios``: steps for an endpoint (stream faults not for images)."""
    stream_faults = [cls.fault for cls in STREAM_FAULTS]
    stream_fault = {
        "anyOf": [
            {"enum": stream_faults},
            {
                "type": "object",
                "required": ["fault"],
                "properties": {"fault": {"enum": stream_faults}},
            },
        ]
    }
    return {
        "type": "object",
        "required": ["responses"],
        "additionalProperties": False,
        "properties": {
            "endpoint": {"type": "string", "enum": ["chat", "image", "any"], "default": "any"},
            "responses": {"type": "array", "items": step_schema()},
        },
        "if": {"required": ["endpoint"], "properties": {"endpoint": {"const": "image"}}},
        "then": {"properties": {"responses": {"items": {"not": stream_fault}}}},
    }


def _journal_schema() -> dict[str, Any]:
    """A page of the journal: its entries (each naming the stub that answered), ``next``."""
    return {
        "type": "object",
        "properties": {
            "requests": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "session": {
                            "type": ["string", "null"],
                            "description": "the session it came in (null: none)",
                        },
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
                        "response": {
                            "type": "object",
                            "properties": {
                                "status": {"type": "integer"},
                                "source": {"enum": list(SOURCES)},
                                "stub": {
                                    "oneOf": [
                                        {"$ref": "#/components/schemas/StubRef"},
                                        {"type": "null"},
                                    ]
                                },
                                "missed": {
                                    "type": "boolean",
                                    "description": "stubs were in force and none"
                                    " matched (nothing else arranged the answer)",
                                },
                            },
                        },
                    },
                },
            },
            "count": {"type": "integer"},
            "next": {"type": ["integer", "null"]},
            "total": {"type": "integer"},
            "dropped": {"type": "integer"},
        },
    }


def components() -> dict[str, Any]:
    """The shared schemas: the error body and the journal."""
    return {
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["message"],
                "properties": {
                    "message": {"type": "string"},
                    "field": {"type": ["string", "null"]},
                },
            },
            "Journal": _journal_schema(),
            "StubRef": {
                "type": "object",
                "description": "the stub that answered",
                "required": ["id", "name"],
                "properties": {"id": {"type": "string"}, "name": {"type": ["string", "null"]}},
            },
        }
    }


def stub_schema() -> dict[str, Any]:
    """A stub: ``match`` (a request pattern) and ``respond`` (see docs/stubs.md).

    A description, not the whole law: JSON Schema cannot say that a regex must compile, that
    min <= max, or which answers go with which endpoint, so the server's 400 (naming the field)
    has the last word and schemathesis does not fuzz this body (tests/test_mock_web_openapi.py).
    """
    text_test = {
        "oneOf": [
            {"type": "string"},
            {
                "type": "object",
                "properties": {
                    **{op: {"type": "string"} for op in ("equals", "contains", "regex", "glob")},
                    "ignore_case": {"type": "boolean"},
                },
            },
        ]
    }
    match = {
        "type": "object",
        "properties": {
            "endpoint": {"enum": ["chat", "image", "any"]},
            **{
                name: text_test
                for name in ("last_user_message", "system", "any_message", "prompt", "project_id")
            },
            "turns": {"oneOf": [{"type": "integer"}, {"type": "object"}]},
            "roles": {"type": "array", "items": {"type": "string"}},
            "json": {"type": "boolean"},
            "stream": {"type": "boolean"},
            "aspect_ratio": {"type": "string"},
            "headers": {"type": "object", "additionalProperties": text_test},
            "all": {"type": "array"},
            "any": {"type": "array"},
            "not": {"type": "object"},
        },
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "required": ["respond"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string"},
            "priority": {"type": "integer", "description": "lower wins; ties: the newest"},
            "times": {"type": "integer", "minimum": 1},
            "match": match,
            "respond": {
                "type": "object",
                "description": "one of reply, json, url, template, status or fault, with"
                " headers, latency_ms and stream pacing (see docs/stubs.md)",
            },
        },
    }
