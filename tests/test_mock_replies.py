"""The mock's pure chat answer builders: the reply text, its JSON body, chunks and SSE events."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st
from strategies import message_lists

from mock_server.core.images import image_name
from mock_server.core.replies import (
    _compose,
    _conversation_json,
    _texts_json,
    chat_answer,
    chat_body,
    chat_reply,
    digest,
    printable,
    seeded_digest,
    split_chunks,
    sse_events,
    stream_events,
)
from websim_core.sse import SSEDecoder, parse_delta

# --- chat ---------------------------------------------------------------------------------------

HELLO = [{"role": "user", "content": "Hello, how are you?"}]


def test_chat_reply_is_deterministic_and_quotes_the_last_user_message() -> None:
    conversation = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "First question"},
        {"role": "assistant", "content": "An answer"},
        {
            "role": "user",
            "content": [{"type": "text", "text": "Second "}, {"type": "text", "text": "question"}],
        },
    ]
    reply = chat_reply(7, conversation)
    assert reply == chat_reply(7, conversation)
    assert '"Second question"' in reply
    assert "First question" not in reply
    assert reply[0].isupper()
    assert reply.endswith((".", "?"))
    assert len({chat_reply(seed, HELLO) for seed in range(20)}) > 3


def test_chat_reply_edge_cases() -> None:
    assistant_last = [
        {"role": "user", "content": "Привет"},
        {"role": "assistant", "content": "Хорошо"},
    ]
    assert '"Привет"' in chat_reply(0, assistant_last)
    assert '"only system"' in chat_reply(0, [{"role": "system", "content": "only system"}])
    assert "empty" in chat_reply(0, [{"role": "user", "content": "   "}])
    long = chat_reply(0, [{"role": "user", "content": "word " * 500}])
    assert "…" in long
    assert len(long) < 600
    surrogate = chat_reply(0, [{"role": "user", "content": "a\ud800b"}])
    surrogate.encode("utf-8")  # lone surrogates are replaced, the answer is valid UTF-8
    assert json.loads(chat_body(surrogate))["content"] == surrogate


def test_answers_never_change_across_versions() -> None:
    """Cassettes recorded against the mock hold these answers: a refactor must keep them."""
    assert chat_reply(0, HELLO) == (
        'Sure, let\'s look at it together. You wrote: "Hello, how are you?". It helps to write'
        " down what you already know and what you still need to find out. I hope that helps."
    )
    assert image_name(0, "A cat in space", (16, 9)) == "8cfcc3d600e7d3cf-256x144"


@given(st.text())
@example("")
@example("   ")
@example("one")
def test_split_chunks_join_back(text: str) -> None:
    chunks = split_chunks(text)
    assert "".join(chunks) == text
    assert chunks
    if len(text.split()) > 3:
        assert len(chunks) >= 2


# (st.text drops surrogates from any alphabet: join the characters by hand to keep lone ones.)
@given(st.lists(st.characters() | st.sampled_from("\ud800\udc00\udfff"), max_size=80).map("".join))
def test_sse_events_decode_to_the_text(text: str) -> None:
    decoder = SSEDecoder()
    assert stream_events(text) == tuple(sse_events(split_chunks(text)))
    events = [e for chunk in stream_events(text) for e in decoder.feed(chunk)]
    deltas = [parse_delta(e.data) for e in events]
    assert deltas[-1] is None
    assert None not in deltas[:-1]
    expected = text.encode("utf-8", "replace").decode("utf-8")
    assert "".join(d for d in deltas if d is not None) == expected


# --- chat answers: the texts-keyed cache == the JSON-keyed one ------------------------------------

odd_messages = st.lists(
    st.fixed_dictionaries(
        {
            "role": st.one_of(st.sampled_from(["user", "assistant"]), st.integers(0, 3)),
            "content": st.one_of(st.text(max_size=8), st.none(), st.integers(0, 3)),
        }
    ),
    max_size=4,
)


@settings(max_examples=200)
@given(st.integers(0, 3), st.one_of(message_lists, odd_messages))
def test_chat_answer_is_the_answer_to_the_json_conversation(
    seed: int, messages: list[dict[str, Any]]
) -> None:
    from websim_core.protocol import content_text

    pairs = [[str(m.get("role")), content_text(m.get("content"))] for m in messages]
    assert chat_answer(seed, messages) == _compose(seed, json.dumps(pairs))


def test_chat_answer_of_a_long_conversation_is_not_cached_by_texts() -> None:
    long = [{"role": "user", "content": "word " * 5000}]
    pairs = [["user", "word " * 5000]]
    assert chat_answer(0, long) == _compose(0, json.dumps(pairs))


# --- the answer's JSON built by hand == json.dumps -------------------------------------------------


@given(st.lists(st.tuples(st.text(), st.text()), max_size=4))
def test_conversation_json_is_json_dumps(pairs: list[tuple[str, str]]) -> None:
    assert _conversation_json(pairs) == json.dumps([list(p) for p in pairs])


@given(
    st.lists(
        st.tuples(st.sampled_from(["system", "user", "assistant", "x"]), st.text()), max_size=5
    )
)
def test_the_conversation_json_of_texts_is_json_dumps_twice_over(
    pairs: list[tuple[str, str]],
) -> None:
    # Twice: the second time the earlier messages' JSON forms come from what was kept.
    texts = tuple(part for pair in pairs for part in pair)
    expected = json.dumps([list(p) for p in pairs])
    assert _texts_json(texts) == expected
    assert _texts_json(texts) == expected


@given(st.text())
def test_chat_body_is_json_dumps(text: str) -> None:
    try:
        expected = json.dumps({"content": text}, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates are replaced, as in every answer
        expected = json.dumps({"content": printable(text)}, ensure_ascii=False).encode("utf-8")
    assert chat_body(text) == expected


@settings(max_examples=300)
@given(st.integers(0, 2**64), st.lists(st.tuples(st.text(), st.text()), min_size=1, max_size=3))
def test_a_composed_answers_body_is_the_json_of_its_text(
    seed: int, pairs: list[tuple[str, str]]
) -> None:
    # _compose escapes only the quote, the phrases being escaped once: the same bytes as
    # json.dumps({"content": text}, ensure_ascii=False), whatever the conversation says.
    text, body = _compose(seed, _conversation_json(pairs))
    assert body == json.dumps({"content": text}, ensure_ascii=False).encode("utf-8")


@given(
    st.sampled_from(["chat", "image"]),
    st.integers(-(2**70), 2**70),
    st.lists(st.text(), max_size=4),
)
def test_the_digest_from_a_copy_of_the_seeded_state_is_the_digest(
    kind: str, seed: int, parts: list[str]
) -> None:
    assert seeded_digest(kind, seed, *parts) == digest(kind, str(seed), *parts)
    if parts:  # twice: the cached state was copied, not fed
        assert seeded_digest(kind, seed, *parts) == digest(kind, str(seed), *parts)
