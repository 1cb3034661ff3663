"""The OpenAPI document (mock_server.web.openapi) against the live mock, with schemathesis.

Schemathesis generates requests from the document (valid and invalid ones) and checks every
answer against it: all its checks, in its examples, coverage, fuzzing and stateful phases. The
admin routes run apart, the mock reset before each call, so that a fuzzed script cannot change
what a later case gets. The document describes the server as configured: the checks also run
against a ``--strict-ids --directives`` mock.
"""

from __future__ import annotations

import contextlib
import json
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mock_server import MockConfig, ThreadedMockServer, __version__
from mock_server.web.openapi import openapi_body, openapi_spec

# Schemathesis 4 needs Python 3.11 (pyproject's `test` extra installs it there only).
schemathesis = pytest.importorskip("schemathesis")
st_events = pytest.importorskip("schemathesis.engine.events")

_ADMIN = "^(/sessions/[^/]+)?/__admin/"  # the admin API, and its twin in each session
# Every check, every phase (examples, coverage, fuzzing, stateful), as `schemathesis run
# --checks all` does; few examples each (the suite runs on two shared cores), reproducible.
_CONFIG: dict[str, Any] = {
    "checks": {"enabled": True},
    "generation": {"max-examples": 5, "deterministic": True, "database": "none"},
    "phases": {name: {"enabled": True} for name in ("examples", "coverage", "fuzzing", "stateful")},
}
_DEFAULT = MockConfig(seed=3)
_STRICT = MockConfig(strict_ids=True, directives=True)


@pytest.fixture(scope="module")
def live_mock() -> Iterator[Callable[[MockConfig], ThreadedMockServer]]:
    """A started mock per configuration, shared by the module's tests."""
    with contextlib.ExitStack() as stack:
        servers: dict[MockConfig, ThreadedMockServer] = {}

        def get(config: MockConfig) -> ThreadedMockServer:
            if config not in servers:
                servers[config] = stack.enter_context(ThreadedMockServer(config))
            return servers[config]

        yield get


def _schema(config: MockConfig, server: ThreadedMockServer) -> Any:
    """The document a mock with ``config`` serves (test_served_document checks that it is)."""
    settings = schemathesis.config.SchemathesisConfig.from_dict(_CONFIG)
    schema = schemathesis.openapi.from_dict(openapi_spec(__version__, config), config=settings)
    schema.config.update(base_url=server.url)
    return schema


def _failures(schema: Any) -> list[str]:
    """Run schemathesis's engine (what `schemathesis run` runs): every failure and error."""
    found: list[str] = []
    cases = 0
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, st_events.ScenarioFinished):
            cases += len(event.recorder.cases)
            for nodes in event.recorder.checks.values():
                found += [
                    f"{event.label}: {node.failure_info.failure.title}\n"
                    f"{node.failure_info.code_sample}"
                    for node in nodes
                    if node.failure_info is not None
                ]
        elif isinstance(event, (st_events.NonFatalError, st_events.FatalError)):
            found.append(f"{getattr(event, 'label', '')}: {event.info}")
    if cases < 20:  # a run that sent (almost) nothing proves nothing
        found.append(f"only {cases} cases were run")
    return found


def test_public_routes_keep_the_document(live_mock: Any) -> None:
    schema = _schema(_DEFAULT, live_mock(_DEFAULT)).exclude(path_regex=_ADMIN)
    assert _failures(schema) == []


def test_inference_routes_keep_the_document_of_a_strict_mock(live_mock: Any) -> None:
    # --strict-ids and --directives change what the inference routes accept, nothing else.
    schema = _schema(_STRICT, live_mock(_STRICT)).include(path_regex="^/api/")
    assert _failures(schema) == []


def test_admin_routes_keep_the_document(live_mock: Any) -> None:
    server = live_mock(_DEFAULT)
    # Adding stubs, and finding or counting requests with a match, are left out: their
    # language (regexes that must compile, min <= max, answers that must suit the endpoint)
    # cannot be said in JSON Schema, so the document describes the body without being its
    # whole law, and generated cases would contradict the server both ways.
    # tests/test_mock_server_stubs.py, tests/test_mock_web_admin_journal.py and the stubs'
    # property tests cover those bodies.
    schema = (
        _schema(_DEFAULT, server)
        .include(path_regex=_ADMIN)
        .exclude(
            path_regex="^(/sessions/[^/]+)?/__admin/(stubs|requests/find|requests/count)$",
            method="POST",
        )
    )

    def before_call(context: Any, case: Any, kwargs: Any) -> None:
        server.reset()  # nothing a fuzzed script queued is left for a later case

    # A global hook (schemathesis has no per-schema before_call), removed again at once.
    schemathesis.hook(before_call)
    try:
        assert _failures(schema) == []
    finally:
        schemathesis.hooks.unregister(before_call)
    assert server.requests == []  # (the admin API is not journaled: nothing else was called)


def test_served_document_is_the_one_for_its_configuration(live_mock: Any) -> None:
    for config in (_DEFAULT, _STRICT):
        url = live_mock(config).url + "/openapi.json"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert json.loads(response.read()) == openapi_spec(__version__, config)


# --- the document as configured -------------------------------------------------------------------


def _chat_id(spec: dict[str, Any]) -> dict[str, Any]:
    body = spec["paths"]["/api/v1/inference/run_chat_completion"]["post"]["requestBody"]
    schema: dict[str, Any] = body["content"]["application/json"]["schema"]
    return schema["properties"]["project_id"]


def test_the_document_follows_the_configuration() -> None:
    lenient, strict = openapi_spec("x"), openapi_spec("x", MockConfig(strict_ids=True))
    assert _chat_id(lenient)["pattern"] == "^[a-z0-9_]{1,64}$"
    assert _chat_id(strict)["pattern"] == "^[a-z0-9]{3}_[a-z0-9]{16}$"
    admin = openapi_spec("x", MockConfig(workers=2))["paths"]["/__admin/reset"]["post"]
    assert "409" in admin["responses"]
    assert "200" not in admin["responses"]
    assert "409" not in lenient["paths"]["/__admin/reset"]["post"]["responses"]


def test_the_body_is_cached_per_description_not_per_seed() -> None:
    one = openapi_body("x", MockConfig(seed=1))
    assert openapi_body("x", MockConfig(seed=2)) is one
    assert openapi_body("x", MockConfig(strict_ids=True)) is not one
    assert json.loads(one) == openapi_spec("x", MockConfig(seed=1))
