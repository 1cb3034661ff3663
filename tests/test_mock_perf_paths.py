"""The mock server's fast paths give what the general paths give.

Each shortcut taken for speed (issue 7) is checked against the code it short-cuts: the
HeaderFixer's one-regex path against its general loop, the chat answer cache keyed by texts
against the JSON-keyed one, ``route_fixed_paths`` against aiohttp's router, and the journal's
packed entries against what was recorded.
"""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any
from unittest import mock

import aiohttp
from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import message_lists

from mock_server import AppServer, MockServer, build_app
from mock_server.core.config import MockConfig
from mock_server.core.errors import RequestRefused
from mock_server.core.journal import Journal, JournalEntry
from mock_server.core.replies import (
    _chat_digest,
    _compose,
    _conversation_json,
    _printable,
    chat_answer,
    chat_body,
    digest,
)
from mock_server.core.state import MockState
from mock_server.core.steps import StatusStep
from mock_server.web.app import FIXED_ROUTES_KEY
from mock_server.web.exchange import read_body
from mock_server.web.internals import route_fixed_paths
from mock_server.web.playback import Note
from mock_server.web.wire import HeaderFixer
from websim_core.routing import CHAT_PATH, IMAGE_PATH

# --- HeaderFixer: fast path == general loop -------------------------------------------------------


class GeneralFixer(HeaderFixer):
    """A HeaderFixer that never takes the fast path."""

    __slots__ = ()

    def feed(self, data: bytes) -> bytes:
        return data if self.passthrough else self._feed(data)


def _state(fixer: HeaderFixer) -> tuple[Any, ...]:
    return (fixer.passthrough, fixer._body_left, fixer._buffer)


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


# --- chat answers: the texts-keyed cache == the JSON-keyed one ------------------------------------

odd_messages = st.lists(
    st.fixed_dictionaries(
        {
            "role": st.one_of(st.sampled_from(["user", "assistant"]), st.integers(0, 3)),
            "content": st.one_of(st.text(max_size=8), st.none(), st.integers(0, 3)),
        }
    ),
    max_size=4,
)


@settings(max_examples=200)
@given(st.integers(0, 3), st.one_of(message_lists, odd_messages))
def test_chat_answer_is_the_answer_to_the_json_conversation(
    seed: int, messages: list[dict[str, Any]]
) -> None:
    from websim_core.protocol import content_text

    pairs = [[str(m.get("role")), content_text(m.get("content"))] for m in messages]
    assert chat_answer(seed, messages) == _compose(seed, json.dumps(pairs))


def test_chat_answer_of_a_long_conversation_is_not_cached_by_texts() -> None:
    long = [{"role": "user", "content": "word " * 5000}]
    pairs = [["user", "word " * 5000]]
    assert chat_answer(0, long) == _compose(0, json.dumps(pairs))


# --- route_fixed_paths == aiohttp's router ------------------------------------------------------------


async def test_route_fixed_paths_skips_the_router_only_for_fixed_paths() -> None:
    app = build_app(MockState(MockConfig()))
    fallen: list[str] = []

    async def fallback(request: web.BaseRequest) -> web.StreamResponse:
        fallen.append(request.path)
        return web.Response(status=299)

    server = SimpleNamespace(request_handler=fallback)  # what route_fixed_paths reads and sets
    route_fixed_paths(server, app[FIXED_ROUTES_KEY])  # type: ignore[arg-type]
    handle = server.request_handler
    direct = await handle(make_mocked_request("GET", "/healthz", app=app))
    assert direct.status == 200
    put = await handle(make_mocked_request("PUT", "/healthz", app=app))
    assert put.status == 405
    assert put.headers["Allow"] == "GET, HEAD"
    for method, path, headers in (
        ("GET", "/images/abc.png", {}),
        ("GET", "/nowhere", {}),
        ("GET", "/healthz/", {}),
        ("POST", CHAT_PATH, {"Expect": "100-continue"}),
    ):
        response = await handle(make_mocked_request(method, path, headers=headers, app=app))
        assert response.status == 299
    assert fallen == ["/images/abc.png", "/nowhere", "/healthz/", CHAT_PATH]


REQUESTS: list[tuple[str, str, dict[str, str], bytes]] = [
    (
        "POST",
        CHAT_PATH,
        {},
        b'{"project_id": "p_1", "messages": [{"role": "user", "content": "Hi"}]}',
    ),
    ("POST", CHAT_PATH, {"Expect": "100-continue"}, b'{"project_id": "p_1", "messages": []}'),
    ("POST", CHAT_PATH, {}, b"not json"),
    ("GET", CHAT_PATH, {}, b""),
    ("HEAD", CHAT_PATH, {}, b""),
    ("POST", IMAGE_PATH, {}, b'{"project_id": "p_2", "prompt": "A cat", "aspect_ratio": "16:9"}'),
    ("PATCH", IMAGE_PATH, {}, b"x"),
    ("GET", "/healthz", {}, b""),
    ("HEAD", "/healthz", {}, b""),
    ("DELETE", "/openapi.json", {}, b""),
    ("GET", "/healthz?probe=1", {}, b""),
    ("GET", "/api%2Fv1/inference/run_chat_completion", {}, b""),
    ("GET", "/images/0123456789abcdef-16x9.png", {}, b""),
    ("GET", "/images/nope.png", {}, b""),
    ("GET", "/__admin/scenarios", {}, b""),
    ("PUT", "/__admin/reset", {}, b""),
    ("GET", "/nowhere", {}, b"body"),
]


async def _answers(url: str) -> list[tuple[int, str, str | None, bytes]]:
    out = []
    async with aiohttp.ClientSession() as session:
        for method, path, headers, body in REQUESTS:
            async with session.request(
                method, url + path, headers=headers, data=body or None
            ) as response:
                body = (await response.read()).replace(url.encode(), b"URL")
                content_type = response.headers.get("Content-Type", "")
                out.append((response.status, content_type, response.headers.get("Allow"), body))
    return out


def _journal(state: MockState, url: str) -> list[dict[str, Any]]:
    entries = []
    for entry in state.journal.entries():
        data = entry.to_json()
        del data["id"], data["time"]
        data["headers"].pop("host", None)
        entries.append(json.loads(json.dumps(data).replace(url, "URL")))
    return entries


async def test_mock_server_answers_as_its_application_routed_by_aiohttp() -> None:
    async with MockServer() as direct:
        fast = await _answers(direct.url)
        fast_journal = _journal(direct.state, direct.url)
    state = MockState(MockConfig())
    async with AppServer(build_app(state)) as routed:
        state.public_url = routed.url
        slow = await _answers(routed.url)
        slow_journal = _journal(state, routed.url)
    assert fast == slow
    assert fast_journal == slow_journal
    assert [status for status, *_ in fast][:4] == [200, 400, 400, 405]


async def test_route_fixed_paths_keeps_100_continue() -> None:
    async with MockServer() as server:
        host, port = server.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        body = b'{"project_id": "p_1", "messages": [{"role": "user", "content": "Hi"}]}'
        writer.write(
            b"POST %s HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n"
            % (CHAT_PATH.encode(), len(body))
        )
        assert await asyncio.wait_for(reader.readline(), 5) == b"HTTP/1.1 100 Continue\r\n"
        assert await asyncio.wait_for(reader.readline(), 5) == b"\r\n"
        writer.write(body)
        assert await asyncio.wait_for(reader.readline(), 5) == b"HTTP/1.1 200 OK\r\n"
        writer.close()
        await writer.wait_closed()


# --- the journal: packed entries give back what was recorded --------------------------------------

header_pairs = st.lists(
    st.tuples(
        st.one_of(st.sampled_from([b"Host", b"websim-flags%3b", b"a"]), st.binary(max_size=6)),
        st.one_of(st.sampled_from([b"", b"x\r\ny", b"\r", b"\n", b"v\r"]), st.binary(max_size=6)),
    ),
    max_size=4,
).map(tuple)


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(
            st.floats(allow_nan=False, allow_infinity=False),
            st.sampled_from(["GET", "POST", "PATCH"]),
            st.text(max_size=12),
            header_pairs,
            st.binary(max_size=12),
            st.sampled_from([None, "chat", "image"]),
            st.sampled_from([200, 400, 0]),
            st.one_of(st.none(), st.binary(max_size=12)),  # the answer's body
            st.sampled_from([None, StatusStep(429)]),
        ),
        max_size=6,
    ),
    st.integers(1, 4),
    st.integers(0, 8),
)
def test_journal_entries_are_what_was_recorded(
    records: list[tuple[Any, ...]], maxlen: int, max_body: int
) -> None:
    journal = Journal(maxlen, max_body)
    expected = []
    for i, (when, method, path, headers, body, endpoint, status, answer, step) in enumerate(
        records, start=1
    ):
        entry_id = journal.record(
            time=when,
            method=method,
            path=path,
            raw_headers=headers,
            body=body,
            endpoint=endpoint,
            status=status,
            response_type="application/json" if answer else None,
            response_body=answer,
            source="reply",
            step=step,
        )
        assert entry_id == i
        expected.append(
            JournalEntry(
                i,
                when,
                method,
                path,
                headers,
                body[:max_body],
                len(body),
                endpoint,
                status,
                "application/json" if answer else None,
                answer,
                "reply",
                step,
            )
        )
    assert journal.entries() == expected[-maxlen:]
    assert journal.dropped == max(0, len(records) - maxlen)


def test_journal_packs_in_batches_and_reads_everything() -> None:
    journal = Journal(maxlen=100, max_body=4)
    for i in range(150):
        journal.record(
            time=float(i),
            method="POST",
            path=f"/p{i}",
            raw_headers=((b"N", b"%d" % i),),
            body=b"body%d" % i,
            endpoint="chat",
            status=200,
        )
        assert len(journal) == min(i + 1, 100)
    entries = journal.entries()
    assert [e.id for e in entries] == list(range(51, 151))
    assert [e.path for e in entries[:2]] == ["/p50", "/p51"]
    assert entries[-1].raw_headers == ((b"N", b"149"),)
    assert (entries[-1].body, entries[-1].body_size) == (b"body", 7)
    assert journal.dropped == 50
    journal.clear()
    assert (len(journal), journal.dropped, journal.entries()) == (0, 0, [])
    entry_id = journal.record(
        time=0.0, method="GET", path="/", raw_headers=(), body=b"", endpoint=None, status=404
    )
    assert entry_id == 151


# --- the body taken whole == the body read by request.read() ---------------------------------------


async def _body_of(chunks: list[bytes], limit: int, *, whole: bool) -> bytes | int:
    """What the chat handler's body reader gives: the body, or the status it answers."""
    loop = asyncio.get_running_loop()
    reader = StreamReader(mock.Mock(_reading_paused=False), 2**16, loop=loop)

    def feed_rest(rest: list[bytes]) -> None:
        for chunk in rest:
            reader.feed_data(chunk)
        reader.feed_eof()

    if whole:  # everything arrived with the headers: the shortcut
        feed_rest(chunks)
    else:  # the last piece arrives while the handler waits: request.read()
        for chunk in chunks[:-1]:
            reader.feed_data(chunk)
        loop.call_soon(feed_rest, chunks[-1:])
    request = make_mocked_request("POST", CHAT_PATH, payload=reader, client_max_size=limit)
    try:
        return await read_body(request, Note(), limit)
    except web.HTTPException as exc:
        return exc.status
    except RequestRefused as exc:
        return exc.status


@settings(max_examples=60)
@given(
    chunks=st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=4),
    slack=st.integers(-2, 2),  # the limit near the body's size: the 413 boundary
)
async def test_a_body_taken_whole_is_the_body_read(chunks: list[bytes], slack: int) -> None:
    body = b"".join(chunks)
    limit = max(1, len(body) + slack)
    taken = await _body_of(chunks, limit, whole=True)
    read = await _body_of(chunks, limit, whole=False)
    assert taken == read
    assert taken == (body if len(body) <= limit else 413)


# --- the answer's JSON built by hand == json.dumps -------------------------------------------------


@given(st.lists(st.tuples(st.text(), st.text()), max_size=4))
def test_conversation_json_is_json_dumps(pairs: list[tuple[str, str]]) -> None:
    assert _conversation_json(pairs) == json.dumps([list(p) for p in pairs])


@given(st.text())
def test_chat_body_is_json_dumps(text: str) -> None:
    try:
        expected = json.dumps({"content": text}, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates are replaced, as in every answer
        expected = json.dumps({"content": _printable(text)}, ensure_ascii=False).encode("utf-8")
    assert chat_body(text) == expected


@given(st.integers(-(2**70), 2**70), st.lists(st.tuples(st.text(), st.text()), max_size=3))
def test_the_chat_digest_from_a_copy_is_the_digest(seed: int, pairs: list[tuple[str, str]]) -> None:
    conversation = _conversation_json(pairs)
    assert _chat_digest(seed, conversation) == digest("chat", str(seed), conversation)
