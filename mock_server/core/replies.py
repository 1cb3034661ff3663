"""What the mock answers a chat, with no I/O: the deterministic reply, its JSON body, its SSE
events.

Everything is a pure function of the seed and the request (hashed with BLAKE2b, never Python's
salted ``hash()``), so the same conversation gets the same answer on every run and machine.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from websim_core.protocol import content_text
from websim_core.sse import DONE_EVENT, encode_delta

__all__ = [
    "chat_answer",
    "chat_body",
    "chat_reply",
    "digest",
    "json_reply",
    "printable",
    "seeded_digest",
    "split_chunks",
    "sse_events",
    "stream_events",
]

_QUOTE_MAX = 200
_WORDS_PER_CHUNK = 3


# json's own string escapers (C): a JSON string with and without \uXXXX for non-ASCII, quoted.
_json_ascii: Callable[[str], str] = json.encoder.encode_basestring_ascii
_json_utf8: Callable[[str], str] = json.encoder.encode_basestring
# Conversations up to this size (as JSON) have their answer cached.
_CACHED_KEY_CHARS = 16 * 1024


_LENGTH = struct.Struct(">Q")


def _framed(part: str) -> bytes:
    """``part``'s UTF-8 bytes, their length (8 bytes, big-endian) first."""
    data = part.encode("utf-8", "surrogatepass")
    return _LENGTH.pack(len(data)) + data


def digest(*parts: str) -> bytes:
    """BLAKE2b of length-prefixed parts. Never change it: recorded cassettes hold its answers."""
    return hashlib.blake2b(
        b"".join(map(_framed, parts)), digest_size=16, person=b"websim-mock-v1"
    ).digest()


@functools.lru_cache(maxsize=16)
def _seeded(kind: str, seed: int) -> hashlib.blake2b:
    """``digest``'s state after the parts ``kind`` and the seed: copied for each answer."""
    head = _framed(kind) + _framed(str(seed))
    return hashlib.blake2b(head, digest_size=16, person=b"websim-mock-v1")


def seeded_digest(kind: str, seed: int, *parts: str) -> bytes:
    """``digest(kind, str(seed), *parts)``, from a copy of the seeded state."""
    hasher = _seeded(kind, seed).copy()
    for part in parts:  # (one or two parts: cheaper than joining them first)
        hasher.update(_framed(part))
    return hasher.digest()


def printable(text: str) -> str:
    # Lone surrogates (legal in JSON escapes) cannot be encoded as UTF-8: replace them.
    return text.encode("utf-8", "replace").decode("utf-8")


# --- chat ---------------------------------------------------------------------------------------

_OPENERS = (
    "Thanks for your message.",
    "Good question.",
    "Happy to help with that.",
    "Let me think about that for a moment.",
    "Here is my take.",
    "Sure, let's look at it together.",
    "That's an interesting one.",
    "I see what you mean.",
)
_MIDDLES = (
    "The short answer is that it depends on what matters most to you, so start with the part"
    " you are surest about.",
    "A good first step is to split it into smaller pieces and look at each one on its own.",
    "Most of the time the simplest explanation is the right one, so I would begin there.",
    "It helps to write down what you already know and what you still need to find out.",
    "There are a few ways to approach this, and each has trade-offs worth weighing.",
    "I would try a small experiment first, then adjust based on what you learn.",
    "The details matter here, so it is worth checking your assumptions one by one.",
    "Looking at it from the other side often makes the answer clearer.",
)
_CLOSERS = (
    "Let me know if you would like more detail.",
    "I hope that helps.",
    "Feel free to ask a follow-up question.",
    "Tell me more and I can be more specific.",
    "Does that answer your question?",
    "Happy to go deeper on any part of it.",
)


_N_OPENERS, _N_MIDDLES, _N_CLOSERS = len(_OPENERS), len(_MIDDLES), len(_CLOSERS)
# The phrases as they appear inside the answer's JSON string.
_OPENERS_JSON, _MIDDLES_JSON, _CLOSERS_JSON = (
    tuple(_json_utf8(phrase)[1:-1] for phrase in phrases)
    for phrases in (_OPENERS, _MIDDLES, _CLOSERS)
)


def _quote(text: str) -> str:
    if not text.isascii():  # (an ASCII text holds no lone surrogate: nothing to replace)
        text = printable(text)
    text = " ".join(text.split())
    if len(text) > _QUOTE_MAX:
        text = text[: _QUOTE_MAX - 1].rstrip() + "…"
    return text


def _conversation_json(pairs: Sequence[Sequence[str]]) -> str:
    """``json.dumps(pairs)`` for ``[[role, text], ...]``, built from the string escaper alone
    (``json.dumps`` sets up an encoder per call; this is the answer's hash key, on every miss)."""
    return _texts_json(tuple(part for pair in pairs for part in pair))


# The JSON form of each message but the last, kept: a system prompt and the earlier turns come
# again in every request of a conversation, so only the new message is escaped (each escape is
# about a thousand instructions; the answer is composed on every request of a new conversation).
_EARLIER: dict[tuple[str, str], str] = {}
_EARLIER_MAX = 1024  # messages kept; all forgotten at once when full
_EARLIER_TEXT_MAX = 4096  # characters: a longer text is escaped each time, not kept


def _earlier_json(role: str, text: str) -> str:
    key = (role, text)
    found = _EARLIER.get(key)
    if found is None:
        found = f"[{_json_ascii(role)}, {_json_ascii(text)}]"
        if len(text) <= _EARLIER_TEXT_MAX:
            if len(_EARLIER) >= _EARLIER_MAX:
                _EARLIER.clear()
            _EARLIER[key] = found
    return found


def _texts_json(texts: tuple[str, ...]) -> str:
    """``_conversation_json`` of ``(role, text, role, text, ...)``, the earlier messages' JSON
    forms looked up."""
    if len(texts) == 4:  # a system prompt or an earlier turn, and the new message
        last_json = f"[{_json_ascii(texts[2])}, {_json_ascii(texts[3])}]"
        return f"[{_earlier_json(texts[0], texts[1])}, {last_json}]"
    if not texts:
        return "[]"
    last = len(texts) - 2
    pieces = [_earlier_json(texts[i], texts[i + 1]) for i in range(0, last, 2)]
    pieces.append(f"[{_json_ascii(texts[last])}, {_json_ascii(texts[last + 1])}]")
    return "[" + ", ".join(pieces) + "]"


def _last_said(pairs: Sequence[Sequence[str]]) -> str:
    """The last user message's text, else the last message's, else nothing."""
    for role, text in reversed(pairs):
        if role == "user":
            return text
    return pairs[-1][1] if pairs else ""


def _compose(seed: int, conversation: str, last: str | None = None) -> tuple[str, bytes]:
    """The answer to ``conversation`` (``_conversation_json(pairs)``, ASCII), whose last user
    message says ``last`` (found in the parsed conversation when not given)."""
    if last is None:
        last = _last_said(json.loads(conversation))
    digest = seeded_digest("chat", seed, conversation)
    quoted = _quote(last)  # printable: its JSON form cannot fail
    opener = digest[0] % _N_OPENERS
    middle = digest[1] % _N_MIDDLES
    closer = digest[2] % _N_CLOSERS
    if quoted:
        said, said_json = f'You wrote: "{quoted}".', f'You wrote: \\"{_json_utf8(quoted)[1:-1]}\\".'
    else:
        said = said_json = "Your message was empty."
    text = f"{_OPENERS[opener]} {said} {_MIDDLES[middle]} {_CLOSERS[closer]}"
    # chat_body(text), with only the quote escaped here: the phrases were escaped once.
    body = (
        f'{{"content": "{_OPENERS_JSON[opener]} {said_json} {_MIDDLES_JSON[middle]}'
        f' {_CLOSERS_JSON[closer]}"}}'
    )
    return text, body.encode()


_compose_cached = functools.lru_cache(maxsize=256)(_compose)


@functools.lru_cache(maxsize=256)
def _compose_texts(seed: int, texts: tuple[str, ...]) -> tuple[str, bytes]:
    if len(texts) >= 2 and texts[-2] == "user":  # the usual last message
        last = texts[-1]
    else:
        last = _last_said([(texts[i], texts[i + 1]) for i in range(0, len(texts), 2)])
    return _compose(seed, _texts_json(texts), last)


def chat_answer(seed: int, messages: Sequence[Mapping[str, Any]]) -> tuple[str, bytes]:
    """``chat_reply`` and its JSON body ``{"content": ...}``, cached by conversation.

    The usual conversation (string roles and contents, small) is looked up by its texts,
    ``(role, content, role, content, ...)``, without building the JSON form the hash needs:
    that is made on a miss, and for every other conversation.
    """
    texts: list[str] = []
    size = 0
    for message in messages:
        role, content = message.get("role"), message.get("content")
        if type(role) is not str or type(content) is not str:
            break
        texts.append(role)
        texts.append(content)
        size += len(content)
    else:
        if size <= _CACHED_KEY_CHARS:
            return _compose_texts(seed, tuple(texts))
    pairs = [(str(m.get("role")), content_text(m.get("content"))) for m in messages]
    conversation = _conversation_json(pairs)  # ASCII: lone surrogates are escaped, not an error
    compose = _compose_cached if len(conversation) <= _CACHED_KEY_CHARS else _compose
    return compose(seed, conversation, _last_said(pairs))  # last: derived, so the key holds


def json_reply(seed: int, messages: Sequence[Mapping[str, Any]]) -> str:
    """The content answering ``"json": true``: a JSON object built from the conversation
    (the generated reply, the last user message, the number of turns); same input, same text."""
    pairs = [(str(m.get("role")), content_text(m.get("content"))) for m in messages]
    document = {
        "reply": chat_answer(seed, messages)[0],
        "you_wrote": printable(_last_said(pairs)),
        "turns": sum(1 for role, _ in pairs if role == "user"),
    }
    return json.dumps(document, ensure_ascii=False)


def chat_reply(seed: int, messages: Sequence[Mapping[str, Any]]) -> str:
    """An assistant-like answer that quotes the last user message; same input, same text.

    The choice of sentences hashes the seed and the whole conversation (roles and texts).
    """
    return chat_answer(seed, messages)[0]


_CHUNK_RE = re.compile(r"\s*\S+\s*", re.UNICODE)


def split_chunks(text: str, words: int = _WORDS_PER_CHUNK) -> list[str]:
    """The text in chunks of a few words; ``"".join(chunks) == text``, and never an empty list."""
    pieces = _CHUNK_RE.findall(text)
    if "".join(pieces) != text:  # only whitespace: no word to split on
        return [text]
    return ["".join(pieces[i : i + words]) for i in range(0, len(pieces), words)] or [text]


def sse_events(chunks: Sequence[str]) -> list[bytes]:
    """One SSE event per chunk, then ``data: [DONE]``, framed by ``websim_core.sse``."""
    try:
        return [*map(encode_delta, chunks), DONE_EVENT]
    except UnicodeEncodeError:  # lone surrogates
        return [*(encode_delta(printable(chunk)) for chunk in chunks), DONE_EVENT]


@functools.lru_cache(maxsize=1024)
def _stream_cached(text: str) -> tuple[bytes, ...]:
    return tuple(sse_events(split_chunks(text)))


def stream_events(text: str) -> tuple[bytes, ...]:
    """The events streaming ``text`` (a few words each, then ``[DONE]``), cached by text."""
    if len(text) <= _CACHED_KEY_CHARS:
        return _stream_cached(text)
    return tuple(sse_events(split_chunks(text)))


def chat_body(text: str) -> bytes:
    """The non-streamed chat answer ``{"content": ...}``."""
    # What json.dumps({"content": text}, ensure_ascii=False) gives, without its encoder set-up.
    try:
        return f'{{"content": {_json_utf8(text)}}}'.encode()
    except UnicodeEncodeError:  # lone surrogates
        return f'{{"content": {_json_utf8(printable(text))}}}'.encode()
