"""The bytes of a recorded or sent request body, whatever form vcrpy keeps it in.

vcrpy's aiohttp stub records ``json=`` and ``data=`` as the caller passed them, so a cassette
holds a body as text, bytes, or a YAML mapping (a ``json=`` dict); one function reads them all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping

__all__ = ["body_bytes", "is_json_value"]

_CHUNK_TYPES = (bytes, bytearray, memoryview)


def is_json_value(body: object) -> bool:
    """A body vcrpy hands over as the object the caller passed (aiohttp's ``json=``, ``data=``
    dict or pairs, a cassette's YAML mapping), rather than as bytes, text, a file or a list of
    byte chunks."""
    if isinstance(body, (Mapping, bool, int, float)):
        return True
    if isinstance(body, (list, tuple)):
        return not (body and all(isinstance(item, _CHUNK_TYPES) for item in body))
    return False


def _joined(chunks: Iterable[object]) -> bytes:
    return b"".join(_as_bytes(chunk) for chunk in chunks)


def _as_bytes(body: object) -> bytes:
    """The bytes of a body that is bytes, text, a file, an aiohttp payload or chunks of those."""
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, _CHUNK_TYPES):
        return bytes(body)
    read = getattr(body, "read", None)
    if callable(read):
        data = read()
        return data.encode("utf-8") if isinstance(data, str) else bytes(data)
    decode = getattr(body, "decode", None)
    if callable(decode):  # aiohttp's BytesPayload, StringPayload, JsonPayload (data=payload)
        return str(decode()).encode("utf-8")
    if isinstance(body, (list, tuple, Iterator)):
        return _joined(body)
    return str(body).encode("utf-8")


def body_bytes(body: object) -> bytes:
    """The body as bytes: a JSON value (dict, list, number) as canonical JSON (sorted keys,
    UTF-8), bytes as they are, text as UTF-8, None as empty, files and chunks read and joined.

    Never Python's ``repr`` of a dict: a cassette recorded from ``json=`` must read as the JSON
    that went over the wire, for the matcher, the replay server and the checker alike.
    """
    if is_json_value(body):
        return json.dumps(body, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")
    return _as_bytes(body)
