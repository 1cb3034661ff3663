"""The OpenAPI 3.1 description the mock serves at ``GET /openapi.json``: every public and admin route.

Built from one small function per route and schema, so a test can check that each route has
an entry and a reader can find each one.
"""

from __future__ import annotations

from typing import Any

from websim_core.routing import CHAT_PATH, IMAGE_PATH

from .openapi_schemas import components, message_schema, project_id_schema, step_schema

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


_RATE_LIMITED = {
    "description": "Rate limited (--rate-limit): text 'Rate limit exceeded' with Retry-After"
    " in whole seconds; also any scripted or chaos status",
    "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
    "content": {"text/plain": {"schema": {"type": "string"}}},
}


def _chat_path(project_id: dict[str, Any]) -> dict[str, Any]:
    message = message_schema()
    return {
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
    }


def _image_path(project_id: dict[str, Any]) -> dict[str, Any]:
    return {
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
                **_errors(404),
            },
        }
    }


def _health_path() -> dict[str, Any]:
    return {
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
    }


def _document_path() -> dict[str, Any]:
    return {
        "get": {
            "summary": "This document",
            "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")},
        }
    }


def _admin_paths() -> dict[str, Any]:
    """The admin API: the journal, reset and scripted scenarios."""
    return {
        "/__admin/requests": _admin_requests(),
        "/__admin/reset": _admin_reset(),
        "/__admin/scenarios": _admin_scenarios(),
    }


def _admin_requests() -> dict[str, Any]:
    return {
        "get": {
            "summary": "The journal: requests received, oldest first (admin: loopback, or the admin token)",
            "parameters": _page_parameters(),
            "responses": {
                "200": _json({"$ref": "#/components/schemas/Journal"}, "The journal"),
                **_errors(400, 401, 403, 409),
            },
        }
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


def _admin_reset() -> dict[str, Any]:
    return {
        "post": {
            "summary": "Empty the journal and the scripts (admin: loopback, or the admin token)",
            "responses": {
                "200": _json({"type": "object"}, "Done"),
                **_errors(401, 403, 409),
            },
        }
    }


def _admin_scenarios() -> dict[str, Any]:
    step = step_schema()
    return {
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
            "parameters": _page_parameters(),
            "responses": {
                "200": _json({"type": "object"}, "Pending steps"),
                **_errors(400, 401, 403, 409),
            },
        },
    }


def openapi_spec(version: str) -> dict[str, Any]:
    """The document; ``version`` is the package version."""
    project_id = project_id_schema()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Websim mock server",
            "version": version,
            "description": "A local imitation of the Websim inference API, with an admin API"
            " for scripted answers and a journal of the requests received.",
        },
        "paths": {
            CHAT_PATH: _chat_path(project_id),
            IMAGE_PATH: _image_path(project_id),
            "/images/{name}": _image_file_path(),
            "/healthz": _health_path(),
            "/openapi.json": _document_path(),
            **_admin_paths(),
        },
        "components": components(),
    }
