"""The ``backend`` fixture: each contract test runs once per selected backend.

``--backend=mock|cassette|live`` (or ``WEBSIM_BACKEND``) picks one; the default is the offline
pair, mock and cassette. The options themselves are registered in ``tests/conftest.py``, which
pytest reads at start-up wherever it is run from.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest

from mock_server import ThreadedMockServer
from websim_core import InvalidRequestError
from websim_core.client import resolve_base_url

from .backends import (
    BACKENDS,
    UNREACHABLE,
    Backend,
    CassetteBackend,
    LiveBackend,
    MockBackend,
    Pacer,
    probe,
)

OFFLINE = ("mock", "cassette")
DEFAULT_PACING = 1.0
PROBE_TIMEOUT = 5.0


def selected_backends(config: pytest.Config) -> tuple[str, ...]:
    name = config.getoption("backend", None) or os.environ.get("WEBSIM_BACKEND", "").strip()
    if not name:
        return OFFLINE
    if name not in BACKENDS:
        raise pytest.UsageError(f"WEBSIM_BACKEND={name!r}: choose one of {', '.join(BACKENDS)}")
    return (name,)


def live_pacing(config: pytest.Config) -> float:
    value = config.getoption("live_pacing", None)
    if value is None:
        value = float(os.environ.get("WEBSIM_LIVE_PACING", DEFAULT_PACING))
    return float(value)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend_name" in metafunc.fixturenames:
        metafunc.parametrize("backend_name", selected_backends(metafunc.config), scope="session")


def pytest_collection_finish(session: pytest.Session) -> None:
    """Against the live API: lift ``--block-network`` (reaching it is the point), and stop the
    whole run at once, in one line, if it cannot be reached: never a pass."""
    if selected_backends(session.config) != ("live",):
        return
    if not any("backend" in getattr(item, "fixturenames", ()) for item in session.items):
        return
    if getattr(session.config.option, "block_network", False):
        session.config.option.block_network = False
    try:
        url = resolve_base_url()
    except InvalidRequestError as exc:
        pytest.exit(f"live backend: {exc}", returncode=UNREACHABLE)
    reason = asyncio.run(probe(url, PROBE_TIMEOUT))
    if reason is not None:
        pytest.exit(f"live backend: cannot reach {url} ({reason})", returncode=UNREACHABLE)


@pytest.fixture(scope="session")
def contract_mock_server() -> Iterator[ThreadedMockServer]:
    """One mock for the session (this process: each xdist worker has its own, on its own port);
    every case resets it first."""
    with ThreadedMockServer() as server:
        yield server


@pytest.fixture(scope="session")
def live_pacer(pytestconfig: pytest.Config) -> Pacer:
    return Pacer(live_pacing(pytestconfig))


@pytest.fixture
def backend(request: pytest.FixtureRequest, backend_name: str) -> Backend:
    if backend_name == "mock":
        return MockBackend(request.getfixturevalue("contract_mock_server"))
    if backend_name == "cassette":
        return CassetteBackend()
    return LiveBackend(resolve_base_url(), request.getfixturevalue("live_pacer"))
