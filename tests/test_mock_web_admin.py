"""The admin API's guard (mock_server.web.admin): loopback only, or the admin token in constant time.

A non-loopback peer cannot be had on loopback, so the guard is driven with aiohttp's
``make_mocked_request`` and a transport whose peer address the test chooses.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any
from unittest import mock

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

import mock_server.cli as cli
from mock_server import MockServer, create_app, get_state
from mock_server.cli_args import parser
from mock_server.web.paging import PAGE_SIZE

# --- the admin API ------------------------------------------------------------------------------


async def admin_call(
    app: web.Application, remote: str, headers: dict[str, str] | None = None
) -> web.StreamResponse:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        (remote, 40000) if name == "peername" else default
    )
    request = make_mocked_request(
        "GET", "/__admin/requests", headers=headers or {}, app=app, transport=transport
    )
    match = await app.router.resolve(request)
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]] = match.handler
    return await handler(request)  # a refusal is a web.Response, the journal a stream


def error_of(response: web.StreamResponse) -> dict[str, Any]:
    assert isinstance(response, web.Response)
    assert response.body is not None
    error: dict[str, Any] = json.loads(response.body)  # type: ignore[arg-type]
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
    assert cli.mock_options(parser().parse_args([]))["admin_token"] == "from-env"
    args = parser().parse_args(["--admin-token", "flag"])
    assert cli.mock_options(args)["admin_token"] == "flag"
    monkeypatch.delenv("WEBSIM_MOCK_ADMIN_TOKEN")
    assert cli.mock_options(parser().parse_args([]))["admin_token"] is None


# --- reading the journal and the scripts a page at a time ----------------------------------------


async def test_the_journal_is_read_a_page_at_a_time() -> None:
    async with MockServer() as server, aiohttp.ClientSession() as session:
        for i in range(PAGE_SIZE + 5):
            server.state.journal.record(
                time=0.0, method="GET", path=f"/p{i}", raw_headers=(), body=b"", endpoint=None,
                status=404,
            )  # fmt: skip
        url = server.url + "/__admin/requests"
        async with session.get(url) as first:
            page = await first.json()
        assert (page["count"], page["total"], page["next"]) == (PAGE_SIZE, PAGE_SIZE + 5, PAGE_SIZE)
        assert [r["id"] for r in page["requests"]] == list(range(1, PAGE_SIZE + 1))
        async with session.get(url, params={"since": page["next"], "limit": "3"}) as second:
            page = await second.json()
        assert [r["path"] for r in page["requests"]] == [f"/p{i}" for i in range(100, 103)]
        async with session.get(url, params={"since": "102", "limit": "1000"}) as last:
            page = await last.json()
        assert (page["count"], page["next"]) == (3, None)
        async with session.get(url, params={"limit": "1001"}) as bad:
            assert bad.status == 400
            assert (await bad.json())["field"] == "limit"
        async with session.head(url) as head:
            assert (head.status, await head.read()) == (200, b"")


async def test_the_waiting_steps_are_read_a_page_at_a_time() -> None:
    async with MockServer() as server, aiohttp.ClientSession() as session:
        server.script("chat", [429, 500])
        server.script("image", [503])
        server.script("any", [200] * 200)
        url = server.url + "/__admin/scenarios"
        async with session.get(url, params={"limit": "2"}) as first:
            page = await first.json()
        assert [p["endpoint"] for p in page["pending"]] == ["chat", "chat"]
        assert (page["count"], page["next"], page["waiting"]) == (2, 2, 203)
        async with session.get(url, params={"since": "2", "limit": "2"}) as second:
            page = await second.json()
        assert [(p["id"], p["endpoint"]) for p in page["pending"]] == [(3, "image"), (4, "any")]
        async with session.get(url) as default:
            assert (await default.json())["count"] == PAGE_SIZE
        async with session.get(url, params={"since": "x"}) as bad:
            assert bad.status == 400
