"""The websim-mock command (mock_server.cli): flags, their errors, and binding beyond loopback."""

from __future__ import annotations

import contextlib
import http.client
import json
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Any

import pytest
from helpers import first_line

import mock_server.cli as cli
from mock_server import MockServer
from mock_server.app_server import is_loopback_host
from mock_server.cli_args import parser

# --- binding beyond loopback --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("192.168.1.5", False),
        ("example.org", False),
    ],
)
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(
    ("host", "token", "warning"),
    [
        ("0.0.0.0", None, "no other client (set --admin-token or WEBSIM_MOCK_ADMIN_TOKEN"),
        ("0.0.0.0", "flag", "other clients that send 'Authorization: Bearer <the admin token>'"),
        ("0.0.0.0", "env", "other clients that send 'Authorization: Bearer <the admin token>'"),
        ("127.0.0.1", None, None),
        ("127.0.0.1", "env", None),
    ],
)
def test_cli_warns_when_listening_beyond_loopback(
    host: str,
    token: str | None,
    warning: str | None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def serve(args: Any, mock: Any = None) -> None:
        return None

    monkeypatch.setattr(cli, "_serve", serve)  # parse, warn, then do not listen
    monkeypatch.delenv("WEBSIM_MOCK_ADMIN_TOKEN", raising=False)
    argv = ["--host", host, "--port", "0"]
    if token == "flag":
        argv += ["--admin-token", "s3cret"]
    elif token == "env":
        monkeypatch.setenv("WEBSIM_MOCK_ADMIN_TOKEN", "s3cret")
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    if warning is None:
        assert err == ""
        return
    assert err.startswith("websim-mock: warning: listening on 0.0.0.0 exposes the mock")
    assert warning in err
    assert "s3cret" not in err
    assert err.count("\n") == 1


def test_ctrl_c_with_an_answer_in_flight_stops_promptly_and_quietly() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_server", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = first_line(proc.stdout).split()[-1]  # type: ignore[arg-type]
        _post(
            url + "/__admin/scenarios",
            {"endpoint": "chat", "responses": [{"fault": "delay", "delay_ms": 5000}]},
        )
        held = threading.Thread(target=_call_held, args=(url,), daemon=True)
        held.start()
        _wait_for_one_request(url)
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert (proc.returncode, out.count("\n"), err) == (0, 0, "")
    # The delay step holds the answer a minute. aiohttp's graceful wait alone would be 4 s; the
    # bound leaves room for the interpreter's exit on a loaded machine (1.6 s seen at load 16).
    assert took < 3.5, f"stopped {took:.2f} s after SIGINT"


def _post(url: str, body: object) -> bytes:
    request = urllib.request.Request(url, data=json.dumps(body).encode())
    with urllib.request.urlopen(request, timeout=10) as answer:
        return bytes(answer.read())


def _call_held(url: str) -> None:
    body = {"project_id": "abc", "messages": [{"role": "user", "content": "hi"}]}
    with contextlib.suppress(OSError, http.client.HTTPException):
        _post(url + "/api/v1/inference/run_chat_completion", body)


def _wait_for_one_request(url: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with urllib.request.urlopen(url + "/__admin/requests", timeout=10) as answer:
            if json.loads(answer.read()):
                return
        time.sleep(0.02)
    raise AssertionError("the held request never reached the mock")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rate-limit", "5/x"], "rate limit must"),
        (["--rate-burst", "3"], "--rate-burst: needs --rate-limit"),
        (["--chaos", "2"], "fraction 0..1"),
        (["--chaos-mix", "429:1,boom"], "unknown fault"),
        (["--latency", "slow"], "latency must"),
        (["--latency", "fixed:5", "--latency-ms", "5"], "not both"),
        (["--rate-limit-scope", "user"], "invalid choice"),
        (["--chaos", "0.1", "--cassettes", "x"], "--chaos go with the generated answers"),
        (["--latency-ms", "70000"], "--latency-ms: must be <= 60000"),
        (["--max-sessions", "0"], "--max-sessions: must be an integer >= 1"),
        (["--session-idle-seconds", "-5"], "--session-idle-seconds: must be an integer >= 1"),
        (["--unmatched", "405"], "--unmatched: must be 'generate' or '404', not '405'"),
        (["--unmatched", "404", "--cassettes", "x"], "--unmatched go with the generated"),
    ],
)
def test_cli_refuses_bad_misbehaviour_flags(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = cli.main(argv)
    except SystemExit as exit:
        code = exit.code
    assert code not in (0, None)
    assert message in capsys.readouterr().err + str(code)


def test_cli_passes_the_misbehaviour_flags_on() -> None:
    argv = ["--rate-limit", "300/min", "--rate-burst", "4", "--rate-limit-scope", "project"]
    argv += ["--chaos", "0.25", "--chaos-mix", "429:1", "--latency", "uniform:1,2", "--directives"]
    options = cli.mock_options(parser().parse_args(argv))
    assert options["rate_limit"] == "300/min"
    assert options["rate_burst"] == 4
    assert options["rate_limit_scope"] == "project"
    assert options["chaos"] == 0.25
    assert options["chaos_mix"] == "429:1"
    assert options["latency"] == "uniform:1,2"
    assert options["directives"] is True
    MockServer(**options)  # every option is a MockServer keyword


def test_cli_passes_unmatched_on() -> None:
    assert cli.mock_options(parser().parse_args([]))["unmatched"] == "generate"
    options = cli.mock_options(parser().parse_args(["--unmatched", "404"]))
    assert MockServer(**options).config.unmatched == "404"


def test_cli_passes_the_session_limits_on() -> None:
    argv = ["--max-sessions", "5", "--session-idle-seconds", "30"]
    options = cli.mock_options(parser().parse_args(argv))
    assert (options["max_sessions"], options["session_idle_seconds"]) == (5, 30)
    server = MockServer(**options)
    assert (server.state.sessions.max_sessions, server.state.sessions.idle_seconds) == (5, 30)


def test_cli_passes_the_limit_and_timeout_flags_on(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--journal-bytes", "1000", "--idle-timeout", "0.5", "--read-timeout", "2"]
    options = cli.mock_options(parser().parse_args(argv))
    assert (options["journal_bytes"], options["idle_timeout"], options["read_timeout"]) == (
        1000,
        0.5,
        2.0,
    )
    server = MockServer(**options)
    assert (server.config.idle_timeout, server.config.read_timeout) == (0.5, 2.0)
    for bad, message in (
        (["--read-timeout", "0"], "--read-timeout: must be a number of seconds > 0"),
        (["--journal-bytes", "-1"], "--journal-bytes: must be an integer >= 0"),
    ):
        with pytest.raises(SystemExit):
            cli.main(bad)
        assert message in capsys.readouterr().err
