"""Hypothesis strategies shared by the tests: messages, contents, project IDs, aspect ratios,
JSON values and server-sent-event byte streams (with the ways to chunk them)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import strategies as st

ROLES = ("system", "user", "assistant", "developer")
CHAT_ID_RE = r"[a-z0-9]{3}_[a-z0-9]{16}"
IMAGE_ID_RE = r"[a-z0-9]{7}_[a-z0-9]{12}"
LEGACY_ID_RE = r"[a-z0-9]{3}_[a-z0-9]{15}"
LENIENT_ID_RE = r"[a-z0-9_]{1,64}"

# --- messages ----------------------------------------------------------------------------------

# Whitespace-heavy text, so stripping and "empty after strip" are exercised often.
texts = st.text(
    alphabet=st.one_of(st.sampled_from(" \t\n"), st.characters(codec="utf-8")), max_size=20
)
# Users weigh more than the other roles, so trailing runs of user messages are common.
roles = st.sampled_from(("user", "user", "user", "assistant", "system", "developer"))
text_parts = st.fixed_dictionaries({"type": st.just("text"), "text": texts})
image_parts = st.fixed_dictionaries(
    {
        "type": st.just("image_url"),
        "image_url": st.fixed_dictionaries({"url": st.just("https://i.test/a.png")}),
    }
)
content_parts = st.lists(st.one_of(text_parts, image_parts), max_size=4)
contents = st.one_of(texts, content_parts)


def messages(
    role: st.SearchStrategy[str] = roles, content: st.SearchStrategy[Any] = contents
) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"role": role, "content": content})


message_lists = st.lists(messages(), min_size=1, max_size=8)

# --- IDs and aspect ratios -----------------------------------------------------------------------

chat_ids = st.from_regex(CHAT_ID_RE, fullmatch=True)
image_ids = st.from_regex(IMAGE_ID_RE, fullmatch=True)
legacy_ids = st.from_regex(LEGACY_ID_RE, fullmatch=True)
lenient_ids = st.from_regex(LENIENT_ID_RE, fullmatch=True)
# Near misses: right alphabet, any shape; plus arbitrary text.
id_like_text = st.one_of(
    st.text(alphabet="abcxyz0189_", min_size=0, max_size=24),
    st.text(max_size=24),
    chat_ids,
    image_ids,
    legacy_ids,
    lenient_ids,
)
aspect_ratios = st.builds(lambda w, h: f"{w}:{h}", st.integers(1, 999_999), st.integers(1, 999_999))

# --- JSON and bodies -----------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
# JSON objects that look like (possibly broken) API answers and requests.
api_objects = st.dictionaries(
    st.sampled_from(
        [
            "content",
            "url",
            "error",
            "message",
            "project_id",
            "messages",
            "prompt",
            "aspect_ratio",
            "stream",
        ]
    ),
    st.one_of(json_values, message_lists, chat_ids, aspect_ratios),
    max_size=5,
)
content_types = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "application/json",
            "text/plain",
            "text/html",
            "TEXT/HTML; charset=utf-8",
            "text/event-stream",
            "",
        ]
    ),
    st.text(max_size=20),
)
bodies = st.one_of(
    st.binary(max_size=64),
    st.text(max_size=64).map(str.encode),
    json_values.map(lambda v: json.dumps(v).encode()),
    api_objects.map(lambda v: json.dumps(v).encode()),
    st.sampled_from(
        [
            b"",
            b"   ",
            b"<!DOCTYPE html><html><title>Just a moment...</title></html>",
            b"<html><body>Bad gateway</body></html>",
            b'{"content": "hi"}',
            b'{"url": "https://x.test/a.png"}',
            b"\xef\xbb\xbf{}",
        ]
    ),
)

# --- server-sent events --------------------------------------------------------------------------

# Field values never hold CR or LF (those end lines); include multi-byte characters.
sse_values = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=10)
sse_line = st.one_of(
    st.builds(lambda v: f"data: {v}", sse_values),
    st.builds(lambda v: f"data:{v}", sse_values),
    st.builds(lambda v: f"data:  {v}", sse_values),
    st.just("data"),
    st.just("data: [DONE]"),
    st.builds(lambda v: f": {v}", sse_values),
    st.builds(lambda v: f"event: {v}", sse_values),
    st.builds(lambda v: f"id: {v}", sse_values),
    st.just("id: a\0b"),
    st.builds(lambda n: f"retry: {n}", st.integers(0, 10**6)),
    st.builds(lambda v: f"retry: {v}", sse_values),
    st.builds(lambda v: f"foo: {v}", sse_values),
    st.just(""),
    st.just(""),
    sse_values,  # anything at all on a line
)
line_endings = st.sampled_from(("\n", "\r", "\r\n"))


@st.composite
def sse_streams(draw: st.DrawFn) -> bytes:
    """An event stream: lines with mixed endings, maybe a BOM, maybe an unterminated tail."""
    lines = draw(st.lists(st.tuples(sse_line, line_endings), max_size=14))
    text = "".join(line + end for line, end in lines)
    if draw(st.booleans()):
        text += draw(sse_line)
    if draw(st.integers(0, 4)) == 0:
        text = "\ufeff" + text
    return text.encode("utf-8")


@st.composite
def chunkings(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """``data`` cut at points hypothesis chooses (empty chunks included)."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


# --- a helper for "a value or the one documented exception" properties --------------------------

_T = TypeVar("_T")
_E = TypeVar("_E", bound=BaseException)


def value_or_error(call: Callable[[], _T], error: type[_E]) -> _T | _E:
    """``call()``'s value, or the ``error`` it raised (any other exception propagates)."""
    try:
        return call()
    except error as exc:
        return exc
