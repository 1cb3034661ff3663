"""Stub files (mock_server.stubfiles, websim-mock --stubs): read whole, reloaded whole on change,
a broken file keeping the set in force."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest

import mock_server.cli as cli
from mock_server.core.errors import StubError
from mock_server.core.state import MockState
from mock_server.stubfiles import load_stub_files, read_stub_files, snapshot, watch_stub_files

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
            await until(lambda: names(state) == ["ham"])
            assert "stubs reloaded" in caplog.text
            path.write_text("- {respond: {reply: 1}}")
            os.utime(path, ns=(2, 2))
            await until(lambda: "not reloaded" in caplog.text)
            assert names(state) == ["ham"]  # the previous set stays in force
            state.stubs.clear()
            state.reset()
            assert names(state) == ["ham"]  # a reset goes back to the file's set
    finally:
        watcher.cancel()


async def until(condition: object, within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


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
