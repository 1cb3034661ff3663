"""The small pieces every part of the OpenAPI document is made of: what of the configuration
the document depends on (``DocFacts``), and the usual answers (JSON, errors, bodies)."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..core.config import MockConfig

__all__ = [
    "BAD_HTTP",
    "ERROR",
    "DocFacts",
    "body_errors",
    "error_answer",
    "json_answer",
    "plain_errors",
    "request_body",
]

ERROR = {"$ref": "#/components/schemas/Error"}
BAD_HTTP = "the request is not valid HTTP/1.1"
# Any route: aiohttp's parser answers before routing.
_COMMON_TEXT = (
    "the request line or a header line is longer than 8190 bytes, or there are"
    " more than 128 header lines"
)


@dataclasses.dataclass(frozen=True)
class DocFacts:
    """What of a ``MockConfig`` the document depends on (the cache key: seeds do not matter)."""

    strict_ids: bool
    directives: bool
    workers: int
    max_body_bytes: int
    rate_limited: bool
    chaos: bool
    admin_refusal: int | None  # 401 (token), 403 (loopback only) or None (anyone may)
    unmatched_404: bool = False

    @classmethod
    def of(cls, config: MockConfig) -> DocFacts:
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
            unmatched_404=config.unmatched == "404",
        )


def json_answer(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error_answer(description: str) -> dict[str, Any]:
    return json_answer(ERROR, description)


def body_errors(facts: DocFacts, bad_body: str) -> dict[str, Any]:
    """The answers of a route that reads a JSON body, before its handler looks at it."""
    return {
        "400": error_answer(f"{bad_body}; or {BAD_HTTP}"),
        "413": error_answer(f"the body (decompressed) is larger than {facts.max_body_bytes} bytes"),
        "415": error_answer("a Content-Encoding other than gzip, deflate or identity"),
        "431": error_answer(_COMMON_TEXT),
    }


def plain_errors(**extra: str) -> dict[str, Any]:
    """The answers of a route without a body: bad HTTP, ``extra`` (status: text), long heads."""
    return {
        "400": error_answer(BAD_HTTP),
        **{k: error_answer(v) for k, v in extra.items()},
        "431": error_answer(_COMMON_TEXT),
    }


def request_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}
