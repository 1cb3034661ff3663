"""Security: the admin API's guard and token, the exposed-host warning, path traversal, limits.

A non-loopback peer cannot be had on loopback, so the admin guard is driven with aiohttp's
``make_mocked_request`` and a transport whose peer address the test chooses.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from unittest import mock

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from helpers import raw_exchange

import mock_server.cli as cli
from mock_server import MockServer, create_app, get_state
from mock_server.server import is_loopback_host
from websim_core.routing import CHAT_PATH

# --- the admin API ------------------------------------------------------------------------------


async def admin_call(
    app: web.Application, remote: str, headers: dict[str, str] | None = None
) -> web.Response:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        (remote, 40000) if name == "peername" else default
    )
    request = make_mocked_request(
        "GET", "/__admin/requests", headers=headers or {}, app=app, transport=transport
    )
    match = await app.router.resolve(request)
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]] = match.handler
    response = await handler(request)
    assert isinstance(response, web.Response)
    return response


def error_of(response: web.Response) -> dict[str, Any]:
    assert response.body is not None
    error: dict[str, Any] = json.loads(response.body)["error"]  # type: ignore[arg-type]
    return error


async def test_without_a_token_remote_admin_clients_get_403() -> None:
    app = create_app()
    response = await admin_call(app, "10.1.2.3", {"Authorization": "Bearer anything"})
    assert response.status == 403
    assert error_of(response)["field"] == "remote"
    assert "--admin-token" in error_of(response)["message"]
    assert (await admin_call(app, "127.0.0.1")).status == 200
    assert (await admin_call(app, "::1")).status == 200


@pytest.mark.parametrize(
    ("remote", "authorization", "status"),
    [
        ("10.1.2.3", None, 401),
        ("10.1.2.3", "Bearer wrong", 401),
        ("10.1.2.3", "Bearer s3cret-token-x", 401),
        ("10.1.2.3", "Basic s3cret-token", 401),
        ("10.1.2.3", "s3cret-token", 401),
        ("10.1.2.3", "Bearer s3cret-token", 200),
        ("2001:db8::7", "bearer  s3cret-token ", 200),
        ("127.0.0.1", None, 200),  # loopback needs no token
    ],
)
async def test_a_token_lets_remote_admin_clients_in(
    remote: str, authorization: str | None, status: int
) -> None:
    app = create_app(admin_token="s3cret-token")
    headers = {} if authorization is None else {"Authorization": authorization}
    with mock.patch(
        "mock_server.web.admin.hmac.compare_digest", wraps=hmac.compare_digest
    ) as compare:
        response = await admin_call(app, remote, headers)
    assert response.status == status
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert error_of(response)["field"] == "authorization"
    if authorization and authorization.lower().startswith("bearer") and remote != "127.0.0.1":
        compare.assert_called_once()  # constant-time comparison
    assert get_state(app).journal.total == 0  # admin calls are not journaled


def test_admin_token_option() -> None:
    with pytest.raises(ValueError, match="admin_token"):
        create_app(admin_token="  ")


def test_cli_takes_the_admin_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBSIM_MOCK_ADMIN_TOKEN", "from-env")
    assert cli.mock_options(cli._parser().parse_args([]))["admin_token"] == "from-env"
    args = cli._parser().parse_args(["--admin-token", "flag"])
    assert cli.mock_options(args)["admin_token"] == "flag"
    monkeypatch.delenv("WEBSIM_MOCK_ADMIN_TOKEN")
    assert cli.mock_options(cli._parser().parse_args([]))["admin_token"] is None


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


# --- what any client can send -------------------------------------------------------------------


def answer_of(data: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower()
    return int(head.split(b" ", 2)[1]), json.loads(body)


TRAVERSALS = [
    "/images/../../etc/passwd",
    "/images/..%2f..%2fetc%2fpasswd",
    "/images/%2e%2e/%2e%2e/etc/passwd",
    "/images/..%5c..%5cetc%5cpasswd",
    "/images/%2e%2e%2f%2e%2e%2fmock_server%2fapp.py",
    "/images/0123456789abcdef-256x256.png%00.txt",
    "/images/0123456789abcdef-256x256.png/../../../etc/passwd",
    "/images/" + "a" * 4000 + ".png",
    "/images/0123456789abcdef-999x999.png",
]


@pytest.mark.parametrize("path", TRAVERSALS)
async def test_image_paths_never_reach_a_file(websim_server: MockServer, path: str) -> None:
    request = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    with mock.patch("builtins.open", side_effect=AssertionError("a file was opened")):
        status, body = answer_of(await raw_exchange(websim_server.port, request))
    assert status in (400, 404)
    assert body["error"]["field"] == "path"


@pytest.mark.parametrize(
    "head",
    [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X" * 9000 + b": 1\r\n\r\n",
        b"GET /healthz?" + b"q" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-%d: 1\r\n" % i for i in range(200))
        + b"\r\n",
    ],
    ids=["long-value", "long-name", "long-url", "too-many"],
)
async def test_headers_over_the_limits_get_a_json_431(
    websim_server: MockServer, head: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    status, body = answer_of(await raw_exchange(websim_server.port, head))
    assert status == 431
    assert body["error"]["field"] == "headers"
    assert "8190" in body["error"]["message"]
    async with aiohttp.ClientSession() as session, session.get(websim_server.url + "/healthz") as r:
        assert r.status == 200  # the server goes on
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_requests_that_are_not_http_get_a_json_400(
    websim_server: MockServer, caplog: pytest.LogCaptureFixture
) -> None:
    status, body = answer_of(
        await raw_exchange(websim_server.port, b"\x16\x03\x01\x02\x00garbage\r\n\r\n")
    )
    assert status == 400
    assert body["error"]["message"].startswith("the request is not valid HTTP/1.1")
    bad_chunks = (
        f"POST {CHAT_PATH} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
    ).encode()
    status, _ = answer_of(await raw_exchange(websim_server.port, bad_chunks))
    assert status == 400
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_bodies_over_the_limit_get_a_413() -> None:
    async with MockServer(max_body_bytes=100) as server:
        body = json.dumps({"project_id": "a", "messages": [{"role": "user", "content": "x" * 200}]})
        for extra in ("", "Transfer-Encoding: chunked\r\n"):
            if extra:
                payload = f"{len(body):x}\r\n{body}\r\n0\r\n\r\n"
                head = f"POST {CHAT_PATH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n"
            else:
                payload = body
                head = (
                    f"POST {CHAT_PATH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                )
            status, answer = answer_of(await raw_exchange(server.port, (head + payload).encode()))
            assert status == 413
            assert answer["error"]["field"] == "body"
