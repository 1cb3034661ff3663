"""The client fault matrix: every fault and error status x chat / stream / image, against the mock.

Each cell scripts one answer (a fault step, or a sequence of statuses) on the ``websim_server``
fixture, makes one call through ``websim_core.WebsimClient`` (with an injected sleep, so a retry
never waits), and checks the four promises of issue 4:

- the call raises the documented exception, exactly that class (a raw aiohttp error, or a parent
  class, fails the cell), or succeeds with the same content as an undisturbed call;
- the server saw exactly the number of attempts the retry policy promises (only the rate-limit
  family, 429/402/504, is retried, only for chat and streamed chat, 3 attempts in all; faults
  never are), with the promised waits;
- nothing leaks: the same client makes a good call right after, no connection stays acquired,
  the pool holds only live connections, and once the client is closed no ``ResourceWarning``
  is raised and the server has no connection left open;
- the mock raised nothing in its handlers (the fixture re-raises at teardown).

The table below is the documented one (docs/misbehaviour.md; ``websim_core``'s
error tree): a truncated JSON body is a dropped connection (``WebsimConnectionError``, what
aiohttp's ``ClientPayloadError`` becomes before the body is parsed), a truncated or cut event
stream is a ``ResponseFormatError`` (the client reads the stream and names it cut before
``[DONE]``); a stream fault scripted for ``any`` and taken by an image request cuts or spoils
its JSON body.
"""

from __future__ import annotations

import gc
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from fakes import FakeSleep
from helpers import HELLO, call, pool_state, settle

from mock_server import MockServer
from mock_server.core.steps import FAULT_KINDS
from websim_core import (
    CloudflareError,
    MissingAuthError,
    RateLimitError,
    ResponseFormatError,
    ResponseStatusError,
    RetryPolicy,
    WebsimClient,
    WebsimConnectionError,
    WebsimError,
    WebsimTimeoutError,
)

CALLS = ("chat", "stream", "image")
TIMEOUT = 5.0  # the client's timeout in every cell but the timeout one
SHORT_TIMEOUT = 0.1  # that one: a delay of 200 ms goes past it

CONN, FORMAT, TIMEOUT_ERR = WebsimConnectionError, ResponseFormatError, WebsimTimeoutError
STATUS, RATE, AUTH, CF = ResponseStatusError, RateLimitError, MissingAuthError, CloudflareError
OK = None


@dataclass(frozen=True)
class Cell:
    """What one call does: its exception (None: success), attempts, and the waits between."""

    raises: type[WebsimError] | None
    attempts: int = 1
    waits: tuple[float, ...] = ()


def same(cell: Cell) -> dict[str, Cell]:
    return dict.fromkeys(CALLS, cell)


def retried(raises_after_3: bool = False, waits: tuple[float, ...] = (2.0,)) -> dict[str, Cell]:
    """The rate-limit family: chat and stream retried (3 attempts in all), images never."""
    chat = Cell(RATE, 3, (2.0, 4.0)) if raises_after_3 else Cell(OK, len(waits) + 1, waits)
    return {"chat": chat, "stream": chat, "image": Cell(RATE, 1)}


# row -> (the steps scripted for "any", what each call does)
MATRIX: dict[str, tuple[list[Any], dict[str, Cell]]] = {
    # --- faults on the wire: never retried -----------------------------------------------------
    "connection_reset": (["connection_reset"], same(Cell(CONN))),
    "empty_response": (["empty_response"], same(Cell(CONN))),
    "garbage": ([{"fault": "garbage", "size": 64}], same(Cell(CONN))),
    "garbage_big": ([{"fault": "garbage", "size": 65536}], same(Cell(CONN))),
    "truncated_body": (
        ["truncated_body"],
        {"chat": Cell(CONN), "stream": Cell(FORMAT), "image": Cell(CONN)},
    ),
    "truncated_body_keep_0": (
        [{"fault": "truncated_body", "keep_bytes": 0}],
        {"chat": Cell(CONN), "stream": Cell(FORMAT), "image": Cell(CONN)},
    ),
    "delay_within_timeout": ([{"fault": "delay", "delay_ms": 20}], same(Cell(OK))),
    "delay_past_timeout": ([{"fault": "delay", "delay_ms": 200}], same(Cell(TIMEOUT_ERR))),
    "dribble": ([{"fault": "dribble", "chunks": 7, "duration_ms": 30}], same(Cell(OK))),
    "dribble_byte_by_byte": (
        [{"fault": "dribble", "chunks": 10_000, "duration_ms": 0}],
        same(Cell(OK)),
    ),
    "stream_cut": (
        [{"fault": "stream_cut", "after_events": 1}],
        {"chat": Cell(FORMAT), "stream": Cell(FORMAT), "image": Cell(CONN)},
    ),
    "stream_cut_at_0": (
        [{"fault": "stream_cut", "after_events": 0}],
        {"chat": Cell(FORMAT), "stream": Cell(FORMAT), "image": Cell(CONN)},
    ),
    "stream_cut_after_all": (
        [{"fault": "stream_cut", "after_events": 10_000}],  # every delta, but no [DONE]
        {"chat": Cell(FORMAT), "stream": Cell(FORMAT), "image": Cell(CONN)},
    ),
    "truncated_body_all_but_1": (
        [{"fault": "truncated_body", "keep_bytes": 100 * 1024 * 1024}],
        {"chat": Cell(CONN), "stream": Cell(FORMAT), "image": Cell(CONN)},
    ),
    "dribble_past_timeout": (
        [{"fault": "dribble", "chunks": 4, "duration_ms": 200}],
        same(Cell(TIMEOUT_ERR)),
    ),
    "stream_malformed": (["stream_malformed"], same(Cell(FORMAT))),
    "stream_malformed_first": (
        [{"fault": "stream_malformed", "after_events": 0}],
        same(Cell(FORMAT)),
    ),
    # --- statuses: the rate-limit family is retried (chat only), the rest raise at once --------
    "429_then_200": ([429, 200], retried()),
    "402_then_200": ([402, 200], retried()),
    "504_then_200": ([504, 200], retried()),
    "429_429_then_200": ([429, 429, 200], retried(waits=(2.0, 4.0))),
    "429_retry_after_1": (
        [{"status": 429, "headers": {"Retry-After": "1"}}, 200],
        retried(waits=(1.0,)),
    ),
    "429_x3": ([429, 429, 429], retried(raises_after_3=True)),
    # A fault on the retry of a 429 is not retried either; a delay on it is just slow.
    "429_then_reset": (
        [429, "connection_reset"],
        {"chat": Cell(CONN, 2, (2.0,)), "stream": Cell(CONN, 2, (2.0,)), "image": Cell(RATE)},
    ),
    "429_then_stream_cut": (
        [429, "stream_cut"],
        {"chat": Cell(FORMAT, 2, (2.0,)), "stream": Cell(FORMAT, 2, (2.0,)), "image": Cell(RATE)},
    ),
    "429_then_delay": ([429, {"fault": "delay", "delay_ms": 20}], retried()),
    "500": ([500], same(Cell(STATUS))),
    "502": ([502], same(Cell(STATUS))),
    "503": ([503], same(Cell(STATUS))),
    "520": ([520], same(Cell(STATUS))),
    "401": ([401], same(Cell(AUTH))),
    "403_cloudflare": ([403], same(Cell(CF))),
    "403_plain": (
        [{"status": 403, "body": {"error": {"message": "forbidden"}}}],
        same(Cell(STATUS)),
    ),
}

# The documented table of faults (docs/misbehaviour.md) says what the client raises for each,
# chat / stream / image, and docs/testing.md's fault matrix table what happens past the client's
# timeout; the matrix must agree with both, so they cannot drift apart silently.
DOCS = Path(__file__).resolve().parent.parent / "docs"


def _documented_lines() -> list[str]:
    pages = ("misbehaviour.md", "testing.md")
    return [line for page in pages for line in (DOCS / page).read_text("utf-8").splitlines()]


ERRORS: dict[str, type[WebsimError] | None] = {
    cls.__name__: cls for cls in (CONN, FORMAT, TIMEOUT_ERR, STATUS, RATE, AUTH, CF)
}


def documented_faults() -> dict[str, tuple[type[WebsimError] | None, ...]]:
    """fault kind -> the classes the documented table names for chat, stream and image."""
    table: dict[str, tuple[type[WebsimError] | None, ...]] = {}
    for line in _documented_lines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        kind = re.search(r'`(?:\{"fault": )?"(\w+)"', cells[0]) if len(cells) == 3 else None
        if kind is None or kind[1] not in FAULT_KINDS:
            continue
        parts = [re.search(r"`(\w+)`|none", part) for part in cells[2].split(" / ")]
        classes = tuple(None if m is None or m[1] is None else ERRORS[m[1]] for m in parts)
        table[kind[1]] = classes * 3 if len(classes) == 1 else classes
    return table


def documented_past_timeout() -> dict[str, set[tuple[type[WebsimError] | None, ...]]]:
    """fault kind -> the classes the docs say chat, stream and image raise past the client's
    timeout: the fault table's ``none (`WebsimTimeoutError` past the client's timeout)`` and the
    fault matrix table's "`delay`, `dribble` past the client's timeout" row."""
    said: dict[str, set[tuple[type[WebsimError] | None, ...]]] = {}
    for line in _documented_lines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3:  # the fault table
            kind = re.search(r'`(?:\{"fault": )?"(\w+)"', cells[0])
            named = re.search(r"`(\w+)` past the client's timeout", cells[2])
            if kind is not None and named is not None:
                said.setdefault(kind[1], set()).add((ERRORS[named[1]],) * 3)
        elif len(cells) == 4 and cells[0].endswith("past the client's timeout"):
            parts = [re.fullmatch(r"`(\w+)`", cell) for cell in cells[1:]]
            classes = tuple(None if m is None else ERRORS[m[1]] for m in parts)
            for kind in re.findall(r"`(\w+)`", cells[0]):
                said.setdefault(kind, set()).add(classes)
    return said


# fault kind -> the matrix row with its default-like parameters
DOCUMENTED_ROWS = {
    "connection_reset": "connection_reset",
    "empty_response": "empty_response",
    "garbage": "garbage",
    "truncated_body": "truncated_body",
    "delay": "delay_within_timeout",
    "dribble": "dribble",
    "stream_cut": "stream_cut",
    "stream_malformed": "stream_malformed",
}


def test_the_matrix_agrees_with_the_documented_table() -> None:
    documented = documented_faults()
    assert set(documented) == set(FAULT_KINDS) == set(DOCUMENTED_ROWS)
    for kind, row in DOCUMENTED_ROWS.items():
        in_matrix = tuple(MATRIX[row][1][call].raises for call in CALLS)
        assert in_matrix == documented[kind], kind
    # ...and what the docs say happens past the client's timeout is the matrix's too.
    past_timeout = documented_past_timeout()
    assert set(past_timeout) == {"delay", "dribble"}
    for kind, said in past_timeout.items():
        in_matrix = tuple(MATRIX[f"{kind}_past_timeout"][1][call].raises for call in CALLS)
        assert said == {in_matrix}, kind


async def attempt(client: WebsimClient, how: str) -> object:
    """The call's result, or the exception it raised."""
    try:
        return await call(client, how)
    except Exception as exc:
        return exc


def server_connections(server: MockServer) -> int:
    runner = server._runner
    assert runner is not None
    assert runner.server is not None
    return len(runner.server.connections)


async def check_cell(server: MockServer, row: str, how: str) -> None:
    steps, cells = MATRIX[row]
    expected = cells[how]
    sleep = FakeSleep()
    timeout = SHORT_TIMEOUT if expected.raises is WebsimTimeoutError else TIMEOUT
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = WebsimClient(server.url, retry=RetryPolicy(sleep=sleep), timeout=timeout)
        try:
            undisturbed = await call(client, how)
            server.reset()
            server.script("any", steps)

            outcome = await attempt(client, how)
            if expected.raises is None:
                assert not isinstance(outcome, Exception), f"{row}/{how}: {outcome!r}"
                assert outcome == undisturbed, "a slow or arranged answer is the same answer"
            else:
                # Exactly the documented class: a raw aiohttp error or a parent class fails.
                assert type(outcome) is expected.raises, f"{row}/{how}: {outcome!r}"
                if isinstance(outcome, (WebsimConnectionError, WebsimTimeoutError)):
                    assert server.url in str(outcome), "the message names the URL"

            # Attempts: a handler may still be sleeping (delay past the timeout): wait for it.
            await settle(lambda: len(server.requests) >= expected.attempts)
            assert len(server.requests) == expected.attempts, [
                r["response"] for r in server.requests
            ]
            assert tuple(sleep.delays) == expected.waits
            pending = len(server.state.scripts)
            assert pending == len(steps) - expected.attempts  # the rest was never asked for

            # The client is not damaged: nothing is held, and the next call succeeds.
            acquired, problems = pool_state(client._session)
            assert (acquired, problems) == (0, [])
            server.reset()
            assert await call(client, how) == undisturbed
            acquired, problems = pool_state(client._session)
            assert (acquired, problems) == (0, [])
        finally:
            await client.aclose()
        # Closed: the server sees every connection go (a sleeping handler ends its own).
        await settle(lambda: server_connections(server) == 0)
        assert server_connections(server) == 0
        del client
        gc.collect()
    leaks = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == [], [str(w.message) for w in leaks]


@pytest.mark.parametrize("how", CALLS)
@pytest.mark.parametrize("row", list(MATRIX))
async def test_fault_matrix(websim_server: MockServer, row: str, how: str) -> None:
    await check_cell(websim_server, row, how)


async def test_a_borrowed_session_is_left_usable_after_every_fault(
    websim_server: MockServer,
) -> None:
    """With the caller's own session (not closed by the client), faults leave it usable too."""
    connector = aiohttp.TCPConnector(limit=4)
    async with aiohttp.ClientSession(connector=connector) as session:
        client = WebsimClient(websim_server.url, session=session, timeout=TIMEOUT)
        undisturbed = {how: await call(client, how) for how in CALLS}
        for row in ("connection_reset", "garbage", "truncated_body", "stream_cut"):
            for how in CALLS:
                websim_server.script("any", MATRIX[row][0])
                with pytest.raises(WebsimError):
                    await call(client, how)
                assert await call(client, how) == undisturbed[how]
                assert len(connector._acquired) == 0
        await client.aclose()
        assert not session.closed
    assert connector.closed


async def test_an_abandoned_stream_gives_its_connection_back_when_closed(
    websim_server: MockServer,
) -> None:
    """A caller that stops reading a stream and closes it (aclose) releases the connection."""
    websim_server.script("chat", [{"fault": "dribble", "chunks": 50, "duration_ms": 100}])
    async with WebsimClient(websim_server.url, timeout=TIMEOUT) as client:
        stream = client.stream_chat(HELLO)
        assert isinstance(await anext(stream), str)
        await stream.aclose()  # type: ignore[attr-defined]
        assert pool_state(client._session) == (0, [])
        assert await client.chat(HELLO)
    await settle(lambda: server_connections(websim_server) == 0)
    assert server_connections(websim_server) == 0
