"""Chat: every conversation gets a non-empty answer, sent as the protocol says; streaming agrees
with the plain answer, and a plain JSON answer to a stream request is one delta."""

from __future__ import annotations

from websim_core.routing import CHAT_PATH

from .backends import Backend, Exchange
from .cases import (
    CHAT_ID,
    CHAT_KEYS,
    ChatCase,
    FallbackCase,
    StreamCase,
    chat_cases,
    explicit_chat,
    explicit_stream,
    fallback_cases,
    recorded_chat_cases,
    recorded_fallback_cases,
    recorded_stream_cases,
    stream_cases,
)

SSE = "text/event-stream"


def assert_chat_request(exchange: Exchange, messages: list[dict[str, str]], stream: bool) -> None:
    """The request went to the chat endpoint, with a valid chat-form project ID, the whole
    history as it was given, ``"stream": true`` exactly when streaming, and nothing else."""
    assert exchange.method == "POST"
    assert exchange.path.endswith(CHAT_PATH), exchange.path
    body = exchange.json()
    assert isinstance(body, dict)
    assert set(body) == (CHAT_KEYS | {"stream"} if stream else CHAT_KEYS), sorted(body)
    assert CHAT_ID.fullmatch(body["project_id"]), body["project_id"]
    assert body["messages"] == messages
    if stream:
        assert body["stream"] is True


def test_chat_answers(backend: Backend) -> None:
    async def chat_answers(case: ChatCase) -> None:
        async with backend.run(cassette=case.cassette) as run:
            answer = await run.client().chat(case.messages, model=case.model)
        assert isinstance(answer, str)
        assert answer.strip(), "the answer is empty after stripping"
        assert answer == answer.strip()
        [exchange] = run.exchanges
        assert_chat_request(exchange, case.messages, stream=False)
        # The model only picks the endpoint: it is never sent.
        assert case.model.encode() not in exchange.body
        assert case.model.encode("unicode_escape") not in exchange.body

    backend.for_all(chat_answers, chat_cases, recorded_chat_cases, explicit=explicit_chat)


def test_streaming(backend: Backend) -> None:
    """Where the same question gets the same answer (the mock, and cassettes recorded against
    it), the streamed deltas join to the plain answer. Anywhere, a streamed answer is at least
    one delta; a plain JSON answer to a stream request is exactly one, the parsed content."""

    async def streaming(case: StreamCase) -> None:
        async with backend.run(cassette=case.cassette) as run:
            client = run.client()
            plain = await client.chat(case.messages) if case.compare else None
            deltas = [delta async for delta in client.stream_chat(case.messages)]
        assert deltas, "no delta at all"
        assert all(isinstance(delta, str) for delta in deltas)
        assert "".join(deltas).strip(), "the deltas join to nothing"
        *asked, streamed = run.exchanges
        assert_chat_request(streamed, case.messages, stream=True)
        if plain is not None:
            [plain_exchange] = asked
            assert_chat_request(plain_exchange, case.messages, stream=False)
            assert "".join(deltas).strip() == plain
        if streamed.media_type != SSE:
            assert len(deltas) == 1, f"a {streamed.media_type} answer gave {len(deltas)} deltas"
            assert deltas[0] == deltas[0].strip()

    backend.for_all(streaming, stream_cases, recorded_stream_cases, explicit=explicit_stream)


def test_plain_json_answer_to_a_stream_request_is_one_delta(backend: Backend) -> None:
    backend.require_arranging("a plain JSON answer to a stream request")

    async def one_delta(case: FallbackCase) -> None:
        answer = (
            None if case.content is None else [{"status": 200, "body": {"content": case.content}}]
        )
        script = None if answer is None else ("chat", answer)
        async with backend.run(cassette=case.cassette, script=script) as run:
            deltas = [delta async for delta in run.client().stream_chat(case.messages)]
        [exchange] = run.exchanges
        assert_chat_request(exchange, case.messages, stream=True)
        assert exchange.media_type == "application/json"
        assert len(deltas) == 1, deltas
        if case.content is not None:
            assert deltas == [case.content.strip()]
        assert deltas[0]
        assert deltas[0] == deltas[0].strip()

    backend.for_all(one_delta, fallback_cases, recorded_fallback_cases)
