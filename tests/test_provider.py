"""The gpt4free-compatible facade: the documentation's examples run unchanged against a local
server chosen by WEBSIM_BASE_URL, on the class and on an instance."""

# The documented example is Russian: Cyrillic letters that look Latin are meant.
# ruff: noqa: RUF001

from __future__ import annotations

import inspect
import re
import textwrap
from typing import Any

import pytest
from fakes import FakeSleep, FakeWebsim, Reply

from websim_core import (
    ImageResponse,
    InvalidRequestError,
    RateLimitError,
    ResponseStatusError,
    RetryPolicy,
    Websim,
    WebsimTimeoutError,
)
from websim_core.ids import ProjectIdKind, classify_project_id

HELLO = [{"role": "user", "content": "Hello, how are you?"}]

# Copied verbatim from the protocol page ("The usage the original documentation promises").
EXAMPLE_CLASSMETHOD = """\
# as a classmethod: chat, then image
messages = [{"role": "user", "content": "Hello, how are you?"}]
async for response in Websim.create_async_generator(model="gemini-1.5-pro", messages=messages):
    print(response)            # a str

messages = [{"role": "user", "content": "A cat in space"}]
async for response in Websim.create_async_generator(model="flux", messages=messages, prompt="A cat in space"):
    print(response)            # an image result; printing it shows a Markdown image
"""
EXAMPLE_INSTANCE = """\
# on an instance, with history
websim = Websim()
messages = [{"role": "user", "content": "Привет, как дела?"},
            {"role": "assistant", "content": "Хорошо, а у тебя как?"}]
async for response in websim.create_async_generator(model="gemini-1.5-pro", messages=messages):
    print(f"Ответ: {response}")
"""
IMPORT_LINE = "from websim_core import Websim\n"


async def run_example(source: str) -> None:
    """Run a top-level-``await`` snippet as the body of a coroutine, with only the import added."""
    code = "async def _example():\n" + textwrap.indent(IMPORT_LINE + source, "    ")
    namespace: dict[str, Any] = {}
    exec(compile(code, "<documentation example>", "exec"), namespace)
    await namespace["_example"]()


@pytest.fixture
def local_websim(fake_websim: FakeWebsim, monkeypatch: pytest.MonkeyPatch) -> FakeWebsim:
    monkeypatch.setenv("WEBSIM_BASE_URL", fake_websim.url)
    return fake_websim


async def test_the_classmethod_example(
    local_websim: FakeWebsim, capsys: pytest.CaptureFixture[str]
) -> None:
    await run_example(EXAMPLE_CLASSMETHOD)
    chat, image = local_websim.requests
    assert chat.json["messages"] == [{"role": "user", "content": "Hello, how are you?"}]
    assert image.json["prompt"] == "A cat in space"
    assert image.json["aspect_ratio"] == "1:1"
    url = f"https://img.test/{image.json['project_id']}.png"
    assert capsys.readouterr().out.splitlines() == [
        "echo: Hello, how are you?",
        f"[![A cat in space]({url})]({url})",
    ]


async def test_the_instance_example_sends_the_whole_history(
    local_websim: FakeWebsim, capsys: pytest.CaptureFixture[str]
) -> None:
    await run_example(EXAMPLE_INSTANCE)
    (chat,) = local_websim.requests
    # The last message is the assistant's: still a chat request with the history as it is.
    assert chat.json["messages"] == [
        {"role": "user", "content": "Привет, как дела?"},
        {"role": "assistant", "content": "Хорошо, а у тебя как?"},
    ]
    assert capsys.readouterr().out == "Ответ: echo: Хорошо, а у тебя как?\n"


@pytest.mark.parametrize("provider", [Websim, Websim()], ids=["class", "instance"])
async def test_one_str_for_chat_and_one_image_response_for_images(
    local_websim: FakeWebsim, provider: Any
) -> None:
    history = [{"role": "user", "content": "A cat in space"}]
    chat = [
        r async for r in provider.create_async_generator(model="gemini-2.5-flash", messages=history)
    ]
    image = [r async for r in provider.create_async_generator(model="flux", messages=history)]
    assert chat == ["echo: A cat in space"]
    assert len(image) == 1
    assert isinstance(image[0], ImageResponse)
    assert image[0].alt == "A cat in space"
    assert [r.path for r in local_websim.requests] == [
        "/api/v1/inference/run_chat_completion",
        "/api/v1/inference/run_image_generation",
    ]


async def test_keyword_arguments_reach_the_request(local_websim: FakeWebsim) -> None:
    history = [{"role": "user", "content": "ignored"}]
    (image,) = [
        r
        async for r in Websim.create_async_generator(
            "flux", history, prompt="a fox", aspect_ratio="21:9", project_id="kx0m131_rzz66qb2xoy7"
        )
    ]
    (seen,) = local_websim.requests
    assert seen.json == {
        "project_id": "kx0m131_rzz66qb2xoy7",
        "prompt": "a fox",
        "aspect_ratio": "21:9",
    }
    assert isinstance(image, ImageResponse)
    assert image.alt == "a fox"


async def test_unknown_models_go_to_chat_and_extra_g4f_kwargs_are_accepted(
    local_websim: FakeWebsim,
) -> None:
    history = [{"role": "user", "content": "hi"}]
    got = [
        r
        async for r in Websim.create_async_generator(
            "some-future-model", history, stream=True, temperature=0.2, timeout=30
        )
    ]
    assert got == ["echo: hi"]
    (seen,) = local_websim.requests
    assert "stream" not in seen.json  # g4f's stream flag is not our streaming extension


async def test_base_url_keyword_beats_the_environment(
    fake_websim: FakeWebsim, monkeypatch: pytest.MonkeyPatch, closed_port_url: str
) -> None:
    monkeypatch.setenv("WEBSIM_BASE_URL", closed_port_url)
    history = [{"role": "user", "content": "hi"}]
    got = [
        r
        async for r in Websim.create_async_generator(
            "gemini-1.5-pro", history, base_url=fake_websim.url
        )
    ]
    assert got == ["echo: hi"]


async def test_proxy_keyword(fake_websim: FakeWebsim, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBSIM_BASE_URL", "http://websim.invalid")
    history = [{"role": "user", "content": "hi"}]
    got = [
        r
        async for r in Websim.create_async_generator(
            "gemini-1.5-pro", history, proxy=fake_websim.url
        )
    ]
    assert got == ["echo: hi"]
    assert fake_websim.requests[0].host == "websim.invalid"


async def test_errors_surface_from_the_async_for(local_websim: FakeWebsim) -> None:
    history = [{"role": "user", "content": "hi"}]
    local_websim.script("chat", Reply(500, {"error": "boom"}))
    with pytest.raises(ResponseStatusError, match=r"^Response 500: boom$"):
        async for _ in Websim.create_async_generator("gemini-1.5-pro", history):
            pass
    local_websim.script("image", Reply(429, "Rate limit exceeded"))
    with pytest.raises(RateLimitError):  # images are not retried, so no real sleep here
        async for _ in Websim.create_async_generator("flux", history):
            pass
    assert len(local_websim.requests) == 2


async def test_timeout_keyword(local_websim: FakeWebsim) -> None:
    local_websim.script("chat", Reply(hang=True))
    with pytest.raises(WebsimTimeoutError):
        async for _ in Websim.create_async_generator(
            "gemini-1.5-pro", [{"role": "user", "content": "hi"}], timeout=0.2
        ):
            pass


@pytest.mark.parametrize(
    ("model", "messages", "field"),
    [
        ("", [{"role": "user", "content": "hi"}], "model"),
        (None, [{"role": "user", "content": "hi"}], "model"),
        ("gemini-1.5-pro", [], "messages"),
        ("gemini-1.5-pro", [{"role": "user"}], "messages[0].content"),
        ("flux", [{"role": "assistant", "content": "hi"}], "prompt"),
    ],
)
async def test_bad_input_raises_before_any_request(
    local_websim: FakeWebsim, model: Any, messages: Any, field: str
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        async for _ in Websim.create_async_generator(model, messages):
            pass
    assert info.value.field == field
    assert local_websim.requests == []


def test_class_attributes() -> None:
    assert Websim.url == "https://websim.ai"
    assert Websim.chat_api_endpoint == "https://websim.ai/api/v1/inference/run_chat_completion"
    assert Websim.image_api_endpoint == "https://websim.ai/api/v1/inference/run_image_generation"
    assert Websim.default_model == "gemini-1.5-pro"
    assert Websim.default_image_model == "flux"
    assert Websim.image_models == ["flux"]
    assert Websim.models == [
        "gemini-1.5-pro",
        "gemini-1.5-flash",
        "gemini-2.5-pro",
        "gemini-2.5-flash",
        "flux",
    ]
    assert Websim.supports_stream is False
    assert Websim.supports_system_message is True
    assert Websim.supports_message_history is True
    assert inspect.isasyncgenfunction(Websim.create_async_generator)
    assert inspect.isasyncgenfunction(Websim().create_async_generator)


def test_create_async_generator_signature() -> None:
    params = inspect.signature(Websim.create_async_generator).parameters
    assert list(params)[:6] == [
        "model",
        "messages",
        "prompt",
        "proxy",
        "aspect_ratio",
        "project_id",
    ]
    assert params["prompt"].default is None
    assert params["proxy"].default is None
    assert params["aspect_ratio"].default == "1:1"
    assert params["project_id"].default is None
    assert any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


@pytest.mark.parametrize("provider", [Websim, Websim()], ids=["class", "instance"])
def test_generate_project_id(provider: Any) -> None:
    assert classify_project_id(provider.generate_project_id()) is ProjectIdKind.CHAT
    assert classify_project_id(provider.generate_project_id(for_image=False)) is ProjectIdKind.CHAT
    assert classify_project_id(provider.generate_project_id(for_image=True)) is ProjectIdKind.IMAGE
    assert classify_project_id(provider.generate_project_id(True)) is ProjectIdKind.IMAGE
    assert provider.generate_project_id() != provider.generate_project_id()


def test_the_examples_are_the_documented_ones() -> None:
    # Guard against someone "fixing" the examples to suit the code.
    assert re.search(
        r"Websim\.create_async_generator\(model=\"flux\", messages=messages, prompt=",
        EXAMPLE_CLASSMETHOD,
    )
    assert "websim = Websim()" in EXAMPLE_INSTANCE
    assert "import" not in EXAMPLE_CLASSMETHOD + EXAMPLE_INSTANCE


async def test_a_retry_policy_keyword_reaches_the_client(local_websim: FakeWebsim) -> None:
    sleep = FakeSleep()
    local_websim.script("chat", Reply(429, "Rate limit exceeded"))
    got = [
        r
        async for r in Websim.create_async_generator(
            model="gemini-1.5-pro", messages=HELLO, retry=RetryPolicy(sleep=sleep)
        )
    ]
    assert got == ["echo: Hello, how are you?"]
    assert sleep.delays == [2.0]
    assert len(local_websim.requests) == 2
