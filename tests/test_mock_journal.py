"""The journal (mock_server.core.journal): packed entries give back what was recorded."""

from __future__ import annotations

from typing import Any

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
)
def test_journal_entries_are_what_was_recorded(
    records: list[tuple[Any, ...]], maxlen: int, max_body: int
) -> None:
    journal = Journal(maxlen, max_body)
    expected = []
    for i, (when, method, path, headers, body, endpoint, status, answer, step) in enumerate(
        records, start=1
    ):
        entry_id = journal.record(
            time=when,
            method=method,
            path=path,
            raw_headers=headers,
            body=body,
            endpoint=endpoint,
            status=status,
            response_type="application/json" if answer else None,
            response_body=answer,
            source="reply",
            step=step,
        )
        assert entry_id == i
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
                answer,
                "reply",
                step,
            )
        )
    assert journal.entries() == expected[-maxlen:]
    assert journal.dropped == max(0, len(records) - maxlen)


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
