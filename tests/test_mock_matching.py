"""The request patterns (mock_server.core.matching, read by core.patterns): laws and reports.

The laws: ``not`` inverts, ``all([])`` holds and ``any([])`` does not, ``all``/``any`` agree
with Python's over their parts, ``ignore_case`` is matching the case-folded texts, ``glob`` is
``fnmatch.fnmatchcase``, ``explain`` is empty exactly when ``match`` holds, and a pattern's JSON
form reads back to the same pattern.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mock_server.core.errors import StubError
from mock_server.core.matching import All, AnyOf, Facts, Mismatch, Not, Text, TextTest
from mock_server.core.patterns import parse_match

SMALL = settings(max_examples=60, deadline=None)
REGEXES = ["a+", "^b", "c.d", "ß", "[ab]{2}"]
WORDS = st.text(alphabet="abAB cd*?[]ß", max_size=8)
roles = st.sampled_from(["system", "user", "assistant"])
conversations = st.lists(
    st.fixed_dictionaries({"role": roles, "content": WORDS}), min_size=1, max_size=4
)


@st.composite
def facts(draw: st.DrawFn) -> Facts:
    if draw(st.booleans()):
        return Facts(
            "image",
            prompt=draw(WORDS),
            aspect_ratio=draw(st.sampled_from(["1:1", "16:9"])),
            project_id=draw(st.sampled_from(["p_1", "kx0m131_rzz66qb2xoy7"])),
            headers={"x-app": draw(WORDS)},
        )
    return Facts(
        "chat",
        messages=draw(conversations),
        project_id=draw(st.sampled_from(["p_1", "ke3_xh5gai3gjkmruomu"])),
        json=draw(st.booleans()),
        stream=draw(st.booleans()),
        headers={"x-app": draw(WORDS)},
    )


def text_tests() -> st.SearchStrategy[dict[str, Any]]:
    def test(op: str, value: str, ignore_case: bool) -> dict[str, Any]:
        return {op: value, "ignore_case": True} if ignore_case else {op: value}

    literal = st.builds(test, st.sampled_from(["equals", "contains", "glob"]), WORDS, st.booleans())
    regex = st.builds(test, st.just("regex"), st.sampled_from(REGEXES), st.booleans())
    return st.one_of(literal, regex)


leaf_matches = st.one_of(
    st.builds(
        lambda name, test: {name: test},
        st.sampled_from(["last_user_message", "system", "any_message", "prompt", "project_id"]),
        text_tests(),
    ),
    st.builds(lambda test: {"headers": {"x-app": test}}, text_tests()),
    st.builds(lambda v: {"json": v}, st.booleans()),
    st.builds(lambda v: {"stream": v}, st.booleans()),
    st.builds(lambda v: {"endpoint": v}, st.sampled_from(["chat", "image", "any"])),
    st.builds(lambda v: {"aspect_ratio": v}, st.sampled_from(["1:1", "16:9"])),
    st.builds(lambda v: {"turns": v}, st.integers(0, 3)),
    st.builds(
        lambda lo, hi: {"turns": {"min": lo, "max": lo + hi}}, st.integers(0, 2), st.integers(0, 2)
    ),
    st.builds(lambda v: {"roles": v}, st.lists(roles, max_size=3)),
)
matches = st.recursive(
    leaf_matches,
    lambda inner: st.one_of(
        st.builds(lambda parts: {"all": parts}, st.lists(inner, max_size=3)),
        st.builds(lambda parts: {"any": parts}, st.lists(inner, max_size=3)),
        st.builds(lambda part: {"not": part}, inner),
        st.builds(lambda a, b: {**a, **b}, inner, inner),
    ),
    max_leaves=6,
)


@SMALL
@given(matches, facts())
def test_not_inverts(data: dict[str, Any], request: Facts) -> None:
    pattern = parse_match(data)
    assert Not(pattern).match(request) is (not pattern.match(request))


@SMALL
@given(st.lists(matches, max_size=3), facts())
def test_all_and_any_are_pythons(parts: list[dict[str, Any]], request: Facts) -> None:
    parsed = tuple(parse_match(part) for part in parts)
    assert All(parsed).match(request) is all(p.match(request) for p in parsed)
    assert AnyOf(parsed).match(request) is any(p.match(request) for p in parsed)


@given(facts())
def test_empty_all_holds_and_empty_any_does_not(request: Facts) -> None:
    assert All(()).match(request)
    assert not AnyOf(()).match(request)
    assert parse_match({}).match(request)  # an empty match: every request


@SMALL
@given(matches, facts())
def test_explain_is_empty_exactly_when_it_matches(data: dict[str, Any], request: Facts) -> None:
    pattern = parse_match(data)
    report = pattern.explain(request)
    assert (report == []) is pattern.match(request)
    assert all(isinstance(miss, Mismatch) for miss in report)


@SMALL
@given(matches)
def test_the_json_form_reads_back(data: dict[str, Any]) -> None:
    pattern = parse_match(data)
    assert parse_match(pattern.to_json()) == pattern
    assert parse_match(pattern.to_json()).to_json() == pattern.to_json()


@SMALL
@given(st.sampled_from(["equals", "contains", "glob"]), WORDS, WORDS)
def test_ignore_case_is_matching_the_folded_texts(op: str, value: str, text: str) -> None:
    folded = TextTest(op, value.casefold()).test(text.casefold())
    assert TextTest(op, value, ignore_case=True).test(text) is folded


@SMALL
@given(WORDS, WORDS)
def test_glob_is_fnmatchcase(value: str, text: str) -> None:
    assert TextTest("glob", value).test(text) is fnmatch.fnmatchcase(text, value)


@SMALL
@given(st.sampled_from(REGEXES), WORDS, st.booleans())
def test_regex_is_a_search(pattern: str, text: str, ignore_case: bool) -> None:
    flags = re.IGNORECASE if ignore_case else 0
    expected = re.search(pattern, text, flags) is not None
    assert TextTest("regex", pattern, ignore_case).test(text) is expected


def test_explain_names_the_field_what_was_expected_and_what_came() -> None:
    request = Facts("chat", messages=[{"role": "user", "content": "hello there"}], json=False)
    pattern = parse_match({"last_user_message": {"contains": "bye"}, "json": True, "turns": 2})
    assert pattern.explain(request) == [
        Mismatch("last_user_message", {"contains": "bye"}, "hello there"),
        Mismatch("json", True, False),
        Mismatch("turns", 2, 1),
    ]


def test_the_fields_read_from_a_conversation() -> None:
    request = Facts(
        "chat",
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "first"}]},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "second"},
        ],
    )
    assert request.last_user_message == "second"
    assert request.system == "be brief"
    assert (request.turns, request.roles) == (2, ["system", "user", "assistant", "user"])
    assert parse_match({"any_message": {"equals": "first"}}).match(request)
    assert not parse_match({"prompt": {"contains": ""}}).match(request)  # a chat has no prompt
    assert Text("last_user_message", TextTest("glob", "sec*")).match(request)


def test_headers_are_matched_by_name_whatever_its_case() -> None:
    request = Facts("chat", messages=[{"role": "user", "content": "x"}], headers={"x-app": "demo"})
    assert parse_match({"headers": {"X-App": "demo"}}).match(request)
    assert not parse_match({"headers": {"X-Other": {"contains": ""}}}).match(request)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([], "match"),
        ({"last_user_message": {"regex": "("}}, "match.last_user_message.regex"),
        ({"last_user_message": {"contains": 3}}, "match.last_user_message.contains"),
        ({"system": {"contains": "a", "equals": "b"}}, "match.system"),
        ({"system": {"contains": "a", "ignore_case": "yes"}}, "match.system.ignore_case"),
        ({"prompt": {"like": "a"}}, "match.prompt.like"),
        ({"turns": {"min": 3, "max": 1}}, "match.turns"),
        ({"turns": -1}, "match.turns"),
        ({"json": "true"}, "match.json"),
        ({"endpoint": "video"}, "match.endpoint"),
        ({"aspect_ratio": "wide"}, "match.aspect_ratio"),
        ({"any": [{"nope": 1}]}, "match.any[0].nope"),
        ({"all": {"json": True}}, "match.all"),
        ({"not": [1]}, "match.not"),
        ({"headers": {}}, "match.headers"),
        ({"colour": "red"}, "match.colour"),
    ],
)
def test_a_bad_match_names_the_path(data: Any, field: str) -> None:
    with pytest.raises(StubError) as caught:
        parse_match(data)
    assert caught.value.field == field
