"""The pytest plugin as a downstream project uses it: installed, nothing to import or register."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent


def page_section(page: str, title: str) -> str:
    """The text of one ``## title`` section of a Markdown page of the repository."""
    text = (ROOT / page).read_text(encoding="utf-8")
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


INI = """
[pytest]
asyncio_mode = {mode}
asyncio_default_fixture_loop_scope = function
filterwarnings = error
"""

# The README's example, verbatim in spirit: a downstream test of code that talks to Websim.
DOWNSTREAM = '''
import aiohttp
from websim_core import RetryPolicy, WebsimClient


async def summarise(base_url: str, text: str) -> str:
    """The downstream code under test: it calls Websim through our client."""
    async with WebsimClient(base_url, retry=RetryPolicy(base_delay=0)) as client:
        return await client.chat([{"role": "user", "content": text}])


async def test_summary_quotes_the_input(websim_server):
    answer = await summarise(websim_server.url, "Summarise: the cat sat on the mat")
    assert "the cat sat on the mat" in answer
    [entry] = websim_server.requests
    assert entry["json"]["messages"][0]["content"] == "Summarise: the cat sat on the mat"


async def test_rate_limits_are_retried(websim_server):
    websim_server.script("chat", [429, 429, 200])
    assert "hello" in await summarise(websim_server.url, "hello")
    assert [r["response"]["status"] for r in websim_server.requests] == [429, 429, 200]


async def test_images_are_served_by_the_mock(websim_server):
    async with WebsimClient(websim_server.url) as client:
        image = await client.generate_image("A cat in space", aspect_ratio="16:9")
    async with aiohttp.ClientSession() as session, session.get(image.url) as resp:
        assert (await resp.read())[:8] == b"\\x89PNG\\r\\n\\x1a\\n"


async def test_reset_empties_the_journal(websim_server):
    await summarise(websim_server.url, "one")
    websim_server.reset()
    assert websim_server.requests == []
'''


def run(pytester: pytest.Pytester, mode: str = "auto", *args: str) -> pytest.RunResult:
    pytester.makeini(INI.format(mode=mode))
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q", *args)


def run_with_the_documented_settings(
    pytester: pytest.Pytester, page: str, title: str, *args: str
) -> pytest.RunResult:
    """Run with the pytest settings a page shows (its ``toml`` block), warnings as errors: a
    deprecation warning the user would see fails the run."""
    [settings] = re.findall(r"```toml\n(.*?)```", page_section(page, title), re.S)
    pytester.makefile(".toml", pyproject=settings + 'filterwarnings = ["error"]\n')
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q", *args)


def test_the_settings_the_fixture_docs_show_run_without_a_warning(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_downstream=DOWNSTREAM)
    run_with_the_documented_settings(pytester, "docs/sessions.md", "In pytest").assert_outcomes(
        passed=4
    )


def test_fixture_works_out_of_the_box(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_downstream=DOWNSTREAM)
    result = run(pytester)
    result.assert_outcomes(passed=4)


def test_fixture_works_in_strict_asyncio_mode(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_strict=textwrap.dedent(
            """
            import pytest
            from websim_core import WebsimClient

            @pytest.mark.asyncio
            async def test_chat(websim_server):
                async with WebsimClient(websim_server.url) as client:
                    assert "ping" in await client.chat([{"role": "user", "content": "ping"}])
            """
        )
    )
    run(pytester, "strict").assert_outcomes(passed=1)


def test_options_come_from_an_overridable_fixture(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        textwrap.dedent(
            """
            import pytest

            @pytest.fixture
            def websim_server_options():
                return {"seed": 42, "strict_ids": True}
            """
        )
    )
    pytester.makepyfile(
        test_options=textwrap.dedent(
            """
            import aiohttp

            CHAT = "/api/v1/inference/run_chat_completion"

            async def test_options_are_applied(websim_server):
                assert websim_server.config.seed == 42
                body = '{"project_id": "lenient_id", "messages": [{"role": "user", "content": "x"}]}'
                async with aiohttp.ClientSession() as session:
                    async with session.post(websim_server.url + CHAT, data=body) as resp:
                        assert resp.status == 400
                        assert (await resp.json())["field"] == "project_id"
            """
        )
    )
    run(pytester).assert_outcomes(passed=1)


def test_a_broken_handler_fails_the_test_at_teardown(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_broken=textwrap.dedent(
            """
            import aiohttp

            CHAT = "/api/v1/inference/run_chat_completion"

            class Boom(Exception):
                pass

            def explode(*args, **kwargs):
                raise Boom("the handler is broken")

            async def test_hidden_behind_a_500(websim_server, monkeypatch):
                monkeypatch.setattr("mock_server.core.decision.chat_answer", explode)
                body = '{"project_id": "a", "messages": [{"role": "user", "content": "x"}]}'
                async with aiohttp.ClientSession() as session:
                    async with session.post(websim_server.url + CHAT, data=body) as resp:
                        assert resp.status == 500  # the test body itself passes...
            """
        )
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, errors=1)  # ...but teardown re-raises the handler's error
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_hidden_behind_a_500*"])
    result.stdout.fnmatch_lines(["*Boom: the handler is broken*"])


def test_each_test_gets_a_fresh_server(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_fresh=textwrap.dedent(
            """
            URLS = []

            async def test_one(websim_server):
                websim_server.script("chat", [500])
                URLS.append(websim_server.url)

            async def test_two(websim_server):
                assert websim_server.requests == []
                assert len(websim_server.state.scripts) == 0
                assert websim_server.url.startswith("http://127.0.0.1:")
            """
        )
    )
    run(pytester).assert_outcomes(passed=2)


def test_the_readme_example_passes(pytester: pytest.Pytester) -> None:
    """The downstream test file shown in README.md's "The pytest fixture" section, run as is."""
    section = page_section("README.md", "The pytest fixture")
    example = next(b for b in re.findall(r"```python\n(.*?)```", section, re.S) if "def test_" in b)
    pytester.makepyfile(test_summary=example)
    run_with_the_documented_settings(pytester, "README.md", "The pytest fixture").assert_outcomes(
        passed=2
    )


def test_session_fixture_without_an_external_mock(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEBSIM_MOCK_URL", raising=False)
    pytester.makepyfile(
        test_sessions=textwrap.dedent(
            """
            from websim_core import WebsimClient

            async def test_one(websim_session, websim_mock_url):
                assert websim_session.url.startswith(websim_mock_url + "/sessions/test_one-")
                websim_session.script("chat", [{"reply": "mine"}])
                async with WebsimClient(websim_session.url) as client:
                    assert await client.chat([{"role": "user", "content": "x"}]) == "mine"
                assert [r["session"] for r in websim_session.requests] == [websim_session.name]

            def test_two(websim_session):
                assert websim_session.requests == [] and websim_session.pending == []
            """
        )
    )
    run(pytester).assert_outcomes(passed=2)


def test_the_session_verifies_and_a_conftest_may_name_the_plugin(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A conftest listing the plugin in pytest_plugins (the usual habit) must not load it a
    second time; a session's find/verify work downstream."""
    monkeypatch.delenv("WEBSIM_MOCK_URL", raising=False)
    pytester.makeconftest('pytest_plugins = ["mock_server.pytest_plugin"]\n')
    pytester.makepyfile(
        test_verify=textwrap.dedent(
            """
            import pytest
            from websim_core import WebsimClient

            async def test_verify(websim_session):
                async with WebsimClient(websim_session.url) as client:
                    await client.chat([{"role": "user", "content": "weather in Paris"}])
                weather = {"last_user_message": {"contains": "weather"}}
                assert len(websim_session.find(weather)) == 1
                websim_session.verify(weather, times=1)
                with pytest.raises(AssertionError, match="came 'weather in Paris'"):
                    websim_session.verify({"last_user_message": {"contains": "Rome"}})
            """
        )
    )
    run(pytester).assert_outcomes(passed=1)


def test_without_pytest_asyncio_the_fixture_says_what_to_install(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    pytester.makepyfile(test_needs_loop="def test_chat(websim_server):\n    pass\n")
    result = pytester.runpytest_inprocess("-p", "no:asyncio", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_chat*",
            "the websim_server fixture needs pytest-asyncio: pip install 'websim-harness[pytest]'",
            "=*short test summary info*",
        ]
    )
    assert "INTERNALERROR" not in result.stdout.str()
    assert "Traceback" not in result.stdout.str()


@pytest.mark.parametrize("index", [0, 1, 2])
def test_the_stubs_guide_examples_pass(pytester: pytest.Pytester, index: int) -> None:
    """The three downstream test files in docs/stubs.md's examples, run as they are."""
    examples = [
        b
        for b in re.findall(
            r"```python\n(.*?)```",
            page_section("docs/stubs.md", "Examples: three apps tested with stubs"),
            re.S,
        )
        if "def test_" in b
    ]
    assert len(examples) == 3
    pytester.makepyfile(**{f"test_guide_stubs_{index}": examples[index]})
    result = run_with_the_documented_settings(
        pytester, "docs/stubs.md", "Examples: three apps tested with stubs"
    )
    result.assert_outcomes(passed=examples[index].count("\nasync def test_"))


@pytest.mark.parametrize(
    ("page", "title", "names"),
    [
        (
            "docs/stubs.md",
            "A stubs file",
            ["spam-classifier", "weather", "echo", "flaky", "cat-picture"],
        ),
        ("README.md", "Stubs", ["spam", None]),
    ],
)
def test_the_stubs_files_shown_parse(page: str, title: str, names: list[str | None]) -> None:
    import yaml

    from mock_server.core.stubs import parse_stubs

    [block] = re.findall(r"```yaml\n(.*?)```", page_section(page, title), re.S)
    assert [stub.name for stub in parse_stubs(yaml.safe_load(block))] == names
