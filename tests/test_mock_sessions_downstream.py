"""Sessions as a downstream project uses them: 200 tests under ``pytest -n 4`` share ONE mock.

The mock is ``websim-mock --port 0`` started here as a process (as a CI service would be), and
the downstream run finds it through ``WEBSIM_MOCK_URL``. Every downstream test scripts answers
into its own session while three other workers do the same on the same server, and checks that
it got exactly its own answers and sees exactly its own requests.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator

import pytest
from helpers import first_line

pytest_plugins = ["pytester"]

TESTS = 200

DOWNSTREAM = """
import json
import urllib.request

import pytest

CHAT = "/api/v1/inference/run_chat_completion"
IMAGE = "/api/v1/inference/run_image_generation"


def post(url, body):
    # As curl, webscout or gpt4free would: a base URL, no extra header.
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "text/plain;charset=UTF-8"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def chat(base, text):
    body = {"project_id": "ke3_xh5gai3gjkmruomu", "messages": [{"role": "user", "content": text}]}
    return post(base + CHAT, body)["content"]


@pytest.mark.parametrize("i", range(TESTS))
def test_sees_only_its_own(websim_session, i):
    websim_session.script("chat", [{"reply": f"only for {i}"}, {"reply": f"again {i}"}])
    assert chat(websim_session.url, f"first {i}") == f"only for {i}"
    assert chat(websim_session.url, f"second {i}") == f"again {i}"
    third = chat(websim_session.url, f"third {i}")  # no step left: the generated answer
    assert f"third {i}" in third
    if i % 20 == 0:  # the image URL keeps a client following it in its session
        url = post(websim_session.url + IMAGE, {"project_id": "kx0m131_rzz66qb2xoy7",
                                                 "prompt": f"cat {i}"})["url"]
        assert url.startswith(websim_session.url + "/images/")
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.read()[:4] == b"\\x89PNG"
    journal = websim_session.requests
    assert {r["session"] for r in journal} == {websim_session.name}
    seen = [r["json"]["messages"][0]["content"] for r in journal if r["endpoint"] == "chat"]
    assert seen == [f"first {i}", f"second {i}", f"third {i}"]
    if i % 10 == 0:
        assert websim_session.pending == []
""".replace("TESTS", str(TESTS))


@pytest.fixture
def external_mock() -> Iterator[str]:
    """``websim-mock --port 0`` as its own process; its URL."""
    with subprocess.Popen(
        [sys.executable, "-m", "mock_server", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            line = first_line(process.stdout)
            assert "listening on " in line, line
            yield line.split("listening on ", 1)[1].split()[0]
        finally:
            process.terminate()
            process.wait(10)


def admin(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=10) as response:
        answer: dict[str, object] = json.loads(response.read())
        return answer


def test_parallel_tests_on_one_mock_see_only_their_own(
    pytester: pytest.Pytester, external_mock: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBSIM_MOCK_URL", external_mock)
    pytester.makeini(
        "[pytest]\nfilterwarnings = error\nasyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makepyfile(test_downstream=DOWNSTREAM)
    started = time.monotonic()
    # (Plugins the downstream suite does not use are left out: each worker starts faster.)
    quiet = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")
    result = pytester.runpytest_subprocess(*quiet, "-q", "-n", "4")
    elapsed = time.monotonic() - started
    result.assert_outcomes(passed=TESTS)
    journal: list[dict[str, object]] = []
    since: object = 0
    while since is not None:  # the journal comes a page at a time
        page = admin(f"{external_mock}/__admin/requests?limit=1000&since={since}")
        journal += page["requests"]  # type: ignore[arg-type]
        since = page["next"]
    per_session = Counter(entry["session"] for entry in journal)
    assert len(per_session) == TESTS
    assert None not in per_session
    assert admin(external_mock + "/__admin/sessions")["sessions"] == []  # each test ended its own
    print(f"{TESTS} downstream tests under -n 4 against one mock: {elapsed:.1f} s")
