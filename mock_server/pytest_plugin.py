"""pytest fixtures for the Websim mock, registered through the ``pytest11`` entry point.

``websim_server``: a ``MockServer`` in the test's event loop on a free port; a handler that
raises fails the test at teardown. ``websim_server_options``: its keywords; override it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from .server import MockServer

try:
    from pytest_asyncio import fixture as _async_fixture
except ImportError:  # pragma: no cover - pytest then says it cannot run the async fixture
    _async_fixture = pytest.fixture  # type: ignore[assignment]

__all__ = ["websim_server", "websim_server_options"]


@pytest.fixture
def websim_server_options() -> dict[str, Any]:
    """Keywords for ``MockServer`` (``seed``, ``strict_ids``, ``latency_ms``, ``rate_limit``,
    ``chaos``, ``directives``, ``stubs``...); override me."""
    return {}


@_async_fixture
async def websim_server(websim_server_options: dict[str, Any]) -> AsyncIterator[MockServer]:
    """A running mock Websim: ``.url``, ``.requests``, ``.script(endpoint, steps)``,
    ``.stub(match=..., respond=...)``, ``.reset()``."""
    server = MockServer(**websim_server_options)
    await server.start()
    try:
        yield server
    finally:
        await server.close()
    server.raise_errors()
