"""The pytest side (pytester), as a downstream project uses it: cassettes beside each test module,
an aiohttp ``json=`` body recorded against the mock replayed for the live host; an unmatched
request, an unplayed interaction and (when asked) an unused cassette each fail naming the
cassette; ``--block-network`` keeps the network out; without pytest-recording, one line."""

from __future__ import annotations

import json
import shutil

import pytest
import vcr.serializers.yamlserializer  # (see below)
import yaml  # noqa: F401
from helpers import COMMITTED_CASSETTES

from mock_server import ThreadedMockServer
from websim_cassettes import CASSETTE_DIR_ENV, Hit, ReplayIndex, check_directory
from websim_core.routing import CHAT_PATH

# runpytest_inprocess drops the modules an inner run imported; PyYAML re-imported over its
# cached C extension then fails to resolve tags. Importing them here keeps them loaded.

pytest_plugins = ["pytester"]

COMMITTED = COMMITTED_CASSETTES
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


def test_an_unused_cassette_fails_a_whole_run_by_name_when_asked(project: pytest.Pytester) -> None:
    shutil.copy(COMMITTED / "chat_500.yaml", project.path / "cassettes" / "orphan.yaml")
    _write_test(project, "test_hello", USES_CHAT_BASIC)
    project.runpytest_inprocess(*BLOCK).assert_outcomes(passed=1)  # off by default
    whole = project.runpytest_inprocess(*BLOCK, "-o", "websim_unused_cassettes=auto")
    whole.assert_outcomes(passed=1, failed=1)
    whole.stdout.fnmatch_lines(
        [
            "*cassette orphan.yaml is not used by any test (no @pytest.mark.vcr test names it)*",
            "FAILED cassettes/orphan.yaml::used-by-a-test*",
        ]
    )
    # Running one file is not a whole run: no verdict on the other cassettes.
    partial = project.runpytest_inprocess(
        *BLOCK, "-o", "websim_unused_cassettes=auto", "tests/test_hello.py"
    )
    partial.assert_outcomes(passed=1)


@pytest.fixture
def plain_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A project with the one-line conftest and nothing else configured."""
    monkeypatch.delenv(CASSETTE_DIR_ENV, raising=False)
    pytester.makeini(INI)
    pytester.mkdir("tests")
    pytester.makeconftest(CONFTEST)
    return pytester


def test_cassettes_live_beside_each_module_and_only_those_are_policed(
    plain_project: pytest.Pytester,
) -> None:
    own = plain_project.path / "tests" / "cassettes" / "test_hello"
    own.mkdir(parents=True)
    shutil.copy(COMMITTED / "chat_basic.yaml", own)
    # Not the tests' own: a top-level cassettes/ and the folder of a module not collected.
    for elsewhere in (plain_project.path / "cassettes", own.parent / "test_gone"):
        elsewhere.mkdir()
        shutil.copy(COMMITTED / "chat_500.yaml", elsewhere / "orphan.yaml")
    _write_test(plain_project, "test_hello", USES_CHAT_BASIC)
    fail = ("-o", "websim_unused_cassettes=fail")
    plain_project.runpytest_inprocess(*BLOCK, *fail).assert_outcomes(passed=1)
    shutil.copy(COMMITTED / "chat_500.yaml", own / "orphan.yaml")
    result = plain_project.runpytest_inprocess(*BLOCK, *fail)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["FAILED tests/cassettes/test_hello/orphan.yaml::used-by-a-test*"])


AIOHTTP_APP = """
import json
import os

import aiohttp
import pytest

@pytest.mark.vcr
async def test_tip():
    body = {"project_id": os.environ["PID"], "messages": [{"role": "user", "content": "a tip"}]}
    sent = {"json": {"json": body}, "bytes": {"data": json.dumps(body).encode()},
            "text": {"data": json.dumps(body, indent=2)}}[os.environ["AS"]]
    url = os.environ["BASE"] + "/api/v1/inference/run_chat_completion"
    async with aiohttp.ClientSession() as session, session.post(url, **sent) as response:
        assert "a tip" in (await response.json(content_type=None))["content"]
"""


def test_a_json_body_recorded_against_the_mock_replays_for_the_live_host(
    plain_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_test(plain_project, "test_tip", AIOHTTP_APP)
    with ThreadedMockServer() as server:
        for name, value in {
            "BASE": server.url,
            "PID": "abc_0123456789abcdef",
            "AS": "json",
        }.items():
            monkeypatch.setenv(name, value)
        plain_project.runpytest_inprocess("--record-mode=once").assert_outcomes(passed=1)
    cassette = plain_project.path / "tests" / "cassettes" / "test_tip" / "test_tip.yaml"
    assert cassette.is_file()
    # The harness's tools outside pytest read what the plugin wrote (json= stored as YAML), in
    # pytest-recording's folders: the checker finds nothing, the replay index answers it.
    folder = plain_project.path / "tests" / "cassettes"
    assert check_directory(folder) == []
    sent = {
        "project_id": "xyz_fedcba9876543210",
        "messages": [{"role": "user", "content": "a tip"}],
    }
    found = ReplayIndex.from_directory(folder).lookup("POST", CHAT_PATH, json.dumps(sent))
    assert isinstance(found, Hit)
    monkeypatch.setenv("BASE", "https://websim.ai")
    monkeypatch.setenv("PID", "xyz_fedcba9876543210")
    for sent_as in ("json", "bytes", "text"):
        monkeypatch.setenv("AS", sent_as)
        plain_project.runpytest_inprocess(*BLOCK).assert_outcomes(passed=1)
    # Matching the host is a setting away: then the mock's recording does not answer websim.ai.
    strict = plain_project.runpytest_inprocess(
        *BLOCK, "-o", "websim_match_on=method scheme host port path websim_body"
    )
    strict.assert_outcomes(failed=1)
    strict.stdout.fnmatch_lines(["*CannotOverwriteExistingCassetteException*"])
    # gpt4free's legacy 3_15 chat IDs replay unless websim_strict_ids asks for canonical ones.
    monkeypatch.setenv("PID", "xyz_fedcba987654321")
    plain_project.runpytest_inprocess(*BLOCK).assert_outcomes(passed=1)
    strict_ids = plain_project.runpytest_inprocess(*BLOCK, "-o", "websim_strict_ids=true")
    strict_ids.assert_outcomes(failed=1)
    strict_ids.stdout.fnmatch_lines(["*this request: project_id 'xyz_fedcba987654321' is not*"])


def _one_line_refusal(result: pytest.RunResult, line: str) -> None:
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [text for text in result.errlines if text.strip()] == [f"ERROR: {line}"]


def test_without_pytest_recording_the_plugin_says_what_to_install(
    plain_project: pytest.Pytester,
) -> None:
    _write_test(plain_project, "test_hello", USES_CHAT_BASIC)
    result = plain_project.runpytest_inprocess("-p", "no:recording", "-p", "no:cacheprovider")
    _one_line_refusal(
        result,
        "websim_cassettes.pytest_plugin needs pytest-recording: "
        "pip install 'websim-harness[pytest]'",
    )
    assert "INTERNALERROR" not in result.stdout.str()


def test_an_unknown_unused_cassettes_mode_is_refused(plain_project: pytest.Pytester) -> None:
    result = plain_project.runpytest_inprocess(*BLOCK, "-o", "websim_unused_cassettes=always")
    _one_line_refusal(
        result, "websim_unused_cassettes = 'always': expected one of ignore, auto, fail"
    )


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
