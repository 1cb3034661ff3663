"""The pytest side (pytester): an unmatched request, an unplayed interaction and an unused cassette
each fail the run with a message naming the cassette; ``--block-network`` keeps the network out."""

from __future__ import annotations

import shutil

import pytest
import vcr.serializers.yamlserializer  # (see below)
import yaml  # noqa: F401

from websim_cassettes import CASSETTE_DIR_ENV, cassette_dir

# runpytest_inprocess drops the modules an inner run imported; PyYAML re-imported over its
# cached C extension then fails to resolve tags. Importing them here keeps them loaded.

pytest_plugins = ["pytester"]

COMMITTED = cassette_dir()
VCRPY_MAJOR = int(vcr.__version__.split(".", 1)[0])

BLOCK = [
    "--block-network",
    r"--allowed-hosts=127\.0\.0\.1$,::1$,localhost$",
    "-p",
    "no:cacheprovider",
]
CONFTEST = 'pytest_plugins = ["websim_cassettes.pytest_plugin"]\n'
INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\ntestpaths = tests\n"
USES_CHAT_BASIC = """
import pytest
from websim_core import WebsimClient

@pytest.mark.vcr
@pytest.mark.default_cassette("chat_basic.yaml")
async def test_hello():
    async with WebsimClient("https://websim.ai") as client:
        assert await client.chat([{"role": "user", "content": "Hello, how are you?"}])
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    cassettes = pytester.mkdir("cassettes")
    shutil.copy(COMMITTED / "chat_basic.yaml", cassettes)
    monkeypatch.setenv(CASSETTE_DIR_ENV, str(cassettes))
    pytester.makeini(INI)
    pytester.mkdir("tests")
    pytester.makeconftest(CONFTEST)
    return pytester


def _write_test(pytester: pytest.Pytester, name: str, source: str) -> None:
    (pytester.path / "tests" / f"{name}.py").write_text(source, encoding="utf-8")


def test_replay_passes_with_the_network_blocked(project: pytest.Pytester) -> None:
    _write_test(project, "test_hello", USES_CHAT_BASIC)
    result = project.runpytest_inprocess(*BLOCK)
    result.assert_outcomes(passed=1)


def test_an_unmatched_request_names_the_cassette_and_the_request(project: pytest.Pytester) -> None:
    _write_test(
        project,
        "test_other",
        USES_CHAT_BASIC.replace("test_hello", "test_other").replace(
            "Hello, how are you?", "Something else entirely"
        ),
    )
    result = project.runpytest_inprocess(*BLOCK)
    result.assert_outcomes(failed=1)
    difference = '"Something else entirely" here, "Hello, how are you?" recorded'
    if VCRPY_MAJOR >= 9:
        lines = [
            "*CannotOverwriteExistingCassetteException: Can't play back this request*",
            "*POST https://websim.ai/api/v1/inference/run_chat_completion",
            "*Cassette: */cassettes/chat_basic.yaml",
            f"*websim_body differs: messages[[]0].content: {difference}",
        ]
    else:  # vcrpy 8 (the last for Python 3.10) words the same facts differently
        lines = [
            "*CannotOverwriteExistingCassetteException: Can't overwrite existing cassette"
            " (*/cassettes/chat_basic.yaml*",
            "*No match for the request (<Request (POST)"
            " https://websim.ai/api/v1/inference/run_chat_completion>)*",
            "*websim_body - assertion failure*",
            f"*messages[[]0].content: {difference}",
        ]
    result.stdout.fnmatch_lines(lines)


def test_an_unplayed_interaction_fails_the_test(project: pytest.Pytester) -> None:
    _write_test(
        project,
        "test_idle",
        """
import pytest

@pytest.mark.vcr
@pytest.mark.default_cassette("chat_basic.yaml")
def test_idle():
    pass
""",
    )
    result = project.runpytest_inprocess(*BLOCK)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*cassette chat_basic.yaml: 1 of 1 recorded interaction(s) were never requested by the test:",
            "*#0 POST /api/v1/inference/run_chat_completion -> 200",
        ]
    )


def test_an_unused_cassette_fails_a_whole_run_by_name(project: pytest.Pytester) -> None:
    shutil.copy(COMMITTED / "chat_500.yaml", project.path / "cassettes" / "orphan.yaml")
    _write_test(project, "test_hello", USES_CHAT_BASIC)
    whole = project.runpytest_inprocess(*BLOCK)
    whole.assert_outcomes(passed=1, failed=1)
    whole.stdout.fnmatch_lines(
        [
            "*cassette orphan.yaml is not used by any test (no @pytest.mark.vcr test names it)*",
            "FAILED cassettes/orphan.yaml::used-by-a-test*",
        ]
    )
    # Running one file is not a whole run: no verdict on the other cassettes.
    partial = project.runpytest_inprocess(*BLOCK, "tests/test_hello.py")
    partial.assert_outcomes(passed=1)


def test_network_is_blocked_except_loopback(project: pytest.Pytester) -> None:
    _write_test(
        project,
        "test_net",
        """
import socket
import pytest

def test_remote_is_blocked():
    with socket.socket() as sock, pytest.raises(RuntimeError, match="Network is disabled"):
        sock.connect(("192.0.2.1", 443))

def test_loopback_is_allowed():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.socket() as client:
            client.connect(server.getsockname())
""",
    )
    result = project.runpytest_inprocess(*BLOCK, "-o", "websim_unused_cassettes=ignore")
    result.assert_outcomes(passed=2)
