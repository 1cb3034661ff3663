"""``websim-cassettes record`` end to end against the mock: every cassette recorded, checked and
compared; a planted drift is named; --accept replaces atomically; no network fails in one line."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from websim_cassettes import check_directory, load_cassette
from websim_cassettes.files import write_atomic
from websim_cassettes.record import RecordOptions, RecordReport, ScenarioResult, accept, record
from websim_cassettes.scenarios import SCENARIOS, scenario_by_name


async def _record(**options: Any) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await record(RecordOptions(**options), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


async def test_record_check_drift_accept(websim_server: Any, tmp_path: Path) -> None:
    committed = tmp_path / "cassettes"
    code, out, err = await _record(base_url=websim_server.url, cassettes=committed, accept=True)
    assert code == 0, out + err
    total = len(SCENARIOS)
    progress = [line for line in err.splitlines() if line.startswith("[")]
    assert progress[0].startswith(f"[ 1/{total}] chat_basic.yaml ... recorded, 1 interaction(s)")
    assert progress[-1].startswith(f"[{total}/{total}] image_4_3.yaml ... recorded")
    assert f"Accepted: {total} cassette(s) replaced in {committed}." in out
    assert sorted(p.name for p in committed.iterdir()) == sorted(s.cassette for s in SCENARIOS)
    assert check_directory(committed, require_provenance=True) == []
    provenance = load_cassette(committed / "chat_429_429_200.yaml").provenance
    assert provenance["recorded_against"] == "mock"
    assert provenance["base_url"] == websim_server.url
    assert provenance["arranged"]["responses"][2] == 200
    before = _snapshot(committed)

    # Plant a drift: the mock is told to answer the next chat with a field the API never sent.
    websim_server.script("chat", [{"status": 200, "body": {"content": "Hi!", "model": "gemini-9"}}])
    code, out, err = await _record(
        base_url=websim_server.url, cassettes=committed, only=("chat_basic", "image_1_1")
    )
    assert code == 0, out + err
    assert out.splitlines()[:6] == [
        "Drift report (recorded now vs committed):",
        "  chat_basic.yaml: 1 change(s)",
        "    #0 response field added: model (string)",
        "  image_1_1.yaml: no drift",
        "1 of 2 cassette(s) drifted.",
        f"Committed cassettes in {committed} left as they are (--accept replaces them).",
    ]
    assert _snapshot(committed) == before  # not asked to accept: nothing changed

    websim_server.script("chat", [{"status": 200, "body": {"content": "Hi!", "model": "gemini-9"}}])
    code, out, _ = await _record(
        base_url=websim_server.url, cassettes=committed, only=("chat_basic",), accept=True
    )
    assert code == 0
    assert "Accepted: 1 cassette(s) replaced" in out
    body = load_cassette(committed / "chat_basic.yaml").interactions[0].response.body
    assert b'"model"' in body
    after = _snapshot(committed)
    assert [n for n in after if after[n] != before[n]] == ["chat_basic.yaml"]


async def test_against_the_live_api_arranged_scenarios_are_skipped(
    websim_server: Any, tmp_path: Path
) -> None:
    # The target refuses the 4:3 image its own way (told so here, as a live API might).
    websim_server.script("image", [{"status": 400, "body": {"error": {"message": "no 4:3"}}}])
    code, out, err = await _record(
        base_url=websim_server.url,
        cassettes=tmp_path,
        target="live",
        only=("chat_basic", "chat_401", "image_4_3"),
    )
    assert "[2/3] chat_401.yaml ... skipped: its answer must be arranged" in err
    assert "  chat_401.yaml: skipped: its answer must be arranged" in out
    # A real request the target answers its own way: reported, never faked.
    assert "FAILED image_4_3.yaml: expected an image, got ResponseStatusError: " in out
    assert code == 1
    assert os.listdir(tmp_path) == []


async def test_failures_or_findings_refuse_to_accept(websim_server: Any, tmp_path: Path) -> None:
    websim_server.script("chat", [500])  # chat_basic expects an answer
    code, out, _ = await _record(
        base_url=websim_server.url, cassettes=tmp_path, only=("chat_basic",), accept=True
    )
    assert code == 1
    assert "FAILED chat_basic.yaml: expected an answer, got ResponseStatusError" in out
    assert "Not accepted: fix the failures and findings above first." in out
    assert os.listdir(tmp_path) == []


async def test_unreachable_target_fails_fast_in_one_line(
    closed_port_url: str, tmp_path: Path
) -> None:
    code, out, err = await _record(base_url=closed_port_url, cassettes=tmp_path)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"websim-cassettes record: cannot reach {closed_port_url}: ")
    assert err.endswith("; nothing recorded, cassettes untouched\n")


def test_no_network_to_the_api_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "WEBSIM_BASE_URL": "https://websim.invalid"}
    result = subprocess.run(
        [sys.executable, "-m", "websim_cassettes", "record", "--cassettes", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("websim-cassettes record: cannot reach https://websim.invalid: ")


def test_accept_stages_everything_before_replacing_anything(tmp_path: Path) -> None:
    new, committed = tmp_path / "new", tmp_path / "committed"
    new.mkdir()
    committed.mkdir()
    for name in ("chat_basic.yaml", "chat_500.yaml"):
        (committed / name).write_text(f"old {name}\n")
    (new / "chat_basic.yaml").write_text("new chat_basic\n")  # chat_500's file is missing
    results = [
        ScenarioResult(scenario_by_name(name), "recorded", "ok", 1)
        for name in ("chat_basic", "chat_500")
    ]
    report = RecordReport("mock", "http://x", new, results, [], [])
    before = _snapshot(committed)
    with pytest.raises(FileNotFoundError):
        accept(report, committed)
    assert _snapshot(committed) == before  # untouched, and no staged temp file left behind

    (new / "chat_500.yaml").write_text("new chat_500\n")
    accept(report, committed)
    assert _snapshot(committed) == {
        "chat_500.yaml": b"new chat_500\n",
        "chat_basic.yaml": b"new chat_basic\n",
    }


def test_write_atomic_leaves_the_old_file_when_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "c.yaml"
    target.write_text("old\n")

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, "new\n" * 1000)
    assert [p.name for p in tmp_path.iterdir()] == ["c.yaml"]
    assert target.read_text() == "old\n"
