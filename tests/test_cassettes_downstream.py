"""The harness's tools on a downstream project's own cassettes: pytest-recording's folders
(``tests/cassettes/<module>/<test>.yaml``), bodies as vcrpy's aiohttp stub stores them (a ``json=``
dict as a YAML mapping, ``data=`` bytes or text), no provenance block. ``websim-cassettes check``,
``stubs``, the drift report, the replay index and ``websim-mock --cassettes`` all read them."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
from pathlib import Path

import aiohttp
import pytest
from helpers import DOWNSTREAM_CASSETTES

from mock_server import ThreadedMockServer
from mock_server.replay import ReplayServer
from websim_cassettes import (
    Hit,
    ReplayIndex,
    check_directory,
    dump_cassette,
    load_cassette,
    make_vcr,
)
from websim_cassettes.__main__ import main
from websim_cassettes.drift import compare_cassettes
from websim_core.routing import CHAT_PATH

TIPSTER = "test_tipster/test_a_tip_from_the_cassette.yaml"
# The request tipster sends (its project ID is random: any valid one matches).
TIP = {
    "project_id": "abc_0123456789abcdef",
    "messages": [
        {"role": "system", "content": "Answer with one short tip."},
        {"role": "user", "content": "A tip about sourdough, please."},
    ],
}
# How an aiohttp app may send a body; vcrpy stores each as it was given.
SENT_AS = {
    "json": lambda body: {"json": body},
    "bytes": lambda body: {"data": json.dumps(body).encode()},
    "text": lambda body: {"data": json.dumps(body, indent=2)},
}


def _body(topic: str) -> dict[str, object]:
    return {
        "project_id": "xyz_fedcba9876543210",
        "messages": [{"role": "user", "content": f"A tip about {topic}, please."}],
    }


async def _record(base: str, folder: Path) -> None:
    recorder = make_vcr(record_mode="once", cassette_library_dir=folder)
    async with aiohttp.ClientSession() as session:
        for name, how in SENT_AS.items():
            with recorder.use_cassette(f"test_{name}.yaml"):
                async with session.post(base + CHAT_PATH, **how(_body(name))) as response:
                    assert response.status == 200


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A downstream project's tests/cassettes: tipster's own, and one recorded per body form."""
    cassettes = tmp_path_factory.mktemp("app") / "tests" / "cassettes"
    shutil.copytree(DOWNSTREAM_CASSETTES, cassettes)
    with ThreadedMockServer() as server:
        asyncio.run(_record(server.url, cassettes / "test_app"))
    return cassettes


def test_the_recorded_forms_are_what_vcrpy_stores(project: Path) -> None:
    stored = (project / "test_app" / "test_json.yaml").read_text(encoding="utf-8")
    assert "body:\n      messages:" in stored  # a YAML mapping, as the plugin's tipster cassette


def test_check_reads_them_recursively_and_needs_no_provenance(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(project)]) == 0
    assert capsys.readouterr().out == ""
    assert main(["check", "--strict-ids", str(DOWNSTREAM_CASSETTES)]) == 0
    assert capsys.readouterr().out == ""
    # Asked for, provenance is the only thing they lack: one finding per file, nothing else.
    assert main(["check", "--require-provenance", str(project)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    assert all(
        line.endswith(
            ":-: no provenance (top-level websim_harness: where, when and "
            "with what it was recorded)"
        )
        for line in lines
    )


def test_a_plain_cassette_is_still_checked_for_its_bodies(project: Path, tmp_path: Path) -> None:
    bad = tmp_path / "test_mod" / "test_bad.yaml"
    bad.parent.mkdir()
    shutil.copy(project / TIPSTER, bad)
    text = bad.read_text(encoding="utf-8").replace("project_id: vkw_hzif77cwsm5pqq98", "a: 1")
    bad.write_text(text, encoding="utf-8")
    assert [f.line() for f in check_directory(tmp_path)] == [
        f"{bad}:0: chat request has no project_id",
        f"{bad}:0: request is invalid (invalid project_id: is missing) yet got 200",
    ]


def test_every_body_form_replays_from_the_index_whatever_form_is_sent(project: Path) -> None:
    index = ReplayIndex.from_directory(project)
    assert index.rejected == []
    assert sorted(index.cassettes) == [
        "test_app/test_bytes.yaml",
        "test_app/test_json.yaml",
        "test_app/test_text.yaml",
        TIPSTER,
    ]
    for recorded in SENT_AS:
        for sent in ("bytes", "text"):
            body = SENT_AS[sent](_body(recorded))["data"]
            found = index.lookup("POST", CHAT_PATH, body)
            assert isinstance(found, Hit), (recorded, sent, found)
            assert found.recorded.cassette == f"test_app/test_{recorded}.yaml"
    assert isinstance(index.lookup("POST", CHAT_PATH, json.dumps(TIP).encode()), Hit)


async def test_the_replay_server_answers_an_identical_request_as_recorded() -> None:
    recorded = load_cassette(DOWNSTREAM_CASSETTES / TIPSTER).interactions[0].response.body
    async with ReplayServer(DOWNSTREAM_CASSETTES) as server, aiohttp.ClientSession() as session:
        async with session.post(server.url + CHAT_PATH, json=TIP) as response:
            assert response.status == 200
            assert await response.read() == recorded
            assert response.headers["X-Websim-Replayed-From"] == f"{TIPSTER}#0"
        other = {**TIP, "messages": [{"role": "user", "content": "A tip about rye, please."}]}
        async with session.post(server.url + CHAT_PATH, json=other) as response:
            assert response.status == 404
            miss = await response.json()
    # The mock's flat error shape, plus the near misses.
    assert set(miss) == {"message", "field", "closest"}
    assert miss["field"] == "body"
    assert miss["closest"][0]["cassette"] == TIPSTER
    assert miss["closest"][0]["differences"] == [
        "messages: 1 items here, 2 recorded",
        'messages[0].content: "A tip about rye, please." here, "Answer with one short tip." recorded',
        'messages[0].role: "user" here, "system" recorded',
    ]


def test_stubs_answer_the_recorded_request(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stubs", str(DOWNSTREAM_CASSETTES / TIPSTER)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# websim-mock --stubs: 1 stub(s) from ")
    assert "equals: A tip about sourdough, please." in out


def test_drift_compares_the_fields_of_a_json_dict_body(tmp_path: Path) -> None:
    old = load_cassette(DOWNSTREAM_CASSETTES / TIPSTER)
    (first,) = old.interactions
    body = {**json.loads(first.request.body), "json": True}
    changed = dataclasses.replace(
        first, request=dataclasses.replace(first.request, body=json.dumps(body).encode())
    )
    (tmp_path / "new.yaml").write_text(dump_cassette([changed]), encoding="utf-8")
    drift = compare_cassettes("tipster", old, load_cassette(tmp_path / "new.yaml"))
    assert [item.line() for item in drift.items] == ["#0 request field added: json (boolean)"]
