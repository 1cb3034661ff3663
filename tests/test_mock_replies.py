"""The mock's pure answer builders (chat text, chunks, PNG, built-in errors) and the header fix."""

from __future__ import annotations

import gzip
import json
import re
import zlib

import pytest
from helpers import png_info
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mock_server.core.errors import RequestRefused
from mock_server.core.images import (
    IMAGE_MAX_SIDE,
    image_name,
    image_size,
    parse_image_name,
    png_bytes,
    render_png,
)
from mock_server.core.replies import (
    BUILTIN_STATUSES,
    builtin_answer,
    chat_body,
    chat_reply,
    split_chunks,
    sse_events,
    status_answer,
    stream_events,
)
from mock_server.core.steps import StatusStep
from mock_server.web.wire import (
    MAX_HEAD_BYTES,
    HeaderFixer,
    decode_body,
    fix_header_names,
)
from websim_core.errors import CloudflareError, RateLimitError, error_for_status
from websim_core.sse import SSEDecoder, parse_delta

# --- chat ---------------------------------------------------------------------------------------

HELLO = [{"role": "user", "content": "Hello, how are you?"}]


def test_chat_reply_is_deterministic_and_quotes_the_last_user_message() -> None:
    conversation = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "First question"},
        {"role": "assistant", "content": "An answer"},
        {
            "role": "user",
            "content": [{"type": "text", "text": "Second "}, {"type": "text", "text": "question"}],
        },
    ]
    reply = chat_reply(7, conversation)
    assert reply == chat_reply(7, conversation)
    assert '"Second question"' in reply
    assert "First question" not in reply
    assert reply[0].isupper()
    assert reply.endswith((".", "?"))
    assert len({chat_reply(seed, HELLO) for seed in range(20)}) > 3


def test_chat_reply_edge_cases() -> None:
    assistant_last = [
        {"role": "user", "content": "Привет"},
        {"role": "assistant", "content": "Хорошо"},
    ]
    assert '"Привет"' in chat_reply(0, assistant_last)
    assert '"only system"' in chat_reply(0, [{"role": "system", "content": "only system"}])
    assert "empty" in chat_reply(0, [{"role": "user", "content": "   "}])
    long = chat_reply(0, [{"role": "user", "content": "word " * 500}])
    assert "…" in long
    assert len(long) < 600
    surrogate = chat_reply(0, [{"role": "user", "content": "a\ud800b"}])
    surrogate.encode("utf-8")  # lone surrogates are replaced, the answer is valid UTF-8
    assert json.loads(chat_body(surrogate))["content"] == surrogate


def test_answers_never_change_across_versions() -> None:
    """Cassettes recorded against the mock hold these answers: a refactor must keep them."""
    assert chat_reply(0, HELLO) == (
        'Sure, let\'s look at it together. You wrote: "Hello, how are you?". It helps to write'
        " down what you already know and what you still need to find out. I hope that helps."
    )
    assert image_name(0, "A cat in space", (16, 9)) == "8cfcc3d600e7d3cf-256x144"


@given(st.text())
@example("")
@example("   ")
@example("one")
def test_split_chunks_join_back(text: str) -> None:
    chunks = split_chunks(text)
    assert "".join(chunks) == text
    assert chunks
    if len(text.split()) > 3:
        assert len(chunks) >= 2


@given(st.text(max_size=80))
def test_sse_events_decode_to_the_text(text: str) -> None:
    decoder = SSEDecoder()
    assert stream_events(text) == tuple(sse_events(split_chunks(text)))
    events = [e for chunk in stream_events(text) for e in decoder.feed(chunk)]
    deltas = [parse_delta(e.data) for e in events]
    assert deltas[-1] is None
    assert None not in deltas[:-1]
    expected = text.encode("utf-8", "replace").decode("utf-8")
    assert "".join(d for d in deltas if d is not None) == expected


# --- images -------------------------------------------------------------------------------------

ratio_side = st.integers(1, 999_999)


@given(ratio_side, ratio_side)
@example(999_999, 1)
@example(1, 999_999)
@example(21, 9)
def test_image_size_keeps_the_ratio_within_rounding(w: int, h: int) -> None:
    width, height = image_size(w, h)
    assert max(width, height) == IMAGE_MAX_SIDE
    assert min(width, height) >= 1
    long_side, short_side = max(w, h), min(w, h)
    exact = IMAGE_MAX_SIDE * short_side / long_side
    got = min(width, height)
    assert abs(got - exact) <= 0.5 or (exact < 0.5 and got == 1)
    assert (width >= height) == (w >= h)


@pytest.mark.parametrize(
    ("ratio", "size"),
    [
        ((1, 1), (256, 256)),
        ((16, 9), (256, 144)),
        ((9, 16), (144, 256)),
        ((21, 9), (256, 110)),
        ((999_999, 1), (256, 1)),
    ],
)
def test_rendered_pngs_are_valid_and_small(ratio: tuple[int, int], size: tuple[int, int]) -> None:
    name = image_name(1, "A cat in space", ratio)
    parsed = parse_image_name(name)
    assert parsed is not None
    assert parsed[1:] == size
    data = render_png(*parsed)
    assert png_info(data) == size
    assert len(data) < 300_000
    assert render_png(*parsed) is data  # cached


def test_image_names_depend_on_seed_prompt_and_ratio() -> None:
    base = image_name(1, "cat", (16, 9))
    assert base == image_name(1, "cat", (16, 9))
    assert (
        len(
            {
                base,
                image_name(2, "cat", (16, 9)),
                image_name(1, "dog", (16, 9)),
                image_name(1, "cat", (32, 18)),
            }
        )
        == 4
    )
    assert re.fullmatch(r"[0-9a-f]{16}-256x144", base)


@pytest.mark.parametrize(
    "name",
    [
        "x",
        "0123456789abcdef-0x1",
        "0123456789abcdef-257x1",
        "0123456789ABCDEF-1x1",
        "0123456789abcdef-1x1.png",
        "../0123456789abcdef-1x1",
    ],
)
def test_parse_image_name_refuses_what_it_did_not_make(name: str) -> None:
    assert parse_image_name(name) is None


def test_png_bytes_checks_its_input() -> None:
    assert png_info(png_bytes(2, 1, [b"\x00" * 6])) == (2, 1)
    with pytest.raises(ValueError, match="height rows"):
        png_bytes(2, 2, [b"\x00" * 6])
    with pytest.raises(ValueError, match="width"):
        png_bytes(2, 1, [b"\x00" * 5])


# --- statuses -----------------------------------------------------------------------------------


def test_built_in_bodies_read_like_the_live_service() -> None:
    assert set(BUILTIN_STATUSES) == {401, 402, 403, 429, 500, 502, 503, 504, 520}
    rate = builtin_answer(429)
    assert rate.body == b"Rate limit exceeded"
    assert rate.content_type.startswith("text/plain")
    challenge = builtin_answer(403)
    assert b"<title>Just a moment...</title>" in challenge.body
    assert ("cf-mitigated", "challenge") in challenge.headers
    assert isinstance(error_for_status(403, challenge.body), CloudflareError)
    assert isinstance(error_for_status(429, rate.body), RateLimitError)
    for status in (502, 504, 520):
        assert b"cf-error-details" in builtin_answer(status).body
    assert json.loads(builtin_answer(418).body) == {"error": {"message": "I'm a Teapot"}}
    assert builtin_answer(201).body == b""


def test_status_answer_bodies_and_headers() -> None:
    text = status_answer(StatusStep(429, (("Retry-After", "1"),), "slow down"))
    assert (text.body, text.headers) == (b"slow down", (("Retry-After", "1"),))
    assert status_answer(
        StatusStep(500, (), "<html><body>x</body></html>")
    ).content_type.startswith("text/html")
    as_json = status_answer(StatusStep(500, (), {"error": "x"}))
    assert json.loads(as_json.body) == {"error": "x"}
    assert as_json.content_type == "application/json"
    typed = status_answer(StatusStep(403, (("Content-Type", "text/plain"), ("Server", "nginx"))))
    assert typed.content_type == "text/plain"
    assert ("Server", "nginx") in typed.headers
    assert ("Server", "cloudflare") not in typed.headers


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


def feed_all(chunks: list[bytes]) -> bytes:
    fixer = HeaderFixer()
    return b"".join([*(fixer.feed(c) for c in chunks), fixer.flush()])


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
    whole = b"".join(chunks)
    once = feed_all([whole])
    assert feed_all(chunks) == once
    assert len(once) >= len(whole)  # only ever expands a name, never drops bytes


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
        (gzip.compress(b"x" * 100)[:-10], "gzip", 400, "body"),
        (b"", "deflate", 400, "body"),
        (gzip.compress(b"x" * 101), "gzip", 413, "body"),
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
