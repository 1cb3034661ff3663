"""Scripted steps (mock_server.core.steps): their JSON forms, parsers and the errors naming the field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mock_server.core.config import MockConfig
from mock_server.core.errors import StepError
from mock_server.core.journal import Journal
from mock_server.core.steps import ReplyStep, StatusStep, parse_scope, parse_step, parse_steps

# --- parsing steps ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (200, ReplyStep()),
        (429, StatusStep(429)),
        ({"status": 200}, ReplyStep()),
        ({"status": 200, "body": "hi"}, StatusStep(200, (), "hi")),
        ({"status": 429, "headers": {"Retry-After": 1}}, StatusStep(429, (("Retry-After", "1"),))),
        ({"status": 500, "body": {"error": "x"}}, StatusStep(500, (), {"error": "x"})),
        ({"reply": "text"}, ReplyStep("text")),
        ({"reply": None, "headers": {"X-A": "b"}}, ReplyStep(None, (("X-A", "b"),))),
        (StatusStep(503), StatusStep(503)),
    ],
)
def test_parse_step(value: Any, expected: Any) -> None:
    assert parse_step(value) == expected


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (True, "step"),
        (99, "step"),
        (600, "step"),
        ("429", "step"),
        (None, "step"),
        ({}, "step"),
        ({"status": 429, "reply": "x"}, "step"),
        ({"status": "429"}, "step.status"),
        ({"status": 429.5}, "step.status"),
        ({"status": float("inf")}, "step.status"),
        (429.5, "step"),
        ({"status": 429, "bdy": "x"}, "step.bdy"),
        ({"status": 429, "headers": []}, "step.headers"),
        ({"status": 429, "headers": {"Bad Name": "x"}}, "step.headers.Bad Name"),
        (
            {"status": 429, "headers": {"Transfer-Encoding": "chunked"}},
            "step.headers.Transfer-Encoding",
        ),
        ({"status": 429, "headers": {"X": "a\nb"}}, "step.headers.X"),
        ({"status": 429, "headers": {"X": None}}, "step.headers.X"),
        ({"status": 204, "body": "x"}, "step.body"),
        ({"status": 500, "body": float("nan")}, "step.body"),
        ({"reply": 1}, "step.reply"),
        ({"reply": "x", "status_code": 1}, "step.status_code"),
    ],
)
def test_parse_step_errors_name_the_field(value: Any, field: str) -> None:
    with pytest.raises(StepError) as info:
        parse_step(value)
    assert info.value.field == field


def test_a_number_with_no_fraction_is_an_integer() -> None:
    # JSON Schema (the OpenAPI document) counts 429.0 as an integer, so tools generate it.
    assert parse_step(429.0) == StatusStep(429)
    assert parse_step({"status": 503.0, "body": "x"}) == StatusStep(503, body="x")
    assert parse_step({"status": 200.0}) == ReplyStep()
    garbage = parse_step({"fault": "garbage", "size": 8.0})
    assert garbage.to_json() == {"fault": "garbage", "size": 8}
    assert type(garbage.to_json()["size"]) is int


def test_parse_steps_and_scope() -> None:
    assert parse_steps([429, 429, 200]) == [StatusStep(429), StatusStep(429), ReplyStep()]
    with pytest.raises(StepError, match=r"responses\[1\]"):
        parse_steps([429, "x"])
    with pytest.raises(StepError):
        parse_steps("429")
    assert [parse_scope(s) for s in ("chat", "image", "any")] == ["chat", "image", "any"]
    with pytest.raises(StepError):
        parse_scope("all")


def test_step_json_round_trips() -> None:
    for step in (
        StatusStep(429, (("Retry-After", "1"),), "slow down"),
        ReplyStep("x", (("A", "b"),)),
    ):
        assert parse_step(step.to_json()) == step


@pytest.mark.parametrize(
    "options",
    [
        {"seed": "1"},
        {"seed": True},
        {"latency_ms": -1},
        {"latency_ms": float("nan")},
        {"max_body_bytes": 0},
        {"journal_size": -1},
        {"journal_body_bytes": -1},
        {"journal_bytes": -1},
    ],
)
def test_config_refuses_bad_options(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        MockConfig(**options)


def test_journal_entry_json_form() -> None:
    journal = Journal(maxlen=2, max_body=100)
    journal.record(
        time=1.5,
        method="POST",
        path="/x?y=1",
        raw_headers=((b"Content-Type", b"text/plain"), (b"X-A", b"1"), (b"x-a", b"2")),
        body=b'{"a": [1, 2]}',
        endpoint="chat",
        status=200,
        response_type="application/json",
        response_body=b'{"content": "hi"}',
        step=StatusStep(429),
    )
    [entry] = journal.entries()
    data = entry.to_json()
    assert data["headers"] == {"content-type": "text/plain", "x-a": "1, 2"}
    assert data["json"] == {"a": [1, 2]}
    assert data["response"]["step"] == {"status": 429}
    json.dumps(data)
    journal.record(
        time=0, method="POST", path="/", raw_headers=(), body=b"[NaN]", endpoint=None, status=400
    )
    assert journal.entries()[-1].json is None  # not RFC 8259 JSON, so not parsed
    assert [e.id for e in journal.entries()] == [1, 2]
