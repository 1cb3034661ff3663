"""Stubs and their parser (mock_server.core.stubs): respond kinds, paths of bad fields,
sandboxed templates and stream pacing."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import TemplateError

from mock_server.core.errors import StepError, StubError
from mock_server.core.steps import ReplyStep, StatusStep, StreamCut
from mock_server.core.stubs import Pacing, pacing_gaps, parse_stub, parse_stubs, render

ISSUE_EXAMPLE = [
    {
        "name": "spam-classifier",
        "match": {
            "endpoint": "chat",
            "last_user_message": {"contains": "unsubscribe", "ignore_case": True},
        },
        "respond": {"reply": "spam"},
    },
    {
        "name": "weather",
        "priority": 1,
        "match": {"json": True, "last_user_message": {"regex": "weather in (\\w+)"}},
        "respond": {"json": {"city": "Paris", "temp_c": 21}},
    },
    {
        "name": "echo",
        "match": {"system": {"contains": "echo"}},
        "respond": {"template": "Echo: {{ last_user_message }}"},
    },
    {
        "name": "flaky",
        "times": 2,
        "match": {"last_user_message": "retry me"},
        "respond": {"status": 503},
    },
    {
        "name": "cat-picture",
        "match": {"endpoint": "image", "prompt": {"contains": "cat"}},
        "respond": {"url": "https://example.test/cat.png"},
    },
]


def test_the_issue_example_parses() -> None:
    spam, weather, echo, flaky, cat = parse_stubs(ISSUE_EXAMPLE)
    assert spam.respond.step == ReplyStep("spam")
    assert spam.endpoint == "chat"
    assert weather.respond.step == ReplyStep(json.dumps({"city": "Paris", "temp_c": 21}))
    assert (weather.priority, weather.endpoint) == (1, "chat")
    assert echo.respond.template == "Echo: {{ last_user_message }}"
    assert echo.endpoint == "any"
    assert flaky.respond.step == StatusStep(503)
    assert flaky.times == 2
    assert (cat.respond.step, cat.endpoint) == (ReplyStep("https://example.test/cat.png"), "image")


def test_respond_kinds_reuse_the_steps() -> None:
    cut = parse_stub({"respond": {"fault": "stream_cut", "after_events": 2}})
    assert cut.respond.step == StreamCut(2)
    assert cut.endpoint == "chat"
    slow = parse_stub({"respond": {"latency_ms": 250, "stream": {"tokens_per_second": 20}}})
    assert (slow.respond.step, slow.respond.latency_ms) == (None, 250)
    assert slow.respond.pacing == Pacing(tokens_per_second=20)
    headed = parse_stub({"respond": {"reply": "hi", "headers": {"X-Stub": "1"}}})
    assert headed.respond.step == ReplyStep("hi", (("X-Stub", "1"),))


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([{"respond": {"reply": "ok"}}, {"respond": {"reply": 3}}], "stubs[1].respond.reply"),
        (
            [{"match": {"last_user_message": {"regex": "(("}}, "respond": {}}],
            "stubs[0].match.last_user_message.regex",
        ),
        ([{"match": {}}], "stubs[0].respond"),
        ([{"respond": {"reply": "a", "json": 1}}], "stubs[0].respond"),
        ([{"respond": {"status": 99}}], "stubs[0].respond.status"),
        ([{"respond": {"fault": "nope"}}], "stubs[0].respond.fault"),
        ([{"respond": {"template": "{% if %}"}}], "stubs[0].respond.template"),
        ([{"respond": {"json": float("nan")}}], "stubs[0].respond.json"),
        ([{"respond": {"latency_ms": -1}}], "stubs[0].respond.latency_ms"),
        (
            [{"respond": {"stream": {"events_per_second": 1, "tokens_per_second": 1}}}],
            "stubs[0].respond.stream",
        ),
        ([{"respond": {"stream": {"jitter": 2}}}], "stubs[0].respond.stream.jitter"),
        ([{"respond": {"url": "u"}, "match": {"endpoint": "chat"}}], "stubs[0].respond.url"),
        ([{"respond": {"reply": "r"}, "match": {"endpoint": "image"}}], "stubs[0].respond.reply"),
        ([{"respond": {}, "times": 0}], "stubs[0].times"),
        ([{"respond": {}, "priority": "high"}], "stubs[0].priority"),
        ([{"respond": {}, "colour": 1}], "stubs[0].colour"),
        ("spam", "stubs"),
    ],
)
def test_a_bad_stub_is_refused_naming_its_path(data: Any, field: str) -> None:
    with pytest.raises(StubError) as caught:
        parse_stubs(data)
    assert caught.value.field == field
    assert isinstance(caught.value, StepError)  # catching StepError catches it too


def test_templates_see_the_request_and_nothing_else() -> None:
    variables = {"last_user_message": "hi", "messages": [{"role": "user", "content": "hi"}]}
    assert render("{{ last_user_message | upper }} {{ messages | length }}", variables) == "HI 1"
    for reach in (
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.environ }}",
        "{% include '/etc/passwd' %}",
    ):
        with pytest.raises((TemplateError, TypeError)):  # include: "no loader"
            render(reach, variables)
    with pytest.raises(TemplateError):
        render("{{ missing }}", variables)  # a misspelt name is an error, not ""


def test_a_template_cannot_write_without_bound() -> None:
    with pytest.raises(ValueError, match="more than"):
        render("{% for i in range(99999) %}{{ 'x' * 99 }}{% endfor %}", {})


@settings(max_examples=50, deadline=None)
@given(
    st.integers(1, 30),
    st.floats(0, 500),
    st.one_of(st.none(), st.floats(1, 100)),
    st.floats(0, 1),
    st.integers(0, 5),
)
def test_pacing_gaps(
    chunks: int, first: float, tps: float | None, jitter: float, seed: int
) -> None:
    pacing = Pacing(first_event_ms=first, tokens_per_second=tps, jitter=jitter, seed=seed)
    words = ["two words "] * chunks
    gaps = pacing_gaps(pacing, words, random.Random(seed))
    assert len(gaps) == chunks + 1  # one per event and [DONE]
    assert gaps[0] == first / 1000
    assert gaps[-1] == 0.0
    if tps is not None:
        for gap in gaps[1:-1]:
            assert (1 - jitter) * 2 / tps - 1e-9 <= gap <= (1 + jitter) * 2 / tps + 1e-9
    assert pacing_gaps(pacing, words, random.Random(seed)) == gaps  # seeded: the same again


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["", "a", "(", "chat", "503"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "match",
                    "respond",
                    "reply",
                    "status",
                    "fault",
                    "regex",
                    "contains",
                    "turns",
                    "min",
                    "json",
                    "stream",
                    "times",
                    "priority",
                    "template",
                    "url",
                    "endpoint",
                    "all",
                    "not",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_any_json_parses_or_is_refused_naming_a_field(value: Any) -> None:
    """h11's invariant for the stub parser: a stub set, or the one error, never another."""
    field = "stubs"
    try:
        parse_stubs(value)
    except StubError as exc:
        field = exc.field
    assert field.startswith("stubs")
