"""The wire-level fixes (mock_server.web.wire): header names real clients send, and request bodies decoded."""

from __future__ import annotations

import gzip
import re
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mock_server.core.errors import RequestRefused
from mock_server.web.wire import (
    MAX_HEAD_BYTES,
    HeaderFixer,
    decode_body,
    fix_header_names,
)

# --- the header fix -----------------------------------------------------------------------------


def request_bytes(headers: list[tuple[bytes, bytes]], body: bytes) -> bytes:
    lines = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    return (
        b"POST /p HTTP/1.1\r\nHost: x\r\n"
        + lines
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )


def test_fix_header_names() -> None:
    head = b"POST / HTTP/1.1\r\nHost: x\r\nwebsim-flags;: \r\nBad Name : v;w\r\nok: a;b\r\n\r\n"
    assert fix_header_names(head) == (
        b"POST / HTTP/1.1\r\nHost: x\r\nwebsim-flags%3B: \r\nBad%20Name%20: v;w\r\nok: a;b\r\n\r\n"
    )
    clean = b"GET http://x:80/ HTTP/1.1\r\nHost: x\r\n\r\n"
    assert fix_header_names(clean) is clean
    leading = b"\r\nGET http://x:80/a b HTTP/1.1\r\nHost: x\r\n\r\n"
    assert fix_header_names(leading) == leading  # the request line is never touched


header_names = st.one_of(
    st.sampled_from([b"websim-flags;", b"Accept", b"x;y;", b"a b", b"\xc3\xa9t\xc3\xa9", b"X-Ok"]),
    st.binary(min_size=1, max_size=6).filter(
        lambda b: not re.search(rb"[:\r\n]", b) and b[:1] not in b" \t"
    ),
)
requests = st.lists(
    st.tuples(
        st.lists(st.tuples(header_names, st.sampled_from([b"", b"1", b"a;b"])), max_size=3),
        st.binary(max_size=20),
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=150)
@given(requests, st.lists(st.integers(1, 40), max_size=10))
def test_header_fixer_fixes_each_request_whatever_the_chunking(
    reqs: list[tuple[list[tuple[bytes, bytes]], bytes]], cuts: list[int]
) -> None:
    stream = b"".join(request_bytes(h, b) for h, b in reqs)
    expected = b"".join(
        fix_header_names(request_bytes(h, b)[: -len(b) or None]) + b for h, b in reqs
    )
    fixer = HeaderFixer()
    out, pos = [], 0
    for cut in cuts:
        out.append(fixer.feed(stream[pos : pos + cut]))
        pos += cut
    out.append(fixer.feed(stream[pos:]))
    out.append(fixer.flush())
    assert b"".join(out) == expected
    assert not fixer.passthrough


@settings(max_examples=150)
@given(requests, st.lists(st.integers(1, 40), max_size=10))
def test_header_fixer_hands_over_one_request_at_a_time(
    reqs: list[tuple[list[tuple[bytes, bytes]], bytes]], cuts: list[int]
) -> None:
    """What the parser is given, feed by feed (``pieces`` when set, else what ``feed``
    returned) never holds bytes of two requests: pipelined requests are parsed one by one."""
    fixed = [fix_header_names(request_bytes(h, b)[: -len(b) or None]) + b for h, b in reqs]
    starts = {sum(map(len, fixed[:i])) for i in range(len(fixed))}
    stream = b"".join(request_bytes(h, b) for h, b in reqs)
    fixer, units, pos = HeaderFixer(), [], 0
    for cut in [*cuts, len(stream)]:
        out = fixer.feed(stream[pos : pos + cut])
        pos += cut
        units += fixer.pieces or [out]
        assert fixer.pieces is None or b"".join(fixer.pieces) == out
        fixer.pieces = None  # (what the reader does)
    assert b"".join(units) == b"".join(fixed)
    offset = 0
    for unit in units:
        assert not any(offset < start < offset + len(unit) for start in starts), units
        offset += len(unit)


def feed_all(chunks: list[bytes]) -> bytes:
    return feed_chunks(chunks)[0]


def feed_chunks(chunks: list[bytes]) -> tuple[bytes, str | None]:
    fixer = HeaderFixer()
    return b"".join([*(fixer.feed(c) for c in chunks), fixer.flush()]), fixer.refused


@settings(max_examples=200)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=30),
            st.sampled_from(
                [
                    b"\r\n",
                    b"\r\n\r\n",
                    b"\n\n",
                    b"x;: y\r\n",
                    b"Content-Length: 3\r\n",
                    b"Transfer-Encoding: chunked\r\n",
                ]
            ),
        ),
        max_size=12,
    )
)
def test_header_fixer_is_total_and_chunking_blind(chunks: list[bytes]) -> None:
    """Whatever the chunking, the same bytes reach aiohttp, none dropped; unless the start of
    a head cannot be a request (seen before its blank line arrived): then what came before
    it, whole requests, reaches aiohttp, and the rest is refused."""
    whole = b"".join(chunks)
    once, refused_once = feed_chunks([whole])
    out, refused = feed_chunks(chunks)
    if refused is None and refused_once is None:
        assert out == once
        assert len(once) >= len(whole)  # only ever expands a name, never drops bytes
    else:
        shorter, longer = sorted((out, once), key=len)
        assert longer.startswith(shorter)


def test_header_fixer_passes_through_what_it_cannot_frame() -> None:
    chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nbad;: x\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\nx;: y\r\n\r\n"
    fixer = HeaderFixer()
    out = fixer.feed(chunked)
    assert out.startswith(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nbad%3B: x\r\n")
    assert out.endswith(b"x;: y\r\n\r\n")
    assert fixer.passthrough
    huge = HeaderFixer()
    assert huge.feed(b"G" * (MAX_HEAD_BYTES + 1)) == b"G" * (MAX_HEAD_BYTES + 1)
    assert huge.passthrough
    held = HeaderFixer()
    assert held.feed(b"GET / HTTP/1.1\r\nHo") == b""
    assert held.flush() == b"GET / HTTP/1.1\r\nHo"


def test_header_fixer_returns_the_same_bytes_when_nothing_changes() -> None:
    data = request_bytes([(b"Accept", b"*/*")], b'{"a": 1}')
    fixer = HeaderFixer()
    assert fixer.feed(data) is data
    assert fixer.feed(data) is data


# --- request body decoding ----------------------------------------------------------------------


def test_decode_body() -> None:
    data = b'{"a": 1}'
    raw_deflate = zlib.compressobj(wbits=-15)
    raw = raw_deflate.compress(data) + raw_deflate.flush()
    assert decode_body(gzip.compress(data), "gzip", 100) == data
    assert decode_body(gzip.compress(data), "x-gzip", 100) == data
    assert decode_body(zlib.compress(data), "deflate", 100) == data
    assert decode_body(raw, "deflate", 100) == data
    assert decode_body(data, "identity", 100) == data
    assert decode_body(gzip.compress(zlib.compress(data)), "deflate, gzip", 100) == data
    assert decode_body(data, " , ", 100) == data


@pytest.mark.parametrize(
    ("body", "coding", "status", "field"),
    [
        (b"nope", "gzip", 400, "body"),
        (gzip.compress(b"x" * 100, mtime=0)[:-10], "gzip", 400, "body"),
        (b"", "deflate", 400, "body"),
        (gzip.compress(b"x" * 101, mtime=0), "gzip", 413, "body"),
        (b"x", "br", 415, "content-encoding"),
        (b"x", "compress", 415, "content-encoding"),
    ],
)
def test_decode_body_errors(body: bytes, coding: str, status: int, field: str) -> None:
    with pytest.raises(RequestRefused) as info:
        decode_body(body, coding, 100)
    assert (info.value.status, info.value.field) == (status, field)


@given(
    st.binary(max_size=200),
    st.sampled_from(["gzip", "deflate", "identity", "gzip, deflate", "zstd"]),
)
def test_decode_body_is_total(body: bytes, coding: str) -> None:
    status = 200
    try:
        out = decode_body(body, coding, 1000)
    except RequestRefused as exc:
        status = exc.status
    else:
        assert len(out) <= 1000 or coding == "identity"
    assert status in (200, 400, 413, 415)


# --- HeaderFixer: fast path == general loop -------------------------------------------------------


class GeneralFixer(HeaderFixer):
    """A HeaderFixer that never takes the fast path."""

    __slots__ = ()

    def feed(self, data: bytes) -> bytes:
        if self.passthrough:
            return data if self.refused is None else b""
        return self._feed(data)


def _state(fixer: HeaderFixer) -> tuple[Any, ...]:
    return (fixer.passthrough, fixer._body_left, fixer._buffer, fixer.refused)


request_lines = st.sampled_from(
    [
        b"POST /api HTTP/1.1",
        b"GET / HTTP/1.1",
        b"CONNECT x:443 HTTP/1.1",
        b"connect x:443 HTTP/1.1",
        b"\r\nGET / HTTP/1.1",
        b"",
        b"GET /a b HTTP/1.1",
    ]
)
header_lines = st.one_of(
    st.sampled_from(
        [
            b"Host: x",
            b"Content-Type: text/plain;charset=UTF-8",
            b"content-length: 3",
            b"Content-Length: 0",
            b"Content-Length:5 ",
            b"Content-Length : 3",
            b"Content-Length: 3x",
            b"Content-Length: 12345678901234567890",
            b"Content-Lengthy: 4",
            b"Transfer-Encoding: chunked",
            b"transfer-encoding: identity",
            b"Upgrade: websocket",
            b"Upgrade-Insecure-Requests: 1",
            b"websim-flags;: ",
            b"Bad Name: v",
            b" folded",
            b"no colon",
            b"X: a\nb",
            b"\xc3\xa9: v",
        ]
    ),
    st.builds(
        lambda name, value: name + b": " + value,
        st.from_regex(rb"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,8}", fullmatch=True),
        st.binary(max_size=6).filter(lambda v: b"\r" not in v and b"\n" not in v),
    ),
)
heads = st.builds(
    lambda line, headers, end: line + b"".join(b"\r\n" + h for h in headers) + end,
    request_lines,
    st.lists(header_lines, max_size=5),
    st.sampled_from([b"\r\n\r\n", b"\r\n\r\n", b"\n\n", b"\r\n"]),
)
streams = st.lists(st.tuples(heads, st.binary(max_size=8)), min_size=1, max_size=4).map(
    lambda reqs: [head + body for head, body in reqs]
)


@settings(max_examples=300)
@given(streams, st.lists(st.integers(1, 60), max_size=6), st.booleans())
def test_header_fixer_fast_path_gives_what_the_general_loop_gives(
    requests: list[bytes], cuts: list[int], one_chunk_each: bool
) -> None:
    if one_chunk_each:  # a client sending request after request: the fast path's case
        chunks = requests + requests
    else:
        stream, chunks, pos = b"".join(requests), [], 0
        for cut in cuts:
            chunks.append(stream[pos : pos + cut])
            pos += cut
        chunks.append(stream[pos:])
    fast, general = HeaderFixer(), GeneralFixer()
    for chunk in chunks:
        assert fast.feed(chunk) == general.feed(chunk)
        assert _state(fast) == _state(general)
    assert fast.flush() == general.flush()


def test_header_fixer_fast_path_frames_the_body() -> None:
    fixer = HeaderFixer()
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n"
    assert fixer.feed(head + b"abc") == head + b"abc"
    assert fixer._body_left == 3
    assert fixer.feed(b"def") == b"def"
    # The body is done: a next head with a name to fix is fixed, even if the body looked odd.
    assert fixer.feed(b"GET / HTTP/1.1\r\nx;: y\r\n\r\n") == b"GET / HTTP/1.1\r\nx%3B: y\r\n\r\n"
    repeat = HeaderFixer()
    data = head + b"abcdef"
    assert repeat.feed(data) is data
    assert repeat.feed(data) is data  # the remembered head
    assert repeat._simple[0] == head


@settings(max_examples=200)
@given(
    st.lists(
        st.one_of(
            request_lines,
            st.sampled_from([b"POST /sessions/s1/api HTTP/1.1", b"GET /\nx;: y"]),
        ),
        min_size=2,
        max_size=5,
    ),
    st.lists(header_lines, max_size=4),
    st.binary(max_size=4),
)
def test_header_fixer_same_lines_under_other_request_lines(
    lines: list[bytes], headers: list[bytes], body: bytes
) -> None:
    # A client going through sessions: each request's line differs, its header lines do not.
    block = b"".join(b"\r\n" + h for h in headers) + b"\r\nContent-Length: %d\r\n\r\n" % len(body)
    fast, general = HeaderFixer(), GeneralFixer()
    for line in lines + lines[::-1]:
        chunk = line + block + body
        assert fast.feed(chunk) == general.feed(chunk)
        assert _state(fast) == _state(general)
