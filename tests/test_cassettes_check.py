"""``websim-cassettes check``: the committed cassettes are clean; planted secrets, malformed bodies,
bad IDs and unloadable files are each reported as ``file:interaction: problem``, exit 1."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
import vcr
from helpers import COMMITTED_CASSETTES
from vcr.serialize import deserialize
from vcr.serializers import yamlserializer

from websim_cassettes import (
    CassetteFile,
    Interaction,
    check_directory,
    check_file,
    dump_cassette,
    load_cassette,
)
from websim_cassettes.__main__ import main

COMMITTED = COMMITTED_CASSETTES


def _plant(tmp_path: Path, source: str, change: object) -> Path:
    """Copy a committed cassette with its first interaction changed by ``change``."""
    cassette = load_cassette(COMMITTED / source)
    first = cassette.interactions[0]
    changed = change(first)  # type: ignore[operator]
    target = tmp_path / source
    target.write_text(
        dump_cassette([changed, *cassette.interactions[1:]], cassette.provenance), encoding="utf-8"
    )
    return target


def test_committed_cassettes_are_clean(capsys: pytest.CaptureFixture[str]) -> None:
    # The harness's own cassettes must each say what they were recorded against.
    assert main(["check", "--require-provenance", str(COMMITTED)]) == 0
    assert capsys.readouterr().out == ""
    # websim_core's client recorded them, so their IDs are canonical: clean when strict too.
    assert main(["check", "--require-provenance", "--strict-ids", str(COMMITTED)]) == 0
    assert capsys.readouterr().out == ""


def test_the_command_runs_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "websim_cassettes", "check", "--require-provenance", str(COMMITTED)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout) == (0, ""), result.stderr


def test_a_planted_secret_is_found(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def leak(item: Interaction) -> Interaction:
        request = dataclasses.replace(
            item.request,
            headers={**item.request.headers, "Authorization": "Bearer s3cr3t-t0k3n-abcdef"},
        )
        body = json.dumps({"content": "the key is sk-proj-abcdefghijklmnopqrstuvwxyz123456"})
        response = dataclasses.replace(item.response, body=body.encode())
        return Interaction(request, response)

    path = _plant(tmp_path, "chat_basic.yaml", leak)
    assert main(["check", str(tmp_path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert f"{path}:0: request header 'Authorization' is not redacted" in lines
    assert any(
        line.startswith(f"{path}:0: response body holds what looks like a secret (API key (sk-)")
        for line in lines
    ), lines
    assert len(lines) == 2, lines


def test_a_planted_malformed_body_is_found(tmp_path: Path) -> None:
    def break_it(item: Interaction) -> Interaction:
        return Interaction(
            item.request, dataclasses.replace(item.response, body=b'{"content": 42}')
        )

    path = _plant(tmp_path, "chat_basic.yaml", break_it)
    findings = [f.line() for f in check_directory(tmp_path)]
    assert findings == [f"{path}:0: chat 200 body has no string 'content' (int)"]


@pytest.mark.parametrize(
    ("source", "change", "problem"),
    [
        (
            "image_1_1.yaml",
            lambda i: Interaction(
                i.request, dataclasses.replace(i.response, body=b'{"url": "ftp://x"}')
            ),
            "image 200 'url' is not an http(s) URL: \"ftp://x\"",
        ),
        (
            "chat_basic.yaml",
            lambda i: Interaction(
                dataclasses.replace(
                    i.request,
                    body=json.dumps(
                        {
                            "project_id": "kx0m131_rzz66qb2xoy7",
                            "messages": [{"role": "user", "content": "x"}],
                        }
                    ).encode(),
                ),
                i.response,
            ),
            "chat request project_id 'kx0m131_rzz66qb2xoy7' is not a valid chat ID",
        ),
        (
            "chat_basic.yaml",
            lambda i: Interaction(
                dataclasses.replace(i.request, uri="https://websim.ai/api/v2/chat"), i.response
            ),
            "request path '/api/v2/chat' is not a Websim inference endpoint",
        ),
        (
            "chat_429_exhausted.yaml",
            lambda i: Interaction(i.request, dataclasses.replace(i.response, body=b"slow down")),
            "429 body does not mention 'Rate limit' as the API's does",
        ),
        (
            "chat_stream.yaml",
            lambda i: Interaction(
                i.request, dataclasses.replace(i.response, body=b'data: {"content": "a"}\n\n')
            ),
            "event stream does not end with data: [DONE]",
        ),
        (
            "chat_basic.yaml",
            lambda i: Interaction(
                i.request,
                dataclasses.replace(
                    i.response, headers={**i.response.headers, "Set-Cookie": ["session=1"]}
                ),
            ),
            "response header 'Set-Cookie' is recorded (it must be dropped)",
        ),
    ],
    ids=[
        "image-url",
        "id-for-other-endpoint",
        "unknown-path",
        "429-body",
        "stream-no-done",
        "set-cookie",
    ],
)
def test_each_problem_is_named(tmp_path: Path, source: str, change: object, problem: str) -> None:
    path = _plant(tmp_path, source, change)
    # Strict for the image ID on chat (the default mock takes it); the rest ignore the mode.
    lines = [f.line() for f in check_file(path, strict_ids=True)]
    assert any(line.startswith(f"{path}:0: {problem}") for line in lines), lines


def _with_id(project_id: str) -> object:
    def change(item: Interaction) -> Interaction:
        data = {"project_id": project_id, "messages": [{"role": "user", "content": "x"}]}
        request = dataclasses.replace(item.request, body=json.dumps(data).encode())
        return Interaction(request, item.response)

    return change


@pytest.mark.parametrize("project_id", ["ke3_xh5gai3gjkmruom", "kx0m131_rzz66qb2xoy7"])
def test_ids_are_judged_in_the_mocks_mode(
    tmp_path: Path, project_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # gpt4free's legacy 3_15 and an image-shaped ID on chat: the default mock answers both, the
    # strict mock refuses both with a 400, and the checker says the same in each mode.
    path = _plant(tmp_path, "chat_basic.yaml", _with_id(project_id))
    assert check_file(path) == []
    problem = f"chat request project_id {project_id!r} is not a valid chat ID (must match "
    strict = [f.line() for f in check_file(path, strict_ids=True)]
    assert [line.startswith(f"{path}:0: {problem}") for line in strict] == [True], strict
    assert main(["check", str(tmp_path)]) == 0
    assert main(["check", "--strict-ids", str(tmp_path)]) == 1
    assert capsys.readouterr().out.startswith(f"{path}:0: {problem}")


def test_a_trailing_slash_is_not_an_endpoint(tmp_path: Path) -> None:
    # The mock answers 404 there, so a recording of it is not of the chat endpoint.
    uri = "https://websim.ai/api/v1/inference/run_chat_completion/"
    path = _plant(
        tmp_path,
        "chat_basic.yaml",
        lambda i: Interaction(dataclasses.replace(i.request, uri=uri), i.response),
    )
    lines = [f.line() for f in check_file(path)]
    assert lines == [
        f"{path}:0: request path '/api/v1/inference/run_chat_completion/' is not a Websim "
        "inference endpoint"
    ]


def test_missing_provenance_and_unloadable_files(tmp_path: Path) -> None:
    cassette = load_cassette(COMMITTED / "chat_basic.yaml")
    (tmp_path / "bare.yaml").write_text(dump_cassette(cassette.interactions), encoding="utf-8")
    (tmp_path / "broken.yaml").write_text("interactions: [\n", encoding="utf-8")
    (tmp_path / "old.yaml").write_text("- request: {}\n", encoding="utf-8")
    lines = sorted(f.line() for f in check_directory(tmp_path, require_provenance=True))
    assert lines[0].startswith(f"{tmp_path}/bare.yaml:-: no provenance")
    assert lines[1].startswith(f"{tmp_path}/broken.yaml:-: vcrpy cannot load it: ")
    assert lines[2].startswith(f"{tmp_path}/old.yaml:-: vcrpy cannot load it: ValueError")
    # Without the requirement, a cassette without provenance (plain vcrpy's) is judged on its
    # interactions alone: the bare copy of a clean cassette is clean.
    assert check_file(tmp_path / "bare.yaml") == []


def test_empty_directory_is_a_finding(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path)]) == 1
    assert capsys.readouterr().out == f"{tmp_path}:-: no cassettes (*.yaml, *.yml) here or below\n"


# --- any vcrpy user can load them ---------------------------------------------------------------


def test_vcrpy_deserializes_them_as_plain_cassettes() -> None:
    for path in sorted(COMMITTED.glob("*.yaml")):
        loaded = deserialize(path.read_text(encoding="utf-8"), yamlserializer)
        # Two values: no vcrpy metadata, which pytest-recording 0.14's persister cannot unpack.
        assert len(loaded) == 2, path.name
        assert len(loaded[0]) == len(loaded[1]) >= 1


async def test_plain_vcrpy_replays_a_cassette(tmp_path: Path) -> None:
    shutil.copy(COMMITTED / "chat_basic.yaml", tmp_path)
    plain = vcr.VCR(record_mode="none", match_on=["method", "path"])
    with plain.use_cassette(str(tmp_path / "chat_basic.yaml")) as cassette:
        async with aiohttp.ClientSession() as session:
            response = await session.post(
                "https://websim.ai/api/v1/inference/run_chat_completion", data=b"{}"
            )
            answer = await response.json()
    assert cassette.all_played
    assert isinstance(answer["content"], str)
    assert answer["content"]
    assert isinstance(load_cassette(tmp_path / "chat_basic.yaml"), CassetteFile)


def test_public_names() -> None:
    import websim_cassettes as package

    assert package.__all__ == sorted(package.__all__, key=lambda n: (not n.isupper(), n))
    for name in package.__all__:
        assert getattr(package, name) is not None, name
