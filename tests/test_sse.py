"""The SSE decoder: WHATWG field rules, and the same events however the bytes are chunked.

The reference model below decodes a whole stream at once with its own line splitter; the
decoder under test must agree with it for every chunking hypothesis picks.
"""

from __future__ import annotations

import json
import re
import time
import tracemalloc

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import chunkings, sse_streams

from websim_core.errors import InvalidRequestError, ResponseFormatError
from websim_core.sse import (
    DEFAULT_MAX_LINE_LENGTH,
    DONE,
    DONE_EVENT,
    ServerSentEvent,
    SSEDecoder,
    encode_delta,
    encode_event,
    parse_delta,
)

_EOL = re.compile(r"\r\n|\r|\n")


def reference_events(data: bytes) -> list[ServerSentEvent]:
    """WHATWG's "interpreting an event stream", read straight off the spec, whole input at once."""
    text = data.decode("utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    *lines, _unterminated = _EOL.split(text)
    events: list[ServerSentEvent] = []
    data_buffer, event_type, last_id, retry = "", "", "", None
    for line in lines:
        if line == "":
            if data_buffer != "":
                events.append(
                    ServerSentEvent(data_buffer[:-1], event_type or "message", last_id, retry)
                )
            data_buffer, event_type = "", ""
        elif line.startswith(":"):
            continue
        else:
            if ":" in line:
                name, value = line.split(":", 1)
                value = value.removeprefix(" ")
            else:
                name, value = line, ""
            if name == "data":
                data_buffer += value + "\n"
            elif name == "event":
                event_type = value
            elif name == "id" and "\0" not in value:
                last_id = value
            elif name == "retry" and value and all(c in "0123456789" for c in value):
                retry = int(value)
    return events


def decode(chunks: list[bytes]) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    return events + decoder.close()


def is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# --- chunking invariance and the reference model -------------------------------------------------


@given(st.data())
def test_any_chunking_gives_the_reference_events(data: st.DataObject) -> None:
    stream = data.draw(sse_streams())
    chunks = data.draw(chunkings(stream))
    assert b"".join(chunks) == stream
    assert decode(chunks) == reference_events(stream)


@given(stream=sse_streams())
def test_one_byte_at_a_time_and_all_at_once_agree(stream: bytes) -> None:
    expected = reference_events(stream)
    assert decode([stream]) == expected
    assert decode([stream[i : i + 1] for i in range(len(stream))]) == expected


TRICKY = (
    "\ufeffdata: caf\u00e9 \U0001f600\r\n"
    "data:second\r"
    "\r"
    ": comment \u2028 not a line break\n"
    "event: ping\n"
    "id: 7\r\n"
    "retry: 1500\n"
    "data\n"
    "\r\n"
    "data: \u4f60\u597d\r\r"
    "data: [DONE]\n\n"
).encode()


@pytest.mark.parametrize("cut", range(len(TRICKY) + 1))
def test_every_split_point_of_a_tricky_stream(cut: int) -> None:
    # Cuts fall inside 2-, 3- and 4-byte characters, inside the BOM and between CR and LF.
    expected = [
        ServerSentEvent("caf\u00e9 \U0001f600\nsecond"),
        ServerSentEvent("", "ping", "7", 1500),
        ServerSentEvent("\u4f60\u597d", "message", "7", 1500),
        ServerSentEvent(DONE, "message", "7", 1500),
    ]
    assert reference_events(TRICKY) == expected
    assert decode([TRICKY[:cut], TRICKY[cut:]]) == expected


@given(chunks=st.lists(st.binary(max_size=12), max_size=8))
def test_feed_and_close_are_total_over_bytes(chunks: list[bytes]) -> None:
    stream = b"".join(chunks)
    try:
        events = decode(chunks)
    except ResponseFormatError:
        assert not is_utf8(stream)
    else:
        assert is_utf8(stream)
        assert events == reference_events(stream)
        assert all(isinstance(e, ServerSentEvent) for e in events)


@pytest.mark.parametrize(
    "chunks",
    [[b"data: \xff\n\n"], [b"data: \xc3", b"\x28\n\n"], [b"data: ok\n\n\xed\xa0\x80"]],
)
def test_invalid_utf8_is_a_format_error(chunks: list[bytes]) -> None:
    with pytest.raises(ResponseFormatError, match="not UTF-8"):
        decode(chunks)


def test_stream_ending_inside_a_character_is_a_format_error_at_close() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: ok\n\ndata: \xe4\xbd") == [ServerSentEvent("ok")]
    with pytest.raises(ResponseFormatError, match="inside a character"):
        decoder.close()


# --- the WHATWG field rules, one by one ----------------------------------------------------------


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        (b"data: a\n\n", [ServerSentEvent("a")]),
        (b"data:a\n\n", [ServerSentEvent("a")]),
        (b"data:  a\n\n", [ServerSentEvent(" a")]),  # only one leading space is stripped
        (b"data: a \n\n", [ServerSentEvent("a ")]),  # trailing space kept
        (b"data: a\ndata: b\n\n", [ServerSentEvent("a\nb")]),  # multi-line data joined with \n
        (b"data\n\n", [ServerSentEvent("")]),  # a field with no colon: empty value
        (b"data:\n\n", [ServerSentEvent("")]),
        (b"data\ndata\n\n", [ServerSentEvent("\n")]),
        (b": just a comment\n\n", []),
        (b":\n\n", []),
        (b": c\ndata: x\n: c\n\n", [ServerSentEvent("x")]),
        (b"event: ping\n\n", []),  # no data: nothing dispatched...
        (b"event: ping\n\ndata: x\n\n", [ServerSentEvent("x")]),  # ...and the type is reset
        (b"event: ping\ndata: x\n\n", [ServerSentEvent("x", "ping")]),
        (b"event:\ndata: x\n\n", [ServerSentEvent("x")]),
        (
            b"id: 1\ndata: x\n\ndata: y\n\n",
            [ServerSentEvent("x", id="1"), ServerSentEvent("y", id="1")],
        ),
        (b"id: 1\n\nid\ndata: y\n\n", [ServerSentEvent("y", id="")]),  # last event ID persists
        (b"id: a\x00b\ndata: x\n\n", [ServerSentEvent("x")]),  # an ID with NUL is ignored
        (b"retry: 100\ndata: x\n\n", [ServerSentEvent("x", retry=100)]),
        (b"retry: 1e3\ndata: x\n\n", [ServerSentEvent("x")]),
        (b"retry: \xd9\xa5\ndata: x\n\n", [ServerSentEvent("x")]),  # an Arabic-Indic digit
        (b"retry:\ndata: x\n\n", [ServerSentEvent("x")]),
        (b"Data: x\n\n", []),  # field names are case-sensitive
        (b"unknown: x\ndata: y\n\n", [ServerSentEvent("y")]),
        (b"data: [DONE]\n\n", [ServerSentEvent(DONE)]),
        (b"\xef\xbb\xbfdata: x\n\n", [ServerSentEvent("x")]),  # a leading BOM is dropped
        (b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\n", []),  # only one: the second is part of a name
        (b"data: x\n\n\xef\xbb\xbfdata: y\n\n", [ServerSentEvent("x")]),  # mid-stream it is text
        (b"data: x\r\rdata: y\r\n\r\n", [ServerSentEvent("x"), ServerSentEvent("y")]),
        (b"data: x\n\r\n", [ServerSentEvent("x")]),
        (b"data: x", []),  # cut off before the blank line: dropped
        (b"data: x\n", []),
        ("data: x\u2028y\x85z\n\n".encode(), [ServerSentEvent("x\u2028y\x85z")]),  # not line ends
    ],
)
def test_field_rules(stream: bytes, expected: list[ServerSentEvent]) -> None:
    assert decode([stream]) == expected
    assert reference_events(stream) == expected


def test_events_are_returned_by_the_feed_that_completes_them() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n") == []
    assert decoder.feed(b"\n") == [ServerSentEvent("a")]
    assert decoder.feed(b"data: b\r") == []
    assert decoder.feed(b"\r") == [ServerSentEvent("b")]  # CR CR: the second CR ends the event
    assert decoder.feed(b"\ndata: c\n\n") == [ServerSentEvent("c")]  # that LF was an empty line
    assert decoder.close() == []


def test_lf_after_a_cr_split_across_chunks_is_one_line_ending() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n") == []  # CRLF split: not a blank line
    assert decoder.feed(b"\r\n") == [ServerSentEvent("a")]


# --- deltas and framing ------------------------------------------------------------------------------


@given(text=st.text())
def test_parse_delta_is_total(text: str) -> None:
    try:
        delta = parse_delta(text)
    except ResponseFormatError:
        return
    if text == DONE:
        assert delta is None
    else:
        assert isinstance(delta, str)
        assert json.loads(text)["content"] == delta


@pytest.mark.parametrize(
    "data",
    ["", "[DONE] ", "not json", "[]", '{"content": 1}', '{"text": "x"}', "null", "[" * 50_000],
)
def test_bad_deltas_are_format_errors(data: str) -> None:
    with pytest.raises(ResponseFormatError):
        parse_delta(data)


def test_done_is_the_end() -> None:
    assert parse_delta("[DONE]") is None
    assert decode([DONE_EVENT]) == [ServerSentEvent(DONE)]


@given(text=st.text())
def test_encode_delta_round_trips(text: str) -> None:
    (event,) = decode([encode_delta(text)])
    assert parse_delta(event.data) == text


@given(text=st.text())
def test_a_delta_event_is_the_general_framing_of_its_json_object(text: str) -> None:
    # encode_delta writes the one-line event directly; it must be what encode_event frames.
    assert encode_delta(text) == encode_event(json.dumps({"content": text}, ensure_ascii=False))


@given(data=st.text(st.characters(codec="utf-8")))
def test_encode_event_round_trips_with_line_endings_normalised(data: str) -> None:
    events = decode([encode_event(data)])
    assert events == [ServerSentEvent(data.replace("\r\n", "\n").replace("\r", "\n"))]


@given(deltas=st.lists(st.text(), max_size=6), data=st.data())
def test_a_framed_answer_decodes_to_its_deltas_under_any_chunking(
    deltas: list[str], data: st.DataObject
) -> None:
    stream = b"".join(encode_delta(d) for d in deltas) + DONE_EVENT
    chunks = data.draw(chunkings(stream))
    got = [parse_delta(e.data) for e in decode(chunks)]
    assert got == [*deltas, None]


# --- long lines: bounded, and linear in time -------------------------------------------------------


def longest_line(data: bytes) -> int:
    """The longest line of a stream in characters, an unterminated last one included."""
    text = data.decode("utf-8").removeprefix("\ufeff")
    return max(len(line) for line in _EOL.split(text))


@given(st.data(), st.integers(1, 40))
def test_a_line_over_the_limit_is_refused_whatever_the_chunking(
    data: st.DataObject, limit: int
) -> None:
    stream = data.draw(sse_streams())
    chunks = data.draw(chunkings(stream))
    if longest_line(stream) > limit:
        with pytest.raises(ResponseFormatError, match=rf"max_line_length \({limit} characters\)"):
            decode_with_limit(chunks, limit)
    else:
        assert decode_with_limit(chunks, limit) == reference_events(stream)


@pytest.mark.parametrize("cut", range(0, 27))
def test_a_line_of_exactly_the_limit_passes_one_more_is_refused(cut: int) -> None:
    line = b"data: " + b"x" * 14  # 20 characters
    stream = line + b"\r\n\r\n"
    assert decode_with_limit([stream[:cut], stream[cut:]], 20) == [ServerSentEvent("x" * 14)]
    longer = line + b"y" + b"\r\n\r\n"
    with pytest.raises(ResponseFormatError, match=r"longer than max_line_length \(20 char"):
        decode_with_limit([longer[:cut], longer[cut:]], 20)


def decode_with_limit(chunks: list[bytes], limit: int) -> list[ServerSentEvent]:
    decoder = SSEDecoder(max_line_length=limit)
    return [event for chunk in chunks for event in decoder.feed(chunk)] + decoder.close()


def test_the_default_line_limit_is_documented_and_holds() -> None:
    assert DEFAULT_MAX_LINE_LENGTH == 8 * 1024 * 1024
    decoder = SSEDecoder()
    assert decoder.max_line_length == DEFAULT_MAX_LINE_LENGTH
    for _ in range(8):
        decoder.feed(b"a" * (1024 * 1024))  # 8 Mi characters held: at the limit, not over
    with pytest.raises(ResponseFormatError, match=r"max_line_length \(8388608 characters\)"):
        decoder.feed(b"a")


@pytest.mark.parametrize("bad", [0, -5, True, 2.0, "10"])
def test_the_line_limit_must_be_a_positive_int(bad: object) -> None:
    with pytest.raises(InvalidRequestError) as info:
        SSEDecoder(max_line_length=bad)  # type: ignore[arg-type]
    assert info.value.field == "max_line_length"


def test_a_long_line_costs_the_same_per_chunk_at_its_end_as_at_its_start() -> None:
    # Joining the held line on every feed made a feed cost as much as the line so far
    # (8/16/32/64 MiB lines took 0.9/3.2/9.7/41.9 s). Compare the cost of the same feeds at the
    # start of a line and 8 MiB into it: equal when linear, about 100 times more when not.
    # Best of several windows, and a wide margin, so a busy machine does not decide it.
    decoder = SSEDecoder(max_line_length=1 << 30)
    chunk = b"a" * 8192
    decoder.feed(b"data: ")

    def window() -> float:
        began = time.perf_counter()
        for _ in range(16):
            decoder.feed(chunk)
        return time.perf_counter() - began

    early = min(window() for _ in range(5))
    for _ in range(1024):
        decoder.feed(chunk)
    late = min(window() for _ in range(5))
    assert late < 10 * early
    assert decoder.feed(b"\n\n") == [ServerSentEvent("a" * (8192 * (1024 + 160)))]


def test_a_line_fed_a_byte_at_a_time_is_not_an_object_per_byte() -> None:
    decoder = SSEDecoder()
    tracemalloc.start()
    try:
        decoder.feed(b"data: ")
        for _ in range(50_000):
            decoder.feed(b"a")
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert held < 500_000  # a str per byte would be about 2.5 MB
    assert decoder.feed(b"\n\n") == [ServerSentEvent("a" * 50_000)]
