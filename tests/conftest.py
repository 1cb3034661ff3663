"""Fixtures only: hypothesis profiles, the fakes of ``fakes.py`` started and stopped, and the
contract suite's options. Shared helpers live in ``helpers.py``, ``fakes.py`` and
``strategies.py``, imported by name (``tests`` is on pytest's ``pythonpath``)."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator

import pytest
from fakes import FakeSleep, FakeWebsim
from hypothesis import HealthCheck, settings

# Cassette fixtures, the project_id-blind matcher, and the unused-cassette check for every test.
pytest_plugins = ["websim_cassettes.pytest_plugin"]

# --- hypothesis profiles ------------------------------------------------------------------------
# `ci` (the default) is quick and deterministic; `dev` digs deeper; `live` is for slow targets.
# Pick one with HYPOTHESIS_PROFILE=dev or pytest's --hypothesis-profile=dev.
settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=60,
    deadline=None,  # shared 2-core machines: a deadline would only add flakiness here
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=600, deadline=500, print_blob=True)
settings.register_profile("live", max_examples=5, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
async def fake_websim() -> AsyncIterator[FakeWebsim]:
    server = FakeWebsim()
    await server.start()
    try:
        yield server
    finally:
        await server.close()
    if server.errors:
        raise server.errors[0]


@pytest.fixture
def closed_port_url() -> str:
    """A URL nothing listens on: bind an ephemeral port, then close it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def fake_sleep() -> FakeSleep:
    return FakeSleep()


# --- the contract suite's options (tests/contract/) ---------------------------------------------
# Here rather than in tests/contract/conftest.py: pytest takes options only from the conftest
# files it reads at start-up, and `pytest --backend=live` from the root does not read that one.


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("websim contract suite")
    group.addoption(
        "--backend",
        choices=("mock", "cassette", "live"),
        default=None,
        help="run tests/contract against this backend only "
        "(default: $WEBSIM_BACKEND, else both offline ones, mock and cassette)",
    )
    group.addoption(
        "--live-pacing",
        type=float,
        default=None,
        metavar="SECONDS",
        help="live backend: least time between two requests (default: $WEBSIM_LIVE_PACING, else 1)",
    )
