"""Stub files (mock_server.stubfiles, websim-mock --stubs): read whole, reloaded whole on change,
a broken file keeping the set in force."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from pathlib import Path

import pytest
import yaml
from helpers import settle

import mock_server.cli as cli
from mock_server import stubfiles
from mock_server.core.config import MockConfig
from mock_server.core.errors import ConfigError, StubError
from mock_server.core.state import MockState
from mock_server.server import MockServer
from mock_server.stubfiles import load_stub_files, read_stub_files, snapshot, watch_stub_files
from mock_server.threaded import ThreadedMockServer

SPAM = """\
- name: spam
  match: {last_user_message: {contains: unsubscribe, ignore_case: true}}
  respond: {reply: spam}
"""


def names(state: MockState) -> list[str | None]:
    return [stub.name for stub in state.stubs.list()]


def test_a_folder_is_read_in_file_name_order(tmp_path: Path) -> None:
    (tmp_path / "b.json").write_text('{"name": "json-one", "respond": {"reply": "j"}}')
    (tmp_path / "a.yaml").write_text(SPAM)
    (tmp_path / "empty.yml").write_text("")
    (tmp_path / "notes.txt").write_text("not stubs")
    state = MockState()
    assert load_stub_files(state, tmp_path) == 2
    assert names(state) == ["spam", "json-one"]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("- {respond: {reply: 1}}", "stubs.yaml[0].respond.reply"),
        ("- {respond: {reply: ok}}\n- [", "stubs file"),
        ("- {match: {turns: {min: 2, max: 1}}, respond: {}}", "stubs.yaml[0].match.turns"),
    ],
)
def test_a_bad_file_names_the_file_and_the_field(tmp_path: Path, text: str, field: str) -> None:
    (tmp_path / "stubs.yaml").write_text(text)
    with pytest.raises(StubError) as caught:
        read_stub_files(tmp_path / "stubs.yaml")
    assert caught.value.field.startswith(field)


async def test_a_changed_file_reloads_the_set_and_a_broken_one_keeps_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "stubs.yaml"
    path.write_text(SPAM)
    state = MockState()
    seen = snapshot(path)
    load_stub_files(state, path)
    watcher = asyncio.create_task(watch_stub_files(state, path, seen, interval=0.01))
    try:
        with caplog.at_level(logging.INFO, logger="mock_server.stubs"):
            path.write_text(SPAM.replace("spam", "ham"))
            os.utime(path, ns=(1, 1))  # a new mtime even on a coarse clock
            await settle(lambda: names(state) == ["ham"], within=5.0)
            assert names(state) == ["ham"]
            assert "stubs reloaded" in caplog.text
            path.write_text("- {respond: {reply: 1}}")
            os.utime(path, ns=(2, 2))
            await settle(lambda: "not reloaded" in caplog.text, within=5.0)
            assert "not reloaded" in caplog.text
            assert names(state) == ["ham"]  # the previous set stays in force
            state.stubs.clear()
            state.reset()
            assert names(state) == ["ham"]  # a reset goes back to the file's set
    finally:
        watcher.cancel()


def test_the_cli_refuses_a_bad_stubs_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "stubs.yaml"
    path.write_text("- {match: {last_user_message: {regex: '('}}, respond: {}}")
    with pytest.raises(SystemExit):
        cli.main(["--stubs", str(path)])
    assert "argument --stubs: invalid stubs.yaml[0].match.last_user_message.regex" in (
        capsys.readouterr().err
    )
    with pytest.raises(SystemExit):
        cli.main(["--stubs", str(tmp_path / "missing.yaml")])
    assert "argument --stubs: invalid stubs: no such file" in capsys.readouterr().err


@pytest.mark.parametrize("as_path", [str, Path], ids=["str", "Path"])
async def test_mock_server_takes_a_stubs_file_path_and_reloads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_path: type
) -> None:
    monkeypatch.setattr(stubfiles, "POLL_SECONDS", 0.01)
    path = tmp_path / "stubs.yaml"
    path.write_text(SPAM)
    async with MockServer(stubs=as_path(path)) as server:
        assert server.config.stubs == [yaml.safe_load(SPAM)[0]]
        assert names(server.state) == ["spam"]
        path.write_text(SPAM.replace("spam", "ham"))
        os.utime(path, ns=(1, 1))
        await settle(lambda: names(server.state) == ["ham"], within=5.0)
        assert names(server.state) == ["ham"]
    assert server._watcher is None  # closed with the server


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "- {match: {last_user_message: {regex: '('}}, respond: {}}",
            "invalid stubs.yaml[0].match.last_user_message.regex",
        ),
        (None, "invalid stubs: no such file or folder"),
    ],
)
def test_mock_server_refuses_a_bad_stubs_file_as_the_cli_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str | None, message: str
) -> None:
    path = tmp_path / "stubs.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        MockServer(stubs=str(path))
    with pytest.raises(SystemExit):
        cli.main(["--stubs", str(path)])
    assert f"argument --stubs: {caught.value}" in capsys.readouterr().err
    with pytest.raises(ConfigError, match=re.escape(message)):
        ThreadedMockServer(stubs=path).start()


def test_the_threaded_server_reads_a_stubs_path(tmp_path: Path) -> None:
    path = tmp_path / "stubs.yaml"
    path.write_text(SPAM)
    with ThreadedMockServer(stubs=path) as server:
        assert server.server is not None
        assert names(server.server.state) == ["spam"]


def test_mock_config_says_where_a_path_is_read() -> None:
    with pytest.raises(ConfigError, match=r"MockServer\(stubs=PATH\)"):
        MockConfig(stubs="tests/stubs.yaml")
