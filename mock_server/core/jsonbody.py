"""Strict JSON for request bodies: RFC 8259 only (no NaN or Infinity), a ValueError otherwise."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["parse_json_strictly"]


def _strict_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_STRICT_DECODER = json.JSONDecoder(parse_constant=_strict_constant)


def parse_json_strictly(body: bytes) -> Any:
    """JSON per RFC 8259 (no NaN or Infinity); ValueError otherwise, also for deep nesting.

    Decodes like ``json.loads(bytes)`` (UTF-8, -16 or -32) with one shared decoder.
    """
    if body[:1] == b"{" and body[1:2] != b"\x00":  # the usual case: UTF-8, skip detection
        text = body.decode("utf-8", "surrogatepass")
    else:
        text = body.decode(json.detect_encoding(body), "surrogatepass")
    if text.startswith("\ufeff"):
        raise ValueError("Unexpected UTF-8 BOM (decode using utf-8-sig)")
    try:
        return _STRICT_DECODER.decode(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
