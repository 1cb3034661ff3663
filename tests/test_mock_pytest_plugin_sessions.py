"""The session fixtures as a downstream project meets them: ``WEBSIM_MOCK_URL`` set wrong, and
the options of the mock the plugin starts itself."""

from __future__ import annotations

import http.server
import socket
import textwrap
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest

pytest_plugins = ["pytester"]

INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
filterwarnings = error
"""

THREE_TESTS = textwrap.dedent(
    """
    import pytest

    @pytest.mark.parametrize("i", range(3))
    def test_uses_a_session(websim_session, i):
        websim_session.script("chat", [200])
    """
)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makeini(INI)
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q", *args)


def dead_port() -> int:
    """A port nothing listens on (bound, then closed: refused for a while after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class _Counting(http.server.SimpleHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:  # (an HTML 404, as any other web server would)
        self.hits.append(self.path)
        self.send_error(404)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def not_a_mock() -> Iterator[tuple[str, list[str]]]:
    """Some other web server on a free port: its URL and the paths asked of it."""
    _Counting.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Counting.hits
    finally:
        server.shutdown()
        server.server_close()


def test_an_unreachable_mock_url_fails_each_test_in_one_line_naming_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://127.0.0.1:{dead_port()}"
    monkeypatch.setenv("WEBSIM_MOCK_URL", url)
    pytester.makepyfile(test_down=THREE_TESTS)
    result = run(pytester)
    result.assert_outcomes(errors=3)
    said = f"WEBSIM_MOCK_URL='{url}': unreachable ("
    # One line per test (pytest's summary lines, cut or whole as CI=... asks, come apart).
    assert sum(line.startswith(said) for line in result.outlines) == 3
    assert sum(line.startswith("ERROR test_down.py::") for line in result.outlines) == 3
    for noise in ("URLError", "SessionError", "Traceback", "During handling"):
        assert noise not in result.stdout.str()
    # one line per test, and the short summary's: nothing else
    assert sum("WEBSIM_MOCK_URL" in line for line in result.outlines) == 6


def test_a_server_that_is_not_the_mock_is_named_as_such_and_asked_once(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    not_a_mock: tuple[str, list[str]],
) -> None:
    url, hits = not_a_mock
    monkeypatch.setenv("WEBSIM_MOCK_URL", url)
    pytester.makepyfile(test_other=THREE_TESTS)
    result = run(pytester)
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines(
        [f"*WEBSIM_MOCK_URL='{url}': not a websim mock: GET /__admin/sessions answered 404*"]
    )
    assert "SessionError" not in result.stdout.str()
    assert hits == ["/__admin/sessions"]  # checked once per run, not per test


def test_the_shared_mock_takes_its_options_from_an_overridable_fixture(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEBSIM_MOCK_URL", raising=False)
    pytester.makeconftest(
        textwrap.dedent(
            """
            import pytest

            @pytest.fixture(scope="session")
            def websim_session_server_options():
                return {"unmatched": "404"}
            """
        )
    )
    pytester.makepyfile(
        test_unmatched=textwrap.dedent(
            """
            import json
            import urllib.error
            import urllib.request

            import pytest

            def test_an_unmatched_request_gets_404(websim_session):
                body = {"project_id": "x", "messages": [{"role": "user", "content": "hi"}]}
                request = urllib.request.Request(
                    websim_session.url + "/api/v1/inference/run_chat_completion",
                    data=json.dumps(body).encode(), method="POST",
                )
                with pytest.raises(urllib.error.HTTPError) as caught:
                    urllib.request.urlopen(request, timeout=10)
                assert caught.value.code == 404
            """
        )
    )
    run(pytester).assert_outcomes(passed=1)
