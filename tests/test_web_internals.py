"""mock_server.web.internals: the aiohttp internals the mock relies on are still there.

An aiohttp upgrade that moves one of them must fail here, loudly, not degrade the mock in
silence (plain-text errors, or every request through the router).
"""

from __future__ import annotations

from types import SimpleNamespace

import aiohttp
import pytest
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from mock_server.web.internals import (
    CHECKED_AIOHTTP,
    AiohttpChanged,
    check_internals,
    route_fixed_paths,
)


def test_the_installed_aiohttp_is_one_the_internals_were_checked_against() -> None:
    installed = ".".join(aiohttp.__version__.split(".")[:2])
    assert installed in CHECKED_AIOHTTP, (
        f"aiohttp {aiohttp.__version__} is not in CHECKED_AIOHTTP {CHECKED_AIOHTTP}: read"
        " mock_server/web/internals.py against it, run the suite, then add it there"
    )


def test_the_internals_are_in_place() -> None:
    check_internals()  # raises AiohttpChanged naming what moved


def test_a_missing_handle_error_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(RequestHandler, "handle_error")
    with pytest.raises(AiohttpChanged, match="handle_error"):
        check_internals()


def test_a_missing_make_request_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(web.Application, "_make_request")
    with pytest.raises(AiohttpChanged, match="_make_request"):
        check_internals()


def test_a_server_without_request_handler_is_reported() -> None:
    with pytest.raises(AiohttpChanged, match="request_handler"):
        route_fixed_paths(SimpleNamespace(), {})  # type: ignore[arg-type]
