"""The ``websim`` command through ``main(argv)`` against the in-process server.

``main`` runs its own event loop (``asyncio.run``), so the tests call it in a worker thread
while the server keeps serving on the test's loop.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import subprocess
import sys
from collections.abc import Callable

import pytest
from fakes import FakeWebsim, Reply

from mock_server.cli import main as mock_main
from websim_cassettes.__main__ import main as cassettes_main
from websim_core.__main__ import main
from websim_core.pipes import READER_GONE


async def run_cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def test_chat(fake_websim: FakeWebsim, capsys: pytest.CaptureFixture[str]) -> None:
    assert await run_cli("--base-url", fake_websim.url, "chat", "Hello") == 0
    out, err = capsys.readouterr()
    assert (out, err) == ("echo: Hello\n", "")
    (seen,) = fake_websim.requests
    assert seen.json["messages"] == [{"role": "user", "content": "Hello"}]


async def test_options_after_the_subcommand(
    fake_websim: FakeWebsim, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await run_cli(
        "chat",
        "Hello",
        "--model",
        "gemini-2.5-pro",
        "--base-url",
        fake_websim.url,
        "--timeout",
        "5",
    )
    assert code == 0
    assert capsys.readouterr().out == "echo: Hello\n"


async def test_base_url_from_the_environment(
    fake_websim: FakeWebsim, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBSIM_BASE_URL", fake_websim.url)
    assert await run_cli("chat", "Hello") == 0
    assert capsys.readouterr().out == "echo: Hello\n"
    assert len(fake_websim.requests) == 1


async def test_system_message(fake_websim: FakeWebsim, capsys: pytest.CaptureFixture[str]) -> None:
    assert await run_cli("--base-url", fake_websim.url, "chat", "Hi", "--system", "Be brief.") == 0
    assert fake_websim.requests[0].json["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]
    assert capsys.readouterr().out == "echo: Hi\n"


async def test_stream(fake_websim: FakeWebsim, capsys: pytest.CaptureFixture[str]) -> None:
    assert await run_cli("chat", "one two", "--stream", "--base-url", fake_websim.url) == 0
    assert capsys.readouterr().out == "echo: one two\n"
    assert fake_websim.requests[0].json["stream"] is True


async def test_image(fake_websim: FakeWebsim, capsys: pytest.CaptureFixture[str]) -> None:
    code = await run_cli(
        "image", "A cat in space", "--aspect-ratio", "16:9", "--base-url", fake_websim.url
    )
    assert code == 0
    (seen,) = fake_websim.requests
    assert seen.json["aspect_ratio"] == "16:9"
    assert seen.json["prompt"] == "A cat in space"
    url = f"https://img.test/{seen.json['project_id']}.png"
    assert capsys.readouterr().out == f"[![A cat in space]({url})]({url})\n"


async def test_image_project_id(
    fake_websim: FakeWebsim, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await run_cli(
        "--base-url", fake_websim.url, "image", "a fox", "--project-id", "kx0m131_rzz66qb2xoy7"
    )
    assert code == 0
    assert fake_websim.requests[0].json["project_id"] == "kx0m131_rzz66qb2xoy7"
    assert "kx0m131_rzz66qb2xoy7.png" in capsys.readouterr().out


async def test_server_error_is_one_line_and_exit_1(
    fake_websim: FakeWebsim, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_websim.script("chat", Reply(500, "model\noverloaded,\n  try later"))
    assert await run_cli("--base-url", fake_websim.url, "chat", "Hello") == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "websim: error: Response 500: model overloaded, try later\n"


async def test_format_error_with_a_multiline_body_is_still_one_line(
    fake_websim: FakeWebsim, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_websim.script("image", Reply(body="oops\nnot\njson", content_type="text/plain"))
    assert await run_cli("--base-url", fake_websim.url, "image", "a cat") == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("websim: error: image answer is not JSON")


async def test_connection_error(closed_port_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert await run_cli("--base-url", closed_port_url, "chat", "Hello") == 1
    err = capsys.readouterr().err
    assert err.startswith("websim: error: ")
    assert err.count("\n") == 1
    assert closed_port_url in err


async def test_an_error_naming_a_url_with_a_newline_is_still_one_line(
    closed_port_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_cli("--base-url", closed_port_url + "/a\nb", "chat", "Hello") == 1
    err = capsys.readouterr().err
    assert err.startswith("websim: error: ")
    assert err.count("\n") == 1
    assert f"{closed_port_url}/a b/" in err


async def test_timeout(fake_websim: FakeWebsim, capsys: pytest.CaptureFixture[str]) -> None:
    fake_websim.script("chat", Reply(hang=True))
    assert await run_cli("--base-url", fake_websim.url, "--timeout", "0.2", "chat", "Hello") == 1
    assert "timed out after 0.2 s" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["image", "a cat", "--aspect-ratio", "wide"], "aspect_ratio"),
        (["image", "a cat", "--project-id", "Not-Valid"], "project_id"),
        (["image", "   "], "prompt"),
        (["chat", "Hello", "--model", "flux"], "model"),
    ],
)
async def test_bad_input_exits_1_before_any_request(
    fake_websim: FakeWebsim, capsys: pytest.CaptureFixture[str], argv: list[str], field: str
) -> None:
    assert await run_cli("--base-url", fake_websim.url, *argv) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"websim: error: invalid {field}: ")
    assert err.count("\n") == 1
    assert fake_websim.requests == []


def test_bad_base_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--base-url", "websim.ai", "chat", "Hello"]) == 1
    assert capsys.readouterr().err.startswith("websim: error: invalid base_url: ")


@pytest.mark.parametrize(
    "argv", [[], ["chat"], ["image", "x", "--model", "gemini-1.5-pro"], ["draw", "x"]]
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "usage: websim" in capsys.readouterr().err


def test_help_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "websim_core", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("usage: websim")
    assert "{chat,image}" in result.stdout
    assert "--base-url" in result.stdout
    assert result.stderr == ""


def test_console_script_entry_point() -> None:
    (script,) = importlib.metadata.entry_points(group="console_scripts", name="websim")
    assert script.value == "websim_core.__main__:main"
    assert script.load() is main


async def test_a_rate_limited_call_says_it_is_retrying(
    fake_websim: FakeWebsim, capsys: pytest.CaptureFixture[str]
) -> None:
    # Retry-After: 0 keeps the real sleep at zero seconds.
    fake_websim.script("chat", Reply(429, "Rate limit exceeded", headers={"Retry-After": "0"}))
    assert await run_cli("--base-url", fake_websim.url, "chat", "Hello") == 0
    out, err = capsys.readouterr()
    assert out == "echo: Hello\n"
    assert err == "websim: rate limited; retrying in 0 s\n"
    assert len(fake_websim.requests) == 2


@pytest.mark.parametrize(
    ("command", "prog"),
    [(main, "websim"), (mock_main, "websim-mock"), (cassettes_main, "websim-cassettes")],
)
def test_every_command_says_its_version(
    command: Callable[[list[str]], int], prog: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        command(["--version"])
    assert info.value.code == 0
    out, err = capsys.readouterr()
    assert (out, err) == (f"{prog} {importlib.metadata.version('websim-harness')}\n", "")


@pytest.mark.parametrize(
    "argv",
    [
        ["websim_core", "chat", "Hello", "--base-url"],
        ["websim_core", "chat", "Hello", "--stream", "--base-url"],
        ["websim_cassettes", "list"],
    ],
)
async def test_a_reader_that_leaves_early_is_no_traceback(
    fake_websim: FakeWebsim, argv: list[str]
) -> None:
    # `websim chat hi | head`: the pipe's reader is gone before the command writes.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            *argv,
            *([fake_websim.url] if argv[-1] == "--base-url" else []),
            stdout=write_end,
            stderr=asyncio.subprocess.PIPE,
        )
    finally:
        os.close(write_end)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert err.decode() == ""
    assert proc.returncode == READER_GONE
