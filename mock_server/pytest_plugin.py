"""pytest fixtures for the Websim mock, registered through the ``pytest11`` entry point.

``websim_server``: a ``MockServer`` in the test's event loop on a free port; a handler that
raises fails the test at teardown. ``websim_server_options``: its keywords; override it.

``websim_session``: a session of its own for each test on one mock shared by the whole run
(``websim_mock_url``: ``$WEBSIM_MOCK_URL`` when set, e.g. a mock started as a CI service, checked
once; else one started in a thread with ``websim_session_server_options``); tests running in parallel (``pytest -n``) never see each other's
steps or requests. See docs/sessions.md.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from .server import MockServer
from .session_client import MockSession, SessionError, check_mock, session_name_for
from .threaded import ThreadedMockServer

try:
    from pytest_asyncio import fixture as _async_fixture
except ImportError:  # pytest_runtest_setup below says what to install
    _async_fixture = pytest.fixture  # type: ignore[assignment]

__all__ = [
    "NEEDS_ASYNCIO",
    "pytest_runtest_setup",
    "websim_mock_url",
    "websim_server",
    "websim_server_options",
    "websim_session",
    "websim_session_server_options",
]

MOCK_URL_ENV = "WEBSIM_MOCK_URL"
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


@pytest.fixture(scope="session")
def websim_session_server_options() -> dict[str, Any]:
    """Keywords for the mock ``websim_session`` shares when ``$WEBSIM_MOCK_URL`` is unset (the
    ``MockServer`` ones, e.g. ``unmatched="404"``); override me (session-scoped)."""
    return {}


@pytest.fixture(scope="session")
def websim_mock_url(websim_session_server_options: dict[str, Any]) -> Iterator[str]:
    """The URL of the mock shared by the run: ``$WEBSIM_MOCK_URL`` (checked once: a wrong one
    fails every test with one line saying why), else one started here (in a thread, per xdist
    worker, with ``websim_session_server_options``) whose handler errors fail the run at its end."""
    external = os.environ.get(MOCK_URL_ENV)
    if external:
        problem = None
        try:
            check_mock(external)
        except SessionError as exc:
            problem = f"{MOCK_URL_ENV}={external!r}: {exc}"
        if problem is not None:  # (out of the except: pytest would print the SessionError too)
            pytest.fail(problem, pytrace=False)
        yield external.rstrip("/")
        return
    with ThreadedMockServer(**websim_session_server_options) as server:
        yield server.url
    server.raise_errors()


@pytest.fixture
def websim_session(websim_mock_url: str, request: pytest.FixtureRequest) -> Iterator[MockSession]:
    """This test's own session on the shared mock: give ``.url`` to the client under test as
    its base URL; ``.script(endpoint, steps)``, ``.stub(...)``, ``.requests``, ``.find(match)``,
    ``.verify(match, times=...)``, ``.reset()``. Ended afterwards."""
    session = MockSession(websim_mock_url, session_name_for(request.node.name))
    session.reset()  # begins it: its journal is there (empty) before the first request
    try:
        yield session
    finally:
        session.end()
