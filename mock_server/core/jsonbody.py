"""Strict JSON for request bodies: RFC 8259 only (no NaN or Infinity), a ValueError otherwise."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["parse_json_strictly"]


def _strict_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_STRICT_DECODER = json.JSONDecoder(parse_constant=_strict_constant)
# What decode() calls after its whitespace regex (set by JSONDecoder.__init__; typeshed leaves
# it out, hence the ignore). Called directly it skips two regex matches and two Python frames:
# a small chat body parses in about 60% of decode()'s instructions.
_scan_once: Callable[[str, int], tuple[Any, int]]
_scan_once = _STRICT_DECODER.scan_once  # type: ignore[attr-defined]


def parse_json_strictly(body: bytes) -> Any:
    """JSON per RFC 8259 (no NaN or Infinity); ValueError otherwise, also for deep nesting.

    Decodes like ``json.loads(bytes)`` (UTF-8, -16 or -32) with one shared decoder.
    """
    try:
        if body[:1] == b"{" and body[1:2] != b"\x00":  # the usual case: UTF-8, an object
            text = body.decode("utf-8", "surrogatepass")
            try:
                value, end = _scan_once(text, 0)
            except (StopIteration, ValueError):
                pass  # decode() below raises the error json.loads would
            else:
                if end == len(text):
                    return value
        else:
            text = body.decode(json.detect_encoding(body), "surrogatepass")
            if text.startswith("\ufeff"):
                raise ValueError("Unexpected UTF-8 BOM (decode using utf-8-sig)")
        return _STRICT_DECODER.decode(text)  # (trailing space, extra data, or an error)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
