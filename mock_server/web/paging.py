"""Paged admin reads: the query and body options that choose a page, and the page written out
an item at a time (never built whole: a full journal of 64 KiB bodies is gigabytes of JSON)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Collection, Iterable, Mapping
from typing import Any

import orjson
from aiohttp import web

from ..core.errors import RequestRefused
from ..core.journal_entry import VerbatimJSON
from ..core.jsonbody import parse_json_strictly
from ..core.statuses import JSON_TYPE

__all__ = [
    "MAX_PAGE_SIZE",
    "MAX_SINCE",
    "PAGE_BYTES",
    "PAGE_SIZE",
    "body_int",
    "dumps",
    "page_query",
    "query_choice",
    "query_int",
    "stream_page",
]

# Entries (or steps) per page of GET /__admin/requests and /__admin/scenarios, unless the query
# asks for another ``limit`` (up to MAX_PAGE_SIZE): a full journal of 64 KiB bodies read at once
# built gigabytes before sending a byte.
PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_SINCE = 2**62
# A page ends early once it has written this many bytes of items (``next`` says where to go on):
# a page of 1,000 entries with 64 KiB bodies would be 125 MB of JSON; 100 of them (13 MB) fit.
PAGE_BYTES = 16 * 1024 * 1024


def _fragment(value: object) -> orjson.Fragment:
    if isinstance(value, VerbatimJSON):
        return orjson.Fragment(value.raw)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _parsed(value: object) -> Any:
    if isinstance(value, VerbatimJSON):
        return parse_json_strictly(value.raw)
    raise TypeError(f"{type(value).__name__} is not JSON")


def dumps(item: dict[str, Any]) -> bytes:
    """``item`` as JSON: orjson, whose strings cost 60 times less than ``json.dumps``' (a journal
    entry holds its body twice, as text and as JSON), a ``VerbatimJSON`` copied as it is;
    ``json`` for what orjson refuses (a lone surrogate in a path, an integer over 64 bits)."""
    try:
        return orjson.dumps(item, default=_fragment)
    except TypeError:  # (orjson.JSONEncodeError is one)
        return json.dumps(item, default=_parsed).encode()


def query_int(request: web.Request, name: str, default: int, hi: int) -> int:
    """The query's ``name``, an integer ``0..hi``; ``RequestRefused`` naming it otherwise."""
    text = request.query.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or int(text) > hi:
        raise RequestRefused(name, f"must be an integer 0..{hi}, not {text[:40]!r}")
    return int(text)


def query_choice(request: web.Request, name: str, choices: Collection[str]) -> str | None:
    """The query's ``name``, one of ``choices`` (None when absent); ``RequestRefused`` else."""
    text = request.query.get(name)
    if text is not None and text not in choices:
        known = ", ".join(sorted(choices))
        raise RequestRefused(name, f"must be one of {known}, not {text[:40]!r}")
    return text


def page_query(
    request: web.Request, size: int = PAGE_SIZE, most: int = MAX_PAGE_SIZE
) -> tuple[int, int]:
    """``since`` and ``limit`` from the query (RequestRefused for a bad one)."""
    return query_int(request, "since", 0, MAX_SINCE), query_int(request, "limit", size, most)


def body_int(data: Mapping[str, Any], name: str, default: int, hi: int) -> int:
    """A JSON body's ``name``, an integer ``0..hi``; ``RequestRefused`` naming it otherwise."""
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= hi:
        raise RequestRefused(name, f"must be an integer 0..{hi}, not {value!r:.40}")
    return value


async def _each(
    items: Iterable[dict[str, Any]] | AsyncIterator[dict[str, Any]],
) -> AsyncIterator[dict[str, Any]]:
    if isinstance(items, AsyncIterator):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item


async def stream_page(
    request: web.Request,
    head: dict[str, Any],
    name: str,
    items: Iterable[dict[str, Any]] | AsyncIterator[dict[str, Any]],
    *,
    limit: int,
    last_id: int,
    budget: int | None = None,
) -> web.StreamResponse:
    """``{**head, name: [items...], "count": n, "next": id}``, written an item at a time; the
    page ends after ``limit`` items, or once ``budget`` bytes of them are written. ``next`` is
    the last item's id when there may be more (a full page, below ``last_id``), else null;
    ``budget`` defaults to ``PAGE_BYTES``."""
    budget = PAGE_BYTES if budget is None else budget
    response = web.StreamResponse(headers={"Content-Type": JSON_TYPE})
    await response.prepare(request)
    if request.method == "HEAD":  # aiohttp sends what a stream writes, even to a HEAD
        await response.write_eof()
        return response
    await response.write(json.dumps(head)[:-1].encode() + f', "{name}": ['.encode())
    count, last, written = 0, None, 0
    async for item in _each(items):
        chunk = dumps(item)
        if count:  # (a write of its own: joining would copy an entry of 128 KiB once more)
            await response.write(b", ")
        await response.write(chunk)
        count, last, written = count + 1, item["id"], written + len(chunk) + 2
        if written >= budget:
            break
        # write() only waits when the socket is full: with a fast reader, let others (such as
        # /healthz) in between items all the same.
        await asyncio.sleep(0)
    full = count >= limit or written >= budget
    more = full and last is not None and last < last_id
    await response.write(f'], "count": {count}, "next": {last if more else "null"}}}'.encode())
    await response.write_eof()
    return response
