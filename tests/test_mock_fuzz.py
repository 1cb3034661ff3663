"""Fuzz the running mock: any JSON, any bytes, to both endpoints: only 2xx or 4xx, never 5xx.

The server runs in its own thread (``ThreadedMockServer``) for the whole module, so hypothesis
drives plain blocking HTTP calls and no function-scoped fixture is involved.
"""

from __future__ import annotations

import gzip
import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mock_server import ThreadedMockServer
from websim_core.routing import CHAT_PATH, IMAGE_PATH

PATHS = (CHAT_PATH, IMAGE_PATH)
CONTENT_TYPES = (
    "text/plain;charset=UTF-8",
    "application/json",
    "application/x-www-form-urlencoded",
    None,
)


class Client:
    """One keep-alive connection, reopened when the server closes it."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.conn = http.client.HTTPConnection(host, port, timeout=10)

    def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        content_type: str | None = None,
        encoding: str | None = None,
    ) -> tuple[int, str, bytes]:
        headers = {"Content-Type": content_type} if content_type else {}
        if encoding:
            headers["Content-Encoding"] = encoding
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                return resp.status, resp.getheader("Content-Type") or "", resp.read()
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedMockServer]:
    with ThreadedMockServer(journal_size=50) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: ThreadedMockServer) -> Iterator[Client]:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    c = Client(host, int(port))
    yield c
    c.close()


def check(status: int, content_type: str, body: bytes) -> None:
    assert 200 <= status < 500, (status, body[:300])
    if status >= 400:
        error = json.loads(body)
        assert isinstance(error["message"], str)
        assert "field" in error
    elif content_type.startswith("application/json"):
        json.loads(body)
    else:
        assert content_type.startswith("text/event-stream")
        assert body.endswith(b"data: [DONE]\n\n")


def healthy(server: ThreadedMockServer, client: Client) -> None:
    assert server.errors == []
    status, _, body = client.request("GET", "/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=15,
)
# Bodies shaped like requests, so the fuzzing reaches the field checks, not just "not an object".
messages = (
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "role": st.sampled_from(["user", "system", "assistant", "developer", "robot"])
                | json_values,
                "content": st.text(max_size=20)
                | st.lists(
                    st.fixed_dictionaries(
                        {
                            "type": st.sampled_from(["text", "image_url"]),
                            "text": st.text(max_size=5) | json_values,
                        }
                    )
                )
                | json_values,
            },
        ),
        max_size=3,
    )
    | json_values
)
shaped = st.fixed_dictionaries(
    {},
    optional={
        "project_id": st.sampled_from(
            ["ke3_xh5gai3gjkmruomu", "kx0m131_rzz66qb2xoy7", "a", "A", ""]
        )
        | st.text(max_size=70)
        | json_values,
        "messages": messages,
        "prompt": st.text(max_size=20) | json_values,
        "aspect_ratio": st.sampled_from(
            ["1:1", "16:9", "0:1", "999999:1", "1:999999", "1:1000000", "a:b"]
        )
        | json_values,
        "stream": st.booleans() | json_values,
        "json": json_values,
    },
)


def test_any_json_gets_2xx_or_4xx(server: ThreadedMockServer, client: Client) -> None:
    @settings(max_examples=150, deadline=None)
    @given(
        path=st.sampled_from(PATHS),
        value=shaped | json_values,
        content_type=st.sampled_from(CONTENT_TYPES),
    )
    def post(path: str, value: Any, content_type: str | None) -> None:
        check(*client.request("POST", path, json.dumps(value).encode(), content_type))

    post()
    healthy(server, client)


def test_any_bytes_get_2xx_or_4xx(server: ThreadedMockServer, client: Client) -> None:
    @settings(max_examples=150, deadline=None)
    @given(
        path=st.sampled_from(PATHS),
        body=st.binary(max_size=300) | st.builds(gzip.compress, st.binary(max_size=100)),
        content_type=st.sampled_from(CONTENT_TYPES),
        # A body labelled as compressed that is not (or is): aiohttp fails reading it.
        encoding=st.sampled_from([None, None, "gzip", "deflate", "identity"]),
    )
    def post(path: str, body: bytes, content_type: str | None, encoding: str | None) -> None:
        check(*client.request("POST", path, body, content_type, encoding))

    post()
    healthy(server, client)


scenarios = st.fixed_dictionaries(
    {},
    optional={
        "endpoint": st.sampled_from(["chat", "image", "any", "x"]) | json_values,
        "responses": st.lists(st.integers(100, 700) | json_values, max_size=3) | json_values,
    },
)


def test_any_scenario_is_queued_or_refused_with_400(
    server: ThreadedMockServer, client: Client
) -> None:
    probe = b'{"project_id": "a", "prompt": "p", "messages": [{"role": "user", "content": "x"}]}'

    @settings(max_examples=100, deadline=None)
    @given(value=scenarios | json_values)
    def post(value: Any) -> None:
        status, _, body = client.request("POST", "/__admin/scenarios", json.dumps(value).encode())
        assert status in (200, 400), body[:300]
        # Whatever got queued is answered without breaking the server (a scripted 5xx is fine).
        for path in PATHS:
            assert 200 <= client.request("POST", path, probe)[0] < 600
        server.reset()

    post()
    healthy(server, client)
    assert len(server.requests) <= 50  # the journal stays bounded
