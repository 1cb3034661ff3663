"""The OpenAPI 3.1 description the mock serves at ``GET /openapi.json``: every public and admin route.

Kept as plain data next to the app so a test can check that each route has an entry.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from websim_core.ids import LENIENT_ID_PATTERN
from websim_core.protocol import KNOWN_ROLES
from websim_core.routing import CHAT_PATH, IMAGE_PATH

from ..core.replies import BUILTIN_STATUSES
from ..core.steps import FAULT_KINDS, FAULT_STEPS, MAX_FAULT_MS

__all__ = ["openapi_spec"]

_ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    reasons = {
        400: "malformed request: invalid JSON, a missing or wrongly typed field, a bad project ID"
        " (or a bad in-band directive, with --directives)",
        401: "admin API called from a non-loopback address without the --admin-token bearer token",
        403: "admin API called from a non-loopback address, and no --admin-token was given",
        404: "unknown path",
        405: "wrong method",
        413: "body larger than --max-body-bytes",
        409: "the server runs --workers N > 1 processes, each with its own state: scripted"
        " scenarios and the journal need --workers 1",
    }
    return {str(s): _json(_ERROR, reasons[s]) for s in statuses}


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


_RATE_LIMITED = {
    "description": "Rate limited (--rate-limit): text 'Rate limit exceeded' with Retry-After"
    " in whole seconds; also any scripted or chaos status",
    "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
    "content": {"text/plain": {"schema": {"type": "string"}}},
}


def openapi_spec(version: str) -> dict[str, Any]:
    """The document; ``version`` is the package version."""
    message = {
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
    project_id = {
        "type": "string",
        "pattern": LENIENT_ID_PATTERN,
        "description": "Any 1-64 characters of [a-z0-9_]; with --strict-ids only the canonical"
        " form: chat ^[a-z0-9]{3}_[a-z0-9]{16}$, image ^[a-z0-9]{7}_[a-z0-9]{12}$.",
    }
    step = {
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
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Websim mock server",
            "version": version,
            "description": "A local imitation of the Websim inference API, with an admin API"
            " for scripted answers and a journal of the requests received.",
        },
        "paths": {
            CHAT_PATH: {
                "post": {
                    "summary": "Chat completion",
                    "description": "The body is parsed as JSON whatever the content type."
                    ' With "stream": true the answer is a text/event-stream of'
                    ' data: {"content": ...} events ending with data: [DONE].',
                    "requestBody": {
                        "required": True,
                        "content": {
                            "*/*": {
                                "schema": {
                                    "type": "object",
                                    "required": ["project_id", "messages"],
                                    "properties": {
                                        "project_id": project_id,
                                        "messages": {
                                            "type": "array",
                                            "minItems": 1,
                                            "items": message,
                                        },
                                        "stream": {"type": "boolean"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "The answer",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["content"],
                                        "properties": {"content": {"type": "string"}},
                                    }
                                },
                                "text/event-stream": {"schema": {"type": "string"}},
                            },
                        },
                        **_errors(400, 405, 413),
                        "429": _RATE_LIMITED,
                    },
                }
            },
            IMAGE_PATH: {
                "post": {
                    "summary": "Image generation",
                    "description": "Answers a URL on this server; same prompt, ratio and"
                    " seed give the same URL and bytes.",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "*/*": {
                                "schema": {
                                    "type": "object",
                                    "required": ["project_id", "prompt"],
                                    "properties": {
                                        "project_id": project_id,
                                        "prompt": {"type": "string", "minLength": 1},
                                        "aspect_ratio": {
                                            "type": "string",
                                            "pattern": "^[0-9]{1,6}:[0-9]{1,6}$",
                                            "default": "1:1",
                                        },
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["url"],
                                "properties": {"url": {"type": "string", "format": "uri"}},
                            },
                            "Where the image is",
                        ),
                        **_errors(400, 405, 413),
                        "429": _RATE_LIMITED,
                    },
                }
            },
            "/images/{name}": {
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
                            "content": {
                                "image/png": {"schema": {"type": "string", "format": "binary"}}
                            },
                        },
                        **_errors(404),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["status"],
                                "properties": {
                                    "status": {"const": "ok"},
                                    "worker": {"type": "integer", "minimum": 0},
                                    "workers": {"type": "integer", "minimum": 2},
                                },
                            },
                            '{"status": "ok"}; with --workers N > 1 also which worker answered'
                            ' ("worker": 0..N-1) and "workers": N',
                        )
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")},
                }
            },
            "/__admin/requests": {
                "get": {
                    "summary": "The journal: requests received, oldest first (admin: loopback, or the admin token)",
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Journal"}, "The journal"),
                        **_errors(401, 403, 409),
                    },
                }
            },
            "/__admin/reset": {
                "post": {
                    "summary": "Empty the journal and the scripts (admin: loopback, or the admin token)",
                    "responses": {
                        "200": _json({"type": "object"}, "Done"),
                        **_errors(401, 403, 409),
                    },
                }
            },
            "/__admin/scenarios": {
                "post": {
                    "summary": "Queue scripted answers for the next matching requests (admin)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["responses"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "endpoint": {
                                            "type": "string",
                                            "enum": ["chat", "image", "any"],
                                            "default": "any",
                                        },
                                        "responses": {"type": "array", "items": step},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "queued": {"type": "integer"},
                                    "pending": {"type": "integer"},
                                },
                            },
                            "Queued",
                        ),
                        **_errors(400, 401, 403, 409, 413),
                    },
                },
                "get": {
                    "summary": "The steps still waiting, in order (admin: loopback, or the admin token)",
                    "responses": {
                        "200": _json({"type": "object"}, "Pending steps"),
                        **_errors(401, 403, 409),
                    },
                },
            },
        },
        "components": {
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
                        "total": {"type": "integer"},
                        "dropped": {"type": "integer"},
                    },
                },
            }
        },
    }
