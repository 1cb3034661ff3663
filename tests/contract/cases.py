"""What the contract properties range over, and the oracles they are checked against.

Each property takes one kind of case. The mock and live backends draw cases from the strategies
below; the cassette backend replays the cases found in the recorded cassettes (``recorded``).
The oracles restate the protocol page (/work/shared/websim-protocol.md), not the client's code.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from helpers import COMMITTED_CASSETTES
from hypothesis import strategies as st

from websim_cassettes import CassetteFile, cassette_paths, load_cassette
from websim_core import (
    CloudflareError,
    MissingAuthError,
    RateLimitError,
    ResponseStatusError,
)
from websim_core.routing import CHAT_MODELS, CHAT_PATH, IMAGE_MODELS, IMAGE_PATH, MODELS

Message = dict[str, Any]
Endpoint = Literal["chat", "image"]

# --- the protocol page, restated --------------------------------------------------------------

CHAT_ID = re.compile(r"[a-z0-9]{3}_[a-z0-9]{16}")
IMAGE_ID = re.compile(r"[a-z0-9]{7}_[a-z0-9]{12}")
DOCUMENTED_RATIOS = ("1:1", "16:9", "9:16", "21:9", "9:21")
CHAT_KEYS = frozenset({"project_id", "messages"})  # plus "stream": true, this project's extension
IMAGE_KEYS = frozenset({"project_id", "prompt", "aspect_ratio"})
RATE_LIMIT_FAMILY = frozenset({402, 429, 504})
DOCUMENTED_STATUSES = (400, 401, 402, 403, 404, 429, 500, 502, 503, 504, 520)
ATTEMPTS = 3  # "at most 3 attempts in all"
_CLOUDFLARE_MARKERS = ("Just a moment...", "cf-")


def documented_prompt(prompt: str | None, messages: Sequence[Message] | None) -> str:
    """The image prompt: the explicit one, else the trailing run of user messages, each stripped,
    empty ones dropped, joined by newlines in their original order."""
    if prompt:
        return prompt
    run: list[str] = []
    for message in reversed(messages or []):
        if message["role"] != "user":
            break
        run.insert(0, message["content"].strip())
    return "\n".join(text for text in run if text)


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _is_html(text: str, content_type: str | None) -> bool:
    head = text.lstrip()[:15].lower()
    return _media_type(content_type) == "text/html" or head.startswith(("<!doctype", "<html"))


def documented_message(body: bytes, content_type: str | None) -> str | None:
    """The message part of a status error: the JSON ``error`` (or its ``message``) or ``message``
    field, else the text body, or "HTML content" for a page; None when the page says nothing."""
    text = body.decode("utf-8", "replace")
    if _is_html(text, content_type):
        return "HTML content"
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            error = error.get("message")
        for field in (error, data.get("message")):
            if isinstance(field, str) and field:
                return field
    return text.strip() or None


def documented_error(
    status: int, body: bytes, content_type: str | None
) -> tuple[type[ResponseStatusError], str | None]:
    """The exception class and message (None: not documented) the table gives for a status."""
    text = body.decode("utf-8", "replace")
    if status == 403 and any(marker in text for marker in _CLOUDFLARE_MARKERS):
        return CloudflareError, None
    if status == 502:
        return ResponseStatusError, "Bad Gateway"
    if status == 520:
        return ResponseStatusError, "Unknown error (Cloudflare)"
    if status == 504:
        return RateLimitError, None
    message = documented_message(body, content_type)
    if status in (402, 429):
        return RateLimitError, message
    if status == 401:
        return MissingAuthError, message
    return ResponseStatusError, message


def documented_attempts(endpoint: Endpoint, statuses: Sequence[int]) -> int:
    """How many requests the client makes when the server answers ``statuses`` in turn: chat
    retries the rate-limit family, at most 3 attempts in all; images are never retried."""
    for attempt, status in enumerate(statuses[:ATTEMPTS], start=1):
        if status < 400 or endpoint == "image" or status not in RATE_LIMIT_FAMILY:
            return attempt
    return min(len(statuses), ATTEMPTS)


def documented_delays(retry_afters: Sequence[str | None]) -> list[float]:
    """The waits after each failed attempt: ``Retry-After`` seconds when sent, else 2 s, 4 s..."""
    return [
        float(after) if after is not None else 2.0 * 2**i for i, after in enumerate(retry_afters)
    ]


# --- the cases ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatCase:
    messages: list[Message]
    model: str
    cassette: str | None = None


@dataclass(frozen=True)
class StreamCase:
    messages: list[Message]
    # Also ask plainly and compare: only where the same question gets the same answer.
    compare: bool
    cassette: str | None = None


@dataclass(frozen=True)
class FallbackCase:
    """A stream request answered with plain JSON ``{"content": ...}`` (arranged on the mock)."""

    messages: list[Message]
    content: str | None  # None: whatever the cassette recorded
    cassette: str | None = None


@dataclass(frozen=True)
class ImageCase:
    aspect_ratio: str
    prompt: str | None
    messages: list[Message] | None
    cassette: str | None = None


@dataclass(frozen=True)
class DispatchCase:
    model: str
    messages: list[Message]
    prompt: str | None
    aspect_ratio: str
    cassette: str | None = None


@dataclass(frozen=True)
class ErrorCase:
    endpoint: Endpoint
    status: int
    step: Any  # the mock step that arranges the answer (None for a cassette)
    messages: list[Message]  # chat input
    prompt: str  # image input
    aspect_ratio: str
    cassette: str | None = None


@dataclass(frozen=True)
class RetryCase:
    messages: list[Message]
    # What the server answers each attempt in turn: (status, Retry-After or None).
    answers: tuple[tuple[int, str | None], ...]
    cassette: str | None = None

    @property
    def steps(self) -> list[Any]:
        return [
            status if after is None else {"status": status, "headers": {"Retry-After": after}}
            for status, after in self.answers
        ]


# --- strategies (mock and live) ---------------------------------------------------------------

_SAMPLES = ("Привет", "как дела", "你好", "世界", "🌍", "café", "naïve", "مرحبا", "שלום", "ΑΒΓ")
_words = st.one_of(
    st.text(st.characters(codec="utf-8", categories=["L", "M", "N", "P", "S"]), min_size=1),
    st.sampled_from(_SAMPLES),
    st.sampled_from(("Hello", "how", "are", "you", "a", "cat", "in", "space", "42")),
)
# Non-blank, no surrounding whitespace: a sentence of 1 to 40 words, one in ten a long one.
sentences = st.one_of(
    st.lists(_words, min_size=1, max_size=8),
    st.lists(_words, min_size=1, max_size=40),
).map(" ".join)
# Message texts keep whitespace around them sometimes, and may be blank: sent as they are.
message_texts = st.one_of(
    sentences,
    st.builds(
        lambda a, s, b: a + s + b, st.sampled_from(" \n\t"), sentences, st.sampled_from(" \n")
    ),
    st.sampled_from(("", "  ", "\n")),
)
roles = st.sampled_from(("user", "user", "assistant", "system"))


def _message(role: str, content: str) -> Message:
    return {"role": role, "content": content}


conversations = st.lists(st.builds(_message, roles, message_texts), min_size=1, max_size=6).filter(
    lambda ms: any(m["content"].strip() for m in ms)
)

# Every name here routes to chat: the client's chat list, and names it has never heard of.
OTHER_MODELS = ("gpt-4o", "claude-3-5-sonnet", "llama-3.1-70b", "mistral-large", "模型-7b")
chat_models = st.sampled_from(CHAT_MODELS + OTHER_MODELS)
# Near misses of the image list must go to chat too.
NEAR_IMAGE_MODELS = tuple(
    name for model in IMAGE_MODELS for name in (model.upper(), model + " ", model + "-pro")
)
any_models = st.one_of(
    st.sampled_from(MODELS),
    st.sampled_from(OTHER_MODELS + NEAR_IMAGE_MODELS),
    # (an aspect ratio is the one other short string a request carries)
    st.text(min_size=1, max_size=24).filter(lambda m: m not in DOCUMENTED_RATIOS),
)


@st.composite
def trailing_user_conversations(draw: st.DrawFn) -> list[Message]:
    """A conversation ending in a run of user messages, one of them not blank."""
    head = draw(st.lists(st.builds(_message, roles, message_texts), max_size=3))
    if head:
        head[-1] = _message(draw(st.sampled_from(("assistant", "system"))), head[-1]["content"])
    run = draw(st.lists(message_texts, min_size=1, max_size=3))
    run.insert(draw(st.integers(0, len(run))), draw(sentences))
    return head + [_message("user", text) for text in run]


def image_cases(ratio: str) -> st.SearchStrategy[ImageCase]:
    explicit = st.builds(
        lambda p, ms: ImageCase(ratio, p, ms),
        sentences,
        st.one_of(st.none(), conversations),
    )
    from_messages = st.builds(lambda ms: ImageCase(ratio, None, ms), trailing_user_conversations())
    return st.one_of(explicit, from_messages)


chat_cases = st.builds(ChatCase, conversations, chat_models)
stream_cases = st.builds(StreamCase, conversations, st.just(True))
fallback_cases = st.builds(FallbackCase, conversations, message_texts.filter(str.strip))
dispatch_cases = st.builds(
    DispatchCase,
    any_models,
    trailing_user_conversations(),
    st.one_of(st.none(), sentences),
    st.sampled_from(DOCUMENTED_RATIOS),
)

_error_words = (
    st.text(st.characters(codec="utf-8", categories=["L", "N"]), min_size=1, max_size=10)
    .map(str.strip)
    .filter(bool)
)
error_texts = st.lists(_error_words, min_size=1, max_size=12).map(" ".join)
error_bodies = st.one_of(
    st.none(),  # the mock's built-in answer for the status
    st.builds(lambda t: {"error": t}, error_texts),
    st.builds(lambda t: {"error": {"message": t}}, error_texts),
    st.builds(lambda t: {"message": t}, error_texts),
    error_texts,
    st.builds(lambda t: f"<!DOCTYPE html><html><body><p>{t}</p></body></html>", error_texts),
)
error_statuses = st.one_of(st.sampled_from(DOCUMENTED_STATUSES), st.integers(400, 599))


@st.composite
def error_cases(draw: st.DrawFn) -> ErrorCase:
    endpoint: Endpoint = draw(st.sampled_from(("chat", "image")))
    status = draw(error_statuses)
    body = draw(error_bodies)
    step = status if body is None else {"status": status, "body": body}
    return ErrorCase(
        endpoint,
        status,
        step,
        draw(conversations),
        draw(sentences),
        draw(st.sampled_from(DOCUMENTED_RATIOS)),
    )


_retry_afters = st.one_of(st.none(), st.integers(0, 30).map(str))
retry_cases = st.builds(
    lambda ms, limited: RetryCase(ms, (*((429, a) for a in limited), (200, None))),
    conversations,
    st.lists(_retry_afters, max_size=4),
)

# --- explicit cases: always checked, before the drawn ones (mock and live) ----------------------

# The seed documentation's own examples.
HELLO = [_message("user", "Hello, how are you?")]
HISTORY = [
    _message("user", "Привет, как дела?"),
    _message("assistant", "Хорошо, а у тебя как?"),  # noqa: RUF001
]
CAT = [_message("user", "A cat in space")]

explicit_chat = [ChatCase(HELLO, CHAT_MODELS[0]), ChatCase(HISTORY, CHAT_MODELS[0])]
explicit_stream = [StreamCase(HELLO, True)]
# Every model of the lists, by name.
explicit_dispatch = [DispatchCase(model, CAT, None, "1:1") for model in MODELS]
# Every documented status, with the mock's built-in answer, on both endpoints; and a 403
# that is not Cloudflare's.
explicit_errors = [
    ErrorCase(endpoint, status, status, HELLO, "A cat in space", "1:1")
    for status in DOCUMENTED_STATUSES
    for endpoint in ("chat", "image")
] + [ErrorCase("chat", 403, {"status": 403, "body": {"error": "Forbidden"}}, HELLO, "", "1:1")]
explicit_retries = [
    RetryCase(HELLO, ((200, None),)),
    RetryCase(HELLO, ((429, "1"), (429, "1"), (200, None))),
    RetryCase(HELLO, ((429, None), (429, None), (429, None), (200, None))),
]

# --- recorded cases (the cassette backend) ------------------------------------------------------


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


@dataclass(frozen=True)
class Recorded:
    """One cassette's requests and answers, as plain data."""

    name: str
    against: str  # "mock", "live" or "upstream"
    paths: list[str]
    requests: list[Any]  # the JSON bodies
    statuses: list[int]
    media_types: list[str]
    retry_afters: list[str | None]
    bodies: list[Any]  # the JSON answers, or None

    @classmethod
    def of(cls, cassette: CassetteFile) -> Recorded:
        interactions = cassette.interactions
        return cls(
            cassette.path.name,
            str(cassette.provenance.get("recorded_against", "")),
            [i.request.path for i in interactions],
            [_json(i.request.body) for i in interactions],
            [i.response.status for i in interactions],
            [i.response.media_type for i in interactions],
            [i.response.header("Retry-After") for i in interactions],
            [_json(i.response.body) for i in interactions],
        )

    def only(self, path: str) -> bool:
        return bool(self.paths) and all(p == path for p in self.paths)


@functools.cache
def recordings() -> tuple[Recorded, ...]:
    """Every committed cassette (read once per process)."""
    return tuple(Recorded.of(load_cassette(path)) for path in cassette_paths(COMMITTED_CASSETTES))


def _is_stream(request: Mapping[str, Any]) -> bool:
    return request.get("stream") is True


def recorded_chat_cases() -> list[ChatCase]:
    """Single plain chat requests answered 200, each asked once per chat model."""
    return [
        ChatCase(r.requests[0]["messages"], model, r.name)
        for r in recordings()
        if r.only(CHAT_PATH) and r.statuses == [200] and not _is_stream(r.requests[0])
        for model in CHAT_MODELS
    ]


def recorded_stream_cases() -> list[StreamCase]:
    """A plain request and a streamed one for the same messages (compared when recorded against
    the deterministic mock), or a lone streamed request answered with an event stream."""
    cases = []
    for r in recordings():
        if not r.only(CHAT_PATH) or set(r.statuses) != {200}:
            continue
        streamed = [_is_stream(request) for request in r.requests]
        messages = r.requests[0]["messages"]
        same = all(request["messages"] == messages for request in r.requests)
        if sorted(streamed) == [False, True] and same:
            cases.append(StreamCase(messages, r.against == "mock", r.name))
        elif streamed == [True] and r.media_types == ["text/event-stream"]:
            cases.append(StreamCase(messages, False, r.name))
    return cases


def recorded_fallback_cases() -> list[FallbackCase]:
    """A lone streamed request answered 200 with plain JSON."""
    return [
        FallbackCase(r.requests[0]["messages"], None, r.name)
        for r in recordings()
        if r.only(CHAT_PATH)
        and r.statuses == [200]
        and _is_stream(r.requests[0])
        and r.media_types == ["application/json"]
    ]


def recorded_image_cases(ratio: str) -> list[ImageCase]:
    """Single image requests at this aspect ratio answered 200 with a URL."""
    return [
        ImageCase(ratio, r.requests[0]["prompt"], None, r.name)
        for r in recordings()
        if r.only(IMAGE_PATH)
        and r.statuses == [200]
        and r.requests[0].get("aspect_ratio") == ratio
        and isinstance(r.bodies[0], dict)
        and "url" in r.bodies[0]
    ]


def recorded_dispatch_cases() -> list[DispatchCase]:
    """Each model (the lists, and names they lack) with a recorded input of its endpoint."""
    chat = [c for c in recorded_chat_cases() if c.messages[-1]["role"] == "user"]
    image = [c for ratio in DOCUMENTED_RATIOS for c in recorded_image_cases(ratio)]
    if not chat or not image:
        return []
    cases: list[DispatchCase] = []
    for model in MODELS + OTHER_MODELS + NEAR_IMAGE_MODELS:
        if model in IMAGE_MODELS:
            i = image[len(cases) % len(image)]
            assert i.prompt is not None
            user = [_message("user", i.prompt)]
            cases.append(DispatchCase(model, user, None, i.aspect_ratio, i.cassette))
        else:
            c = chat[len(cases) % len(chat)]
            cases.append(DispatchCase(model, c.messages, None, "1:1", c.cassette))
    return cases


def recorded_error_cases() -> list[ErrorCase]:
    """Requests to one endpoint answered with the same error status every time."""
    cases: list[ErrorCase] = []
    for r in recordings():
        endpoint: Endpoint = "chat" if r.only(CHAT_PATH) else "image"
        if not (r.only(CHAT_PATH) or r.only(IMAGE_PATH)) or len(set(r.statuses)) != 1:
            continue
        if r.statuses[0] < 400:
            continue
        request = r.requests[0]
        cases.append(
            ErrorCase(
                endpoint,
                r.statuses[0],
                None,
                request.get("messages", []),
                request.get("prompt", ""),
                request.get("aspect_ratio", "1:1"),
                r.name,
            )
        )
    return cases


def recorded_retry_cases() -> list[RetryCase]:
    """Chat requests answered 429 one or more times, then maybe 200."""
    cases = []
    for r in recordings():
        if not r.only(CHAT_PATH) or 429 not in r.statuses:
            continue
        if any(s != 429 for s in r.statuses[:-1]) or r.statuses[-1] not in (200, 429):
            continue
        answers = tuple(zip(r.statuses, r.retry_afters, strict=True))
        cases.append(RetryCase(r.requests[0]["messages"], answers, r.name))
    return cases
