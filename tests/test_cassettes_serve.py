"""``websim-mock --cassettes DIR`` serves recorded answers to any HTTP client, 404 naming the closest
requests on a miss; ``--record-to DIR --upstream URL`` passes streams through as they arrive and
writes scrubbed cassettes atomically."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from fakes import FakeSleep
from helpers import COMMITTED_CASSETTES, DOWNSTREAM_CASSETTES

from mock_server.app_server import AppServer
from mock_server.record_proxy import ProxyServer
from mock_server.replay import ReplayServer
from websim_cassettes import (
    REDACTED,
    cassette_paths,
    check_directory,
    load_cassette,
    make_vcr,
)
from websim_cassettes.scenarios import SCENARIOS, run_scenario
from websim_core import RateLimitError, RetryPolicy, WebsimClient
from websim_core.routing import CHAT_PATH
from websim_core.sse import SSEDecoder, encode_delta, parse_delta

COMMITTED = COMMITTED_CASSETTES
HELLO = [{"role": "user", "content": "Hello, how are you?"}]


def _client(url: str, sleep: FakeSleep | None = None, **kw: Any) -> WebsimClient:
    return WebsimClient(url, retry=RetryPolicy(sleep=sleep or FakeSleep()), **kw)


# --- replay server ------------------------------------------------------------------------------


async def test_every_scenario_replays_over_http() -> None:
    async with ReplayServer(COMMITTED) as server:
        for scenario in SCENARIOS:
            sleep = FakeSleep()
            async with _client(server.url, sleep) as client:
                outcome = await run_scenario(scenario, client, sleep.delays)
            assert scenario.expect(outcome) is None, (scenario.name, outcome.describe())


async def test_a_miss_is_a_404_naming_the_closest_requests() -> None:
    async with (
        ReplayServer(COMMITTED) as server,
        aiohttp.ClientSession() as session,
        session.post(
            server.url + CHAT_PATH,
            data=json.dumps(
                {
                    "project_id": "abc_0123456789abcdef",
                    "messages": [{"role": "user", "content": "Hello!"}],
                }
            ),
        ) as response,
    ):
        assert response.status == 404
        body = await response.json()
    assert body["message"].startswith(f"no recorded interaction matches POST {CHAT_PATH}")
    assert body["field"] == "body"
    assert body["closest"][0]["cassette"] == "chat_basic.yaml"
    assert body["closest"][0]["differences"] == [
        'messages[0].content: "Hello!" here, "Hello, how are you?" recorded'
    ]


async def test_sequences_replay_in_order_and_reset() -> None:
    otters = {
        "project_id": "zzz_0123456789abcdef",
        "messages": [{"role": "user", "content": "Tell me one fun fact about otters."}],
    }
    async with ReplayServer(COMMITTED, repeat="none") as server, aiohttp.ClientSession() as session:

        async def status() -> int:
            async with session.post(server.url + CHAT_PATH, json=otters) as response:
                return response.status

        assert [await status() for _ in range(4)] == [429, 429, 200, 404]
        async with session.post(server.url + "/__admin/reset") as response:
            assert response.status == 200
        assert await status() == 429


async def test_a_recorded_stream_is_sent_event_by_event() -> None:
    messages = [{"role": "user", "content": "Count from one to five, in words."}]
    async with ReplayServer(COMMITTED) as server, _client(server.url) as client:
        deltas = [d async for d in client.stream_chat(messages)]
    recorded = load_cassette(COMMITTED / "chat_stream.yaml").interactions[0].response.body
    events = SSEDecoder().feed(recorded)
    assert deltas == [parse_delta(e.data) for e in events[:-1]]
    assert len(deltas) > 1


# --- recording proxy ----------------------------------------------------------------------------


async def test_proxy_records_scrubbed_cassettes_that_replay(
    websim_server: Any, tmp_path: Path
) -> None:
    secret_headers = {
        "content-type": "text/plain;charset=UTF-8",
        "Authorization": "Bearer abcdefghijklmnopqrstuvwxyz",
        "Cookie": "session=s3cr3t",
    }
    async with (
        ProxyServer(websim_server.url, tmp_path, cassette="session") as proxy,
        _client(proxy.url, headers=secret_headers) as client,
    ):
        answer = await client.chat(HELLO)
        deltas = [d async for d in client.stream_chat(HELLO)]
        image = await client.generate_image("A cat in space")
        websim_server.script("chat", [429, 429, 429])
        with pytest.raises(RateLimitError):
            await client.chat([{"role": "user", "content": "Too fast?"}])
    path = tmp_path / "session.yaml"
    assert sorted(os.listdir(tmp_path)) == ["session.yaml"]  # no temporary file left
    cassette = load_cassette(path)
    assert [i.response.status for i in cassette.interactions] == [200, 200, 200, 429, 429, 429]
    assert cassette.provenance["recorded_against"] == "mock"
    assert cassette.provenance["recorded_with"] == "mock_server.record_proxy"
    for item in cassette.interactions:
        assert "Cookie" not in item.request.headers
        assert item.request.headers["Authorization"] == REDACTED
    assert check_directory(tmp_path, require_provenance=True) == []
    text = path.read_text()
    assert "s3cr3t" not in text
    assert "abcdefghijklmnop" not in text

    # The recording replays through vcrpy with the same client calls, offline.
    with make_vcr(cassette_library_dir=tmp_path).use_cassette("session.yaml") as replay:
        async with _client("https://websim.ai") as client:
            assert await client.chat(HELLO) == answer
            assert [d async for d in client.stream_chat(HELLO)] == deltas
            assert (await client.generate_image("A cat in space")).url == image.url
            with pytest.raises(RateLimitError):
                await client.chat([{"role": "user", "content": "Too fast?"}])
    assert replay.all_played


async def test_the_cassette_header_picks_the_file(websim_server: Any, tmp_path: Path) -> None:
    async with ProxyServer(websim_server.url, tmp_path) as proxy:
        headers = {"X-Websim-Cassette": "chat_hello", "content-type": "text/plain"}
        async with _client(proxy.url, headers=headers) as client:
            await client.chat(HELLO)
    assert os.listdir(tmp_path) == ["chat_hello.yaml"]


async def test_streams_pass_through_as_they_arrive(tmp_path: Path) -> None:
    release = asyncio.Event()

    async def slow_stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(encode_delta("first "))
        await release.wait()  # the rest only once the client has seen the first delta
        await response.write(encode_delta("second") + b"data: [DONE]\n\n")
        return response

    upstream = web.Application()
    upstream.router.add_post(CHAT_PATH, slow_stream)
    async with (
        AppServer(upstream) as origin,
        ProxyServer(origin.url, tmp_path, cassette="s") as proxy,
        _client(proxy.url) as client,
    ):
        stream = client.stream_chat(HELLO)
        first = await asyncio.wait_for(stream.__anext__(), timeout=10)
        release.set()
        rest = [d async for d in stream]
    assert [first, *rest] == ["first ", "second"]
    body = load_cassette(tmp_path / "s.yaml").interactions[0].response.body
    assert body == encode_delta("first ") + encode_delta("second") + b"data: [DONE]\n\n"


async def test_compressed_answers_pass_through_and_are_stored_decoded(tmp_path: Path) -> None:
    async def gzipped(request: web.Request) -> web.StreamResponse:
        body = gzip.compress(json.dumps({"content": "squeezed"}).encode())
        return web.Response(
            body=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )

    upstream = web.Application()
    upstream.router.add_post(CHAT_PATH, gzipped)
    async with (
        AppServer(upstream) as origin,
        ProxyServer(origin.url, tmp_path, cassette="z") as proxy,
        _client(proxy.url) as client,
    ):
        assert await client.chat(HELLO) == "squeezed"
    response = load_cassette(tmp_path / "z.yaml").interactions[0].response
    assert response.body == b'{"content": "squeezed"}'
    assert response.header("content-encoding") is None
    assert response.header("content-length") == str(len(response.body))


async def test_an_unreachable_upstream_is_a_502(closed_port_url: str, tmp_path: Path) -> None:
    async with (
        ProxyServer(closed_port_url, tmp_path) as proxy,
        aiohttp.ClientSession() as session,
        session.post(proxy.url + CHAT_PATH, data=b"{}") as response,
    ):
        assert response.status == 502
        assert "unreachable" in (await response.json())["message"]
    assert os.listdir(tmp_path) == []


# --- the websim-mock command --------------------------------------------------------------------


async def _start(*args: str) -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mock_server",
        "--port",
        "0",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), timeout=30)).decode()
    assert line.startswith("websim mock server listening on "), line
    return process, line.rsplit(" ", 1)[1].strip()


async def test_websim_mock_cassettes_serves_them() -> None:
    process, url = await _start("--cassettes", str(COMMITTED))
    try:
        async with _client(url) as client:
            assert await client.chat(HELLO)
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=30) == 0


async def test_websim_mock_record_to_survives_a_kill(websim_server: Any, tmp_path: Path) -> None:
    process, url = await _start(
        "--record-to", str(tmp_path), "--upstream", websim_server.url, "--cassette", "killed"
    )
    try:
        async with _client(url) as client:
            for n in range(3):
                await client.chat([{"role": "user", "content": f"Question {n}"}])
    finally:
        process.kill()  # no chance to clean up: what is on disk must still be whole
        await process.wait()
    assert os.listdir(tmp_path) == ["killed.yaml"]
    assert len(load_cassette(tmp_path / "killed.yaml").interactions) == 3
    assert check_directory(tmp_path, require_provenance=True) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--record-to", "x"], "websim-mock: error: --record-to needs --upstream URL"),
        (
            ["--cassettes", "/nonexistent-dir"],
            "websim-mock: error: no cassettes (*.yaml, *.yml) in /nonexistent-dir or its subfolders",
        ),
        (
            ["--upstream", "http://x"],
            "websim-mock: error: --upstream and --cassette go with --record-to",
        ),
    ],
)
def test_websim_mock_flag_errors_are_one_line(args: list[str], message: str) -> None:
    import subprocess

    result = subprocess.run(
        [sys.executable, "-m", "mock_server", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == message


async def test_websim_mock_strict_ids_replays_only_what_the_strict_mock_accepts(
    tmp_path: Path,
) -> None:
    recorded = (Path(__file__).parents[1] / "cassettes" / "chat_basic.yaml").read_text(
        encoding="utf-8"
    )
    legacy = recorded.replace("2lr_qqerhta2sao70l1t", "2lr_qqerhta2sao70l1")  # 3_15: gpt4free's
    (tmp_path / "legacy.yaml").write_text(legacy, encoding="utf-8")
    lenient = ReplayServer(tmp_path)
    strict = ReplayServer(tmp_path, strict_ids=True)
    assert (lenient.index.size, lenient.index.rejected) == (1, [])
    assert strict.index.size == 0
    assert len(strict.index.rejected) == 1
    assert "project_id" in strict.index.rejected[0]


async def test_websim_mock_cassettes_reads_pytest_recordings_folders() -> None:
    # A downstream project's tests/cassettes/<module>/<test>.yaml, its body a json= dict as vcrpy
    # stores it (a YAML mapping): a request identical to the recorded one gets the recorded answer.
    [path] = cassette_paths(DOWNSTREAM_CASSETTES)
    interaction = load_cassette(path).interactions[0]
    process, url = await _start("--cassettes", str(DOWNSTREAM_CASSETTES))
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.post(url + CHAT_PATH, json=json.loads(interaction.request.body)) as response,
        ):
            assert response.status == 200
            assert await response.read() == interaction.response.body
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=30) == 0
