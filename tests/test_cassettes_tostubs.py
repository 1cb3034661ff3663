"""A cassette as stubs (websim_cassettes.tostubs, ``websim-cassettes stubs``): the mock, given
the stubs, answers every recorded inference request with its recorded status and content."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest
import yaml

from mock_server import MockServer
from mock_server.core.stubs import parse_stubs
from websim_cassettes.__main__ import main
from websim_cassettes.files import cassette_paths, load_cassette
from websim_cassettes.tostubs import cassette_stubs
from websim_core.routing import CHAT_PATH, IMAGE_PATH

CASSETTES = Path(__file__).resolve().parent.parent / "cassettes"


def answer_of(status: int, media_type: str, body: bytes) -> tuple[int, object]:
    """What a client reads from an answer: the content, the URL, or the body."""
    if status == 200 and media_type == "text/event-stream":
        parts = [
            json.loads(line[5:])["content"]
            for line in body.decode().splitlines()
            if line.startswith("data:") and line[5:].strip() != "[DONE]"
        ]
        return status, "".join(parts)
    if status == 200 and media_type.endswith("json"):
        data = json.loads(body)
        return status, data.get("content", data.get("url"))
    return status, body.decode("utf-8", "replace")


@pytest.mark.parametrize("path", cassette_paths(CASSETTES), ids=lambda p: p.stem)
async def test_the_stubs_answer_as_recorded(path: Path) -> None:
    cassette = load_cassette(path)
    stubs = cassette_stubs(cassette)
    parse_stubs(stubs)  # every one is a valid stub
    inference = [i for i in cassette.interactions if i.request.path in (CHAT_PATH, IMAGE_PATH)]
    async with MockServer(stubs=stubs) as server, aiohttp.ClientSession() as session:
        for interaction in inference:
            request, recorded = interaction.request, interaction.response
            try:
                json.loads(request.body)
            except ValueError:
                continue  # not a request a stub can match
            async with session.post(server.url + request.path, data=request.body) as response:
                got = answer_of(response.status, response.content_type, await response.read())
            if recorded.status == 200 or got[0] == 200:
                wanted = answer_of(recorded.status, recorded.media_type, recorded.body)
                assert got == wanted
            else:
                assert got[0] == recorded.status


def test_the_command_prints_yaml_stubs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stubs", str(CASSETTES / "chat_429_429_200.yaml")]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert [stub["respond"].get("status", 200) for stub in printed] == [429, 429, 200]
    assert [stub.get("times") for stub in printed] == [1, 1, None]
    assert main(["stubs", str(CASSETTES / "missing.yaml")]) == 1
