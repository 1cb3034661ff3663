"""README.md stays true: its Python snippets run as pasted, its flag table lists every flag of
``websim-mock``, its links point at files that exist, and CI can read its test command.

The downstream pytest file in "The pytest fixture", the stubs file in "Stubs", and the examples
of docs/stubs.md run in tests/test_mock_pytest_plugin.py.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mock_server import MockServer
from mock_server.cli_args import parser as _parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
SNIPPETS = re.findall(r"^```python\n(.*?)^```", README, re.S | re.M)
# Each snippet is a file a user pastes: the plain ones are run as such; a test file (it defines
# tests) is run by pytest elsewhere.
RUNNABLE = [snippet for snippet in SNIPPETS if "def test_" not in snippet]


def test_the_readme_has_the_snippets_it_promises() -> None:
    assert len(RUNNABLE) >= 3
    assert any("ThreadedMockServer" in snippet for snippet in RUNNABLE)
    assert all("asyncio.run(main())" in s for s in RUNNABLE if "async with" in s)


@pytest.mark.parametrize("snippet", RUNNABLE, ids=[f"snippet{i}" for i in range(len(RUNNABLE))])
async def test_each_python_snippet_runs_as_pasted(snippet: str, tmp_path: Path) -> None:
    script = tmp_path / "snippet.py"
    script.write_text(snippet, encoding="utf-8")
    # A snippet that needs a server finds one where the README's quick start says it is.
    async with MockServer() as server:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(script),
            cwd=tmp_path,
            env={**os.environ, "WEBSIM_BASE_URL": server.url},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert err.decode() == ""
    assert out.strip(), "a snippet that prints nothing shows nothing"


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    return {
        option
        for action in parser._actions  # argparse has no public list of its actions
        if action.help != argparse.SUPPRESS and not isinstance(action, argparse._HelpAction)
        for option in action.option_strings
        if option.startswith("--")
    }


def test_the_flag_table_lists_every_flag() -> None:
    section = README.split("\n## The mock server\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `--")]
    listed = [re.match(r"\| `(--[a-z-]+)", row)[1] for row in rows]  # type: ignore[index]
    assert len(listed) == len(set(listed)), "a flag listed twice"
    assert set(listed) == _flags(_parser())


def test_the_links_point_at_files_that_exist() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text("utf-8")):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def test_the_contents_point_at_headings() -> None:
    def slug(heading: str) -> str:  # GitHub's anchors: lower case, punctuation dropped, - for space
        return re.sub(r"[^a-z0-9 _-]", "", heading.lower()).replace(" ", "-")

    anchors = {slug(h) for h in re.findall(r"^#+ (.+)$", README, re.M)}
    linked = re.findall(r"\]\(#([^)]+)\)", README)
    assert len(linked) >= 8
    assert set(linked) <= anchors


def test_the_guides_index_lists_every_guide() -> None:
    index = (ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"\]\(([a-z-]+\.md)\)", index))
    pages = {page.name for page in (ROOT / "docs").glob("*.md")} - {"README.md"}
    assert pages == listed, "docs/README.md should link every guide in docs/, and only those"
    assert "(docs/README.md)" in README


def test_ci_finds_the_test_command() -> None:
    # .ci/run reads the command with this sed expression; run it as CI does.
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    [expression] = re.findall(r"sed -n '([^']+)' README.md", ci)
    found = subprocess.run(
        ["sed", "-n", expression, str(ROOT / "README.md")],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout.splitlines()
    assert found[:1] == ["python -m pip install '.[test]' && python -m pytest -n auto"]
