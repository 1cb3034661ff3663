"""The journal (mock_server.core.journal): packed entries give back what was recorded."""

from __future__ import annotations

from typing import Any
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from mock_server.core.journal import Journal, JournalEntry
from mock_server.core.steps import StatusStep

# --- the journal: packed entries give back what was recorded --------------------------------------

header_pairs = st.lists(
    st.tuples(
        st.one_of(st.sampled_from([b"Host", b"websim-flags%3b", b"a"]), st.binary(max_size=6)),
        st.one_of(st.sampled_from([b"", b"x\r\ny", b"\r", b"\n", b"v\r"]), st.binary(max_size=6)),
    ),
    max_size=4,
).map(tuple)


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(
            st.floats(allow_nan=False, allow_infinity=False),
            st.sampled_from(["GET", "POST", "PATCH"]),
            st.text(max_size=12),
            header_pairs,
            st.binary(max_size=12),
            st.sampled_from([None, "chat", "image"]),
            st.sampled_from([200, 400, 0]),
            st.one_of(st.none(), st.binary(max_size=12)),  # the answer's body
            st.sampled_from([None, StatusStep(429)]),
        ),
        max_size=6,
    ),
    st.integers(1, 4),
    st.integers(0, 8),
    st.integers(0, 1000),
)
def test_journal_entries_are_what_was_recorded(
    records: list[tuple[Any, ...]], maxlen: int, max_body: int, max_bytes: int
) -> None:
    """Entries come back as recorded, cut to max_body, and the journal keeps the longest run
    of the newest ones that fits both maxlen and max_bytes (an entry's cost: what a journal
    holding only it reports)."""
    journal = Journal(maxlen, max_body, max_bytes)
    expected, costs = [], []
    for i, (when, method, path, headers, body, endpoint, status, answer, step) in enumerate(
        records, start=1
    ):
        fields: dict[str, Any] = {
            "time": when,
            "method": method,
            "path": path,
            "raw_headers": headers,
            "body": body,
            "endpoint": endpoint,
            "status": status,
            "response_type": "application/json" if answer else None,
            "response_body": answer,
            "source": "reply",
            "step": step,
        }
        assert journal.record(**fields) == i
        alone = Journal(1, max_body, 10**9)
        alone.record(**fields)
        costs.append(alone.held_bytes)
        expected.append(
            JournalEntry(
                i,
                when,
                method,
                path,
                headers,
                body[:max_body],
                len(body),
                endpoint,
                status,
                "application/json" if answer else None,
                None if answer is None else answer[:max_body],
                "reply",
                step,
                False,
                len(answer) if answer is not None and len(answer) > max_body else None,
            )
        )
    kept = min(maxlen, len(expected))
    while kept and sum(costs[len(costs) - kept :]) > max_bytes:
        kept -= 1
    assert journal.entries() == expected[len(expected) - kept :]
    assert journal.held_bytes == sum(costs[len(costs) - kept :]) <= max_bytes
    assert journal.dropped == len(records) - kept


def test_journal_packs_in_batches_and_reads_everything() -> None:
    journal = Journal(maxlen=100, max_body=4)
    for i in range(150):
        journal.record(
            time=float(i),
            method="POST",
            path=f"/p{i}",
            raw_headers=((b"N", b"%d" % i),),
            body=b"body%d" % i,
            endpoint="chat",
            status=200,
        )
        assert len(journal) == min(i + 1, 100)
    entries = journal.entries()
    assert [e.id for e in entries] == list(range(51, 151))
    assert [e.path for e in entries[:2]] == ["/p50", "/p51"]
    assert entries[-1].raw_headers == ((b"N", b"149"),)
    assert (entries[-1].body, entries[-1].body_size) == (b"body", 7)
    assert journal.dropped == 50
    journal.clear()
    assert (len(journal), journal.dropped, journal.entries()) == (0, 0, [])
    entry_id = journal.record(
        time=0.0, method="GET", path="/", raw_headers=(), body=b"", endpoint=None, status=404
    )
    assert entry_id == 151


def test_big_headers_and_answers_are_cut_and_the_journal_stays_in_its_bytes() -> None:
    """Issue 15: 126 headers of 8 KB made a 1 MiB entry, and scripted answers were kept whole."""
    journal = Journal(maxlen=10_000, max_body=1024, max_bytes=256 * 1024)
    headers = tuple((b"x-h%d" % i, b"v" * 8000) for i in range(126))
    text = "t" * (1024 * 1024)
    for i in range(50):
        journal.record(
            time=float(i),
            method="POST",
            path="/api/v1/inference/run_chat_completion",
            raw_headers=headers,
            body=b"b" * 100_000,
            endpoint="chat",
            status=200,
            response_type="text/plain",
            response_body=text.encode(),
            source="script",
            step=StatusStep(200, (), text),
        )
    assert journal.held_bytes <= 256 * 1024
    assert 0 < len(journal) < 50
    assert journal.dropped == 50 - len(journal)
    last = journal.entries()[-1]
    assert last.id == 50
    assert last.headers_truncated
    assert len(last.raw_headers) == 1  # 8 KiB holds one line of 8,004 bytes
    assert last.response_body == b"t" * 1024
    assert last.response_size == len(text)
    assert last.step == StatusStep(200, (), "t" * 1024)
    answer = last.to_json()["response"]
    assert answer["body_truncated"]
    assert last.to_json()["headers_truncated"]


def test_a_zero_byte_journal_keeps_nothing_and_counts_everything() -> None:
    journal = Journal(maxlen=10, max_body=10, max_bytes=0)
    for _ in range(3):
        journal.record(
            time=0.0, method="GET", path="/", raw_headers=(), body=b"", endpoint=None, status=404
        )
    assert (len(journal), journal.total, journal.dropped, journal.held_bytes) == (0, 3, 3, 0)


def test_session_counts_read_no_entry() -> None:
    journal = Journal()
    for session in ("a", "b", "a", None, "a"):
        journal.record(
            time=0.0,
            method="GET",
            path="/",
            raw_headers=(),
            body=b"",
            endpoint=None,
            status=404,
            session=session,
        )
    # GET /__admin/sessions counts a thousand sessions' requests: nothing may be unpacked.
    with mock.patch("mock_server.core.journal.unpack_entry", side_effect=AssertionError):
        assert journal.session_counts({"a": 1, "b": 0, "c": 0}) == {"a": 2, "b": 1}
