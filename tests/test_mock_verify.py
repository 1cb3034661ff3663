"""Verification (mock_server.core.verify): find what the app sent, and say why the rest missed."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mock_server.core.errors import FieldError
from mock_server.core.journal import Journal, JournalEntry
from mock_server.core.matching import Not
from mock_server.core.patterns import parse_match
from mock_server.core.verify import (
    count_problem,
    entry_facts,
    find,
    parse_bounds,
    parse_count,
    report,
    verify,
)

WORDS = st.sampled_from(["hello", "weather in Paris", "unsubscribe me", "retry me"])


def journal_of(texts: list[str], *, image_prompts: tuple[str, ...] = ()) -> list[JournalEntry]:
    journal = Journal(100, 64 * 1024)
    for text in texts:
        body = {"project_id": "p_1", "messages": [{"role": "user", "content": text}]}
        journal.record(
            time=0.0,
            method="POST",
            path="/api/v1/inference/run_chat_completion",
            raw_headers=((b"X-App", b"tipster"),),
            body=json.dumps(body).encode(),
            endpoint="chat",
            status=200,
        )
    for prompt in image_prompts:
        journal.record(
            time=0.0,
            method="POST",
            path="/api/v1/inference/run_image_generation",
            raw_headers=(),
            body=json.dumps({"project_id": "p_1", "prompt": prompt}).encode(),
            endpoint="image",
            status=200,
        )
    journal.record(
        time=0.0, method="GET", path="/healthz", raw_headers=(), body=b"", endpoint=None, status=200
    )
    return journal.entries()


@given(texts=st.lists(WORDS, max_size=8), word=st.sampled_from(["Paris", "me", "hello", "x"]))
def test_a_pattern_and_its_negation_split_the_inference_requests(
    texts: list[str], word: str
) -> None:
    entries = journal_of(texts)
    pattern = parse_match({"last_user_message": {"contains": word}})
    hits, misses = find(entries, pattern), find(entries, Not(pattern))
    assert len(hits) + len(misses) == len(texts)  # the GET /healthz is neither
    assert {e.id for e in hits}.isdisjoint(e.id for e in misses)
    assert [e.id for e in hits] == sorted(e.id for e in hits)
    assert all(word in json.loads(e.body)["messages"][0]["content"] for e in hits)


def test_find_takes_since_and_limit() -> None:
    entries = journal_of(["a", "b", "c", "d"])
    everything = parse_match({"endpoint": "chat"})
    assert [e.id for e in find(entries, everything)] == [1, 2, 3, 4]
    assert [e.id for e in find(entries, everything, since=2)] == [3, 4]
    assert [e.id for e in find(entries, everything, since=1, limit=2)] == [2, 3]


def test_image_and_header_facts_come_from_the_journal() -> None:
    entries = journal_of(["hi"], image_prompts=("a cat",))
    assert [e.endpoint for e in find(entries, parse_match({"prompt": {"contains": "cat"}}))] == [
        "image"
    ]
    by_header = parse_match({"headers": {"x-app": {"equals": "tipster"}}})
    assert [e.endpoint for e in find(entries, by_header)] == ["chat"]
    health = entries[-1]
    assert entry_facts(health) is None


@pytest.mark.parametrize(
    ("count", "bounds", "problem"),
    [
        (0, {}, "expected at least 1"),
        (1, {}, None),
        (2, {"times": 2}, None),
        (3, {"times": 2}, "expected exactly 2"),
        (1, {"at_least": 2}, "expected at least 2"),
        (5, {"at_most": 4}, "expected at most 4"),
        (0, {"at_most": 0}, None),
        (3, {"at_least": 1, "at_most": 3}, None),
    ],
)
def test_count_problem(count: int, bounds: dict[str, int], problem: str | None) -> None:
    assert count_problem(count, **bounds) == problem


def test_a_bad_count_names_its_option() -> None:
    assert parse_count(None, "times") is None
    assert parse_count(3, "times") == 3
    for bad in (-1, True, "2", 1.5):
        with pytest.raises(FieldError) as info:
            parse_count(bad, "at_least")
        assert info.value.field == "at_least"


def test_the_report_lists_matches_and_the_closest_misses_with_why() -> None:
    entries = journal_of(["hello", "weather in Paris", "unsubscribe me"])
    pattern = parse_match({"last_user_message": {"contains": "weather in Rome"}})
    text = report(entries, pattern, find(entries, pattern), "expected exactly 1")
    assert text.startswith("expected exactly 1 request(s) matching")
    assert "0 of the 4 journaled request(s) matched" in text
    assert text.count("closest: #") == 3
    assert "last_user_message: expected" in text
    assert "came 'weather in Paris'" in text


@pytest.mark.parametrize(
    ("bounds", "field", "says"),
    [
        ({"at_least": 3, "at_most": 1}, "at_least", "is 3, above at_most=1"),
        ({"times": 2, "at_most": 1}, "times", "is 2, outside at_most=1"),
        ({"times": 0, "at_least": 1}, "times", "is 0, outside at_least=1"),
    ],
)
def test_bounds_no_count_can_meet_are_refused_naming_them(
    bounds: dict[str, int], field: str, says: str
) -> None:
    with pytest.raises(FieldError, match=says) as caught:
        verify(journal_of(["a", "b"]), {}, **bounds)
    assert caught.value.field == field


@given(st.none() | st.integers(0, 5), st.none() | st.integers(0, 5), st.none() | st.integers(0, 5))
def test_bounds_are_refused_exactly_when_no_count_meets_them(
    times: int | None, at_least: int | None, at_most: int | None
) -> None:
    bounds = {"times": times, "at_least": at_least, "at_most": at_most}
    some_count_passes = any(count_problem(n, **bounds) is None for n in range(12))
    try:
        parse_bounds(**bounds)
    except FieldError:
        assert not some_count_passes
    else:
        assert some_count_passes


def test_the_report_shows_the_match_as_given() -> None:
    with pytest.raises(AssertionError) as caught:
        verify(journal_of(["a"]), {}, times=2)
    assert "request(s) matching {};" in str(caught.value)
    weather = {"last_user_message": {"contains": "weather"}}
    with pytest.raises(AssertionError) as caught:
        verify(journal_of(["a"]), weather)
    assert f"matching {json.dumps(weather)};" in str(caught.value)
