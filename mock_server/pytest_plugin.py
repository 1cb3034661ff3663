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
except ImportError:  # pytest_runtest_setup below says what to install
    _async_fixture = pytest.fixture  # type: ignore[assignment]

__all__ = ["NEEDS_ASYNCIO", "pytest_runtest_setup", "websim_server", "websim_server_options"]

NEEDS_ASYNCIO = (
    "the websim_server fixture needs pytest-asyncio: pip install 'websim-harness[pytest]'"
)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Without pytest-asyncio (missing, or ``-p no:asyncio``), a test using ``websim_server``
    fails in one line naming the extra, not with pytest's words about async fixtures."""
    uses_server = "websim_server" in getattr(item, "fixturenames", ())
    if uses_server and not item.config.pluginmanager.hasplugin("asyncio"):
        pytest.fail(NEEDS_ASYNCIO, pytrace=False)


@pytest.fixture
def websim_server_options() -> dict[str, Any]:
    """Keywords for ``MockServer`` (``seed``, ``strict_ids``, ``latency_ms``, ``rate_limit``,
    ``chaos``, ``directives``...); override me."""
    return {}


@_async_fixture
async def websim_server(websim_server_options: dict[str, Any]) -> AsyncIterator[MockServer]:
    """A running mock Websim: ``.url``, ``.requests``, ``.script(endpoint, steps)``, ``.reset()``."""
    server = MockServer(**websim_server_options)
    await server.start()
    try:
        yield server
    finally:
        await server.close()
    server.raise_errors()
