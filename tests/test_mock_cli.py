"""The websim-mock command (mock_server.cli): flags, their errors, and binding beyond loopback."""

from __future__ import annotations

from typing import Any

import pytest

import mock_server.cli as cli
from mock_server import MockServer
from mock_server.server import is_loopback_host

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


@pytest.mark.parametrize(("host", "warned"), [("0.0.0.0", True), ("127.0.0.1", False)])
def test_cli_warns_when_listening_beyond_loopback(
    host: str, warned: bool, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def serve(args: Any, mock: Any = None) -> None:
        return None

    monkeypatch.setattr(cli, "_serve", serve)  # parse, warn, then do not listen
    assert cli.main(["--host", host, "--port", "0"]) == 0
    err = capsys.readouterr().err
    if warned:
        assert err.startswith("websim-mock: warning: listening on 0.0.0.0 exposes the mock")
        assert err.count("\n") == 1
    else:
        assert err == ""


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
    options = cli.mock_options(cli._parser().parse_args(argv))
    assert options["rate_limit"] == "300/min"
    assert options["rate_burst"] == 4
    assert options["rate_limit_scope"] == "project"
    assert options["chaos"] == 0.25
    assert options["chaos_mix"] == "429:1"
    assert options["latency"] == "uniform:1,2"
    assert options["directives"] is True
    MockServer(**options)  # every option is a MockServer keyword


def test_cli_passes_the_limit_and_timeout_flags_on(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--journal-bytes", "1000", "--idle-timeout", "0.5", "--read-timeout", "2"]
    options = cli.mock_options(cli._parser().parse_args(argv))
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
