"""The recorded scenarios: one cassette each, driven through ``WebsimClient``, with expectations.

The re-recorder plays each against a target; the replay tests play each against its cassette
and check the same expectation. Scenarios whose answer must be arranged (429s, 5xx, 403, 401,
odd bodies) carry the mock-server script that arranges it; against the live API they cannot be
arranged, and the recorder says so instead of faking them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from websim_core.client import WebsimClient
from websim_core.errors import (
    CloudflareError,
    MissingAuthError,
    RateLimitError,
    ResponseFormatError,
    ResponseStatusError,
    WebsimError,
)
from websim_core.protocol import ImageResponse

__all__ = ["SCENARIOS", "Outcome", "Scenario", "run_scenario", "scenario_by_name"]


@dataclass
class Outcome:
    """What a scenario's calls gave: a result or a ``WebsimError``, and the retry delays."""

    result: Any = None
    error: WebsimError | None = None
    delays: list[float] = field(default_factory=list)

    def describe(self) -> str:
        retries = f" after {len(self.delays)} retr{'y' if len(self.delays) == 1 else 'ies'}"
        retries = retries if self.delays else ""
        if self.error is not None:
            return f"{type(self.error).__name__}: {self.error}{retries}"
        if isinstance(self.result, list):
            return f"{len(self.result)} deltas{retries}"
        return f"{type(self.result).__name__}{retries}"


Drive = Callable[[WebsimClient], Awaitable[Any]]
Expect = Callable[[Outcome], "str | None"]


@dataclass(frozen=True)
class Scenario:
    """One cassette: how to produce it, what must come out, and how the mock arranges it."""

    name: str
    description: str
    drive: Drive
    expect: Expect
    endpoint: str = "chat"
    # Steps for the mock's POST /__admin/scenarios; None: the target's own answer is recorded.
    mock_script: list[Any] | None = None
    # An arranged answer cannot be had from the live API on demand.
    live: bool = True

    @property
    def cassette(self) -> str:
        return f"{self.name}.yaml"

    @property
    def arranged(self) -> bool:
        return self.mock_script is not None


async def run_scenario(
    scenario: Scenario, client: WebsimClient, delays: list[float] | None = None
) -> Outcome:
    """Drive the scenario; a ``WebsimError`` becomes the outcome's ``error``."""
    outcome = Outcome(delays=delays if delays is not None else [])
    try:
        outcome.result = await scenario.drive(client)
    except WebsimError as exc:
        outcome.error = exc
    return outcome


def scenario_by_name(name: str) -> Scenario:
    stem = name[:-5] if name.endswith(".yaml") else name
    for scenario in SCENARIOS:
        if scenario.name == stem:
            return scenario
    known = ", ".join(s.name for s in SCENARIOS)
    raise KeyError(f"no scenario {name!r} (known: {known})")


# --- drives -------------------------------------------------------------------------------------


def _chat(*messages: tuple[str, str]) -> Drive:
    history = [{"role": role, "content": content} for role, content in messages]

    async def drive(client: WebsimClient) -> Any:
        return await client.chat(history)

    return drive


def _stream(text: str) -> Drive:
    async def drive(client: WebsimClient) -> Any:
        return [delta async for delta in client.stream_chat([{"role": "user", "content": text}])]

    return drive


def _plain_then_stream(text: str) -> Drive:
    messages = [{"role": "user", "content": text}]

    async def drive(client: WebsimClient) -> Any:
        answer = await client.chat(messages)
        return answer, [delta async for delta in client.stream_chat(messages)]

    return drive


def _image(prompt: str, ratio: str) -> Drive:
    async def drive(client: WebsimClient) -> Any:
        return await client.generate_image(prompt, aspect_ratio=ratio)

    return drive


# --- expectations -------------------------------------------------------------------------------


def _text_answer(outcome: Outcome) -> str | None:
    if outcome.error is not None:
        return f"expected an answer, got {type(outcome.error).__name__}: {outcome.error}"
    if not isinstance(outcome.result, str) or not outcome.result.strip():
        return f"expected a non-empty text answer, got {outcome.result!r:.80}"
    return None


def _retried_then_answered(outcome: Outcome) -> str | None:
    return _text_answer(outcome) or (
        None if len(outcome.delays) == 2 else f"expected 2 retries, saw {len(outcome.delays)}"
    )


def _error(kind: type[WebsimError], status: int | None = None, retries: int = 0) -> Expect:
    def expect(outcome: Outcome) -> str | None:
        error = outcome.error
        if type(error) is not kind:
            got = f"{type(error).__name__}: {error}" if error else repr(outcome.result)[:80]
            return f"expected {kind.__name__}, got {got}"
        if status is not None and getattr(error, "status", None) != status:
            return f"expected status {status}, got {getattr(error, 'status', None)}"
        if len(outcome.delays) != retries:
            return f"expected {retries} retries, saw {len(outcome.delays)}"
        return None

    return expect


def _deltas(outcome: Outcome) -> str | None:
    if outcome.error is not None:
        return f"expected a stream, got {type(outcome.error).__name__}: {outcome.error}"
    deltas = outcome.result
    if not isinstance(deltas, list) or not deltas or not "".join(deltas).strip():
        return f"expected non-empty deltas, got {deltas!r:.80}"
    return None


def _one_delta(outcome: Outcome) -> str | None:
    problem = _deltas(outcome)
    if problem is None and len(outcome.result) != 1:
        return f"expected one delta (a plain JSON answer), got {len(outcome.result)}"
    return problem


def _answer_and_deltas(outcome: Outcome) -> str | None:
    if outcome.error is not None:
        return f"expected answers, got {type(outcome.error).__name__}: {outcome.error}"
    answer, deltas = outcome.result
    return _text_answer(Outcome(answer)) or _deltas(Outcome(deltas))


def _image_url(outcome: Outcome) -> str | None:
    if outcome.error is not None:
        return f"expected an image, got {type(outcome.error).__name__}: {outcome.error}"
    if not isinstance(outcome.result, ImageResponse):
        return f"expected an ImageResponse, got {outcome.result!r:.80}"
    return None


_CLOUDFLARE_403 = 403
_RATE_LIMITED = {"status": 429, "headers": {"Retry-After": "1"}, "body": "Rate limit exceeded"}

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "chat_basic",
        "one user message, a JSON answer",
        _chat(("user", "Hello, how are you?")),
        _text_answer,
    ),
    Scenario(
        "chat_system_history",
        "a system message and a conversation history",
        _chat(
            ("system", "You are a concise assistant who answers in one sentence."),
            ("user", "What is the tallest mountain on Earth?"),
            ("assistant", "Mount Everest, at 8,849 metres."),
            ("user", "And the second tallest?"),
        ),
        _text_answer,
    ),
    Scenario(
        "chat_non_ascii",
        "non-ASCII text both ways (the README's Russian example, plus CJK and emoji)",
        _chat(
            ("user", "Привет, как дела? 你好，世界 🌍"),  # noqa: RUF001
            ("assistant", "Хорошо, а у тебя как?"),  # noqa: RUF001
        ),
        _text_answer,
    ),
    Scenario(
        "chat_non_json_body",
        "a 200 whose body is plain text, not JSON: the client yields the raw text",
        _chat(("user", "Reply in plain text, please.")),
        _text_answer,
        mock_script=[
            {
                "status": 200,
                "headers": {"Content-Type": "text/plain; charset=utf-8"},
                "body": "This answer is plain text, not JSON.",
            }
        ],
        live=False,
    ),
    Scenario(
        "chat_429_429_200",
        "rate limited twice (Retry-After: 1), answered on the third attempt",
        _chat(("user", "Tell me one fun fact about otters.")),
        _retried_then_answered,
        mock_script=[_RATE_LIMITED, _RATE_LIMITED, 200],
        live=False,
    ),
    Scenario(
        "chat_429_exhausted",
        "rate limited on all three attempts: RateLimitError",
        _chat(("user", "What is the capital of Peru?")),
        _error(RateLimitError, 429, retries=2),
        mock_script=[429, 429, 429],
        live=False,
    ),
    Scenario(
        "chat_500",
        "an internal server error",
        _chat(("user", "Summarise the plot of Hamlet.")),
        _error(ResponseStatusError, 500),
        mock_script=[500],
        live=False,
    ),
    Scenario(
        "chat_502",
        "a bad gateway page",
        _chat(("user", "How far away is the Moon?")),
        _error(ResponseStatusError, 502),
        mock_script=[502],
        live=False,
    ),
    Scenario(
        "chat_403_cloudflare",
        "a Cloudflare challenge page instead of the API",
        _chat(("user", "Are you a robot?")),
        _error(CloudflareError, _CLOUDFLARE_403),
        mock_script=[403],
        live=False,
    ),
    Scenario(
        "chat_401",
        "authentication required",
        _chat(("user", "Who am I logged in as?")),
        _error(MissingAuthError, 401),
        mock_script=[401],
        live=False,
    ),
    Scenario(
        "chat_stream",
        "a streamed answer (this project's server-sent-events extension)",
        _stream("Count from one to five, in words."),
        _deltas,
    ),
    Scenario(
        "chat_stream_and_plain",
        "the same question asked plainly, then streamed (the contract suite compares the two)",
        _plain_then_stream("Name three primary colours."),
        _answer_and_deltas,
    ),
    Scenario(
        "chat_stream_plain_json",
        "a stream request answered with plain JSON, as a server that does not stream does: one delta",
        _stream("Say hello in one short sentence."),
        _one_delta,
        mock_script=[{"status": 200, "body": {"content": " Hello! Nice to meet you. "}}],
        # The live API does not stream (as far as is known): its own answer is the real test.
        live=True,
    ),
    Scenario(
        "image_1_1",
        "a square image",
        _image("A cat in space", "1:1"),
        _image_url,
        endpoint="image",
    ),
    Scenario(
        "image_16_9",
        "a wide image",
        _image("A lighthouse at dusk, wide shot", "16:9"),
        _image_url,
        endpoint="image",
    ),
    Scenario(
        "image_9_16",
        "a tall image",
        _image("A fox in the snow, portrait", "9:16"),
        _image_url,
        endpoint="image",
    ),
    Scenario(
        "image_21_9",
        "a panoramic image, non-ASCII prompt",
        _image("Ein Leuchtturm über dem Meer, Panorama", "21:9"),
        _image_url,
        endpoint="image",
    ),
    Scenario(
        "image_9_21",
        "a very tall image",
        _image("A waterfall in a narrow canyon", "9:21"),
        _image_url,
        endpoint="image",
    ),
    Scenario(
        "image_no_url",
        "a 200 without 'url': ResponseFormatError (g4f yields nothing)",
        _image("A red bicycle", "1:1"),
        _error(ResponseFormatError),
        endpoint="image",
        mock_script=[{"status": 200, "body": {}}],
        live=False,
    ),
    Scenario(
        "image_4_3",
        "a ratio outside the five seen in clients (4:3): any W:H of positive integers is an image",
        _image("A mountain lake", "4:3"),
        _image_url,
        endpoint="image",
    ),
)
