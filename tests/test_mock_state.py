"""The mock server's pure state: step parsing, the script queue and the journal, against a model."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

import mock_server
from mock_server.core.config import MockConfig
from mock_server.core.errors import StepError
from mock_server.core.journal import Journal
from mock_server.core.queue import ScriptQueue
from mock_server.core.state import MockState
from mock_server.core.steps import ReplyStep, StatusStep, parse_scope, parse_step, parse_steps


def test_package_exports_exist() -> None:
    for name in mock_server.__all__:
        assert hasattr(mock_server, name), name
    assert sorted(mock_server.__all__) == sorted(set(mock_server.__all__))


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


# --- the state machine --------------------------------------------------------------------------

SCOPES = ("chat", "image", "any")
STATUSES = (200, 201, 401, 402, 403, 429, 500, 502, 503, 504, 520)
json_bodies = st.one_of(
    st.none(), st.text(max_size=5), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
)
step_json = st.one_of(
    st.sampled_from(STATUSES),
    st.builds(
        lambda s, b: {"status": s, "body": b} if b is not None else {"status": s},
        st.sampled_from(STATUSES),
        json_bodies,
    ),
    st.builds(lambda t: {"reply": t}, st.one_of(st.none(), st.text(max_size=5))),
)


def normalised(value: Any) -> dict[str, Any]:
    """The model of what parsing does: 200 (without a body) is a normal answer."""
    if isinstance(value, int):
        return {"reply": None} if value == 200 else {"status": value}
    if "status" in value and value["status"] == 200 and value.get("body") is None:
        return {"reply": None}
    return value


class StateMachine(RuleBasedStateMachine):
    """MockState (the script queue and the journal) against lists."""

    @initialize(maxlen=st.integers(0, 4), max_body=st.integers(0, 6))
    def start(self, maxlen: int, max_body: int) -> None:
        self.state = MockState(MockConfig(journal_size=maxlen, journal_body_bytes=max_body))
        self.maxlen = maxlen
        self.max_body = max_body
        self.queue: list[tuple[str, dict[str, Any]]] = []
        self.journal: list[tuple[int, bytes]] = []
        self.total = 0
        self.next_id = 1

    @rule(scope=st.sampled_from(SCOPES), steps=st.lists(step_json, max_size=4))
    def script(self, scope: str, steps: list[Any]) -> None:
        assert self.state.script(scope, steps) == len(steps)
        self.queue.extend((scope, normalised(s)) for s in steps)

    @rule(endpoint=st.sampled_from(("chat", "image")))
    def take(self, endpoint: str) -> None:
        step = self.state.scripts.take(endpoint)  # type: ignore[arg-type]
        for i, (scope, expected) in enumerate(self.queue):
            if scope in (endpoint, "any"):
                del self.queue[i]
                assert step is not None
                assert step.to_json() == expected
                return
        assert step is None

    @rule(body=st.binary(max_size=10), status=st.sampled_from((200, 400, 404)))
    def record(self, body: bytes, status: int) -> None:
        entry_id = self.state.journal.record(
            time=0.0,
            method="POST",
            path="/p",
            raw_headers=(),
            body=body,
            endpoint="chat",
            status=status,
        )
        assert entry_id == self.next_id
        self.next_id += 1
        self.total += 1
        self.journal.append((entry_id, body))
        if len(self.journal) > self.maxlen:
            del self.journal[: len(self.journal) - self.maxlen]

    @precondition(lambda self: bool(self.queue) or bool(self.journal))
    @rule()
    def reset(self) -> None:
        self.state.reset()
        self.queue.clear()
        self.journal.clear()
        self.total = 0

    @invariant()
    def queue_matches(self) -> None:
        pending = [(scope, step.to_json()) for scope, step in self.state.scripts.pending()]
        assert pending == self.queue
        assert len(self.state.scripts) == len(self.queue)

    @invariant()
    def journal_matches(self) -> None:
        entries = self.state.journal.entries()
        assert [e.id for e in entries] == [i for i, _ in self.journal]
        assert len(entries) <= self.maxlen
        assert self.state.journal.total == self.total
        assert self.state.journal.dropped == self.total - len(entries)
        for entry, (_, body) in zip(entries, self.journal, strict=True):
            data = entry.to_json()
            raw = (
                data["body"].encode()
                if data["body_encoding"] == "utf-8"
                else base64.b64decode(data["body"])
            )
            assert raw == body[: self.max_body]
            assert data["body_size"] == len(body)
            assert data["body_truncated"] == (len(body) > self.max_body)


TestStateMachine = StateMachine.TestCase
TestStateMachine.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)


def test_script_queue_take_is_fifo_across_scopes() -> None:
    queue = ScriptQueue()
    queue.add("image", [StatusStep(500)])
    queue.add("any", [StatusStep(429)])
    queue.add("chat", [ReplyStep("c")])
    assert queue.take("chat") == StatusStep(429)
    assert queue.take("chat") == ReplyStep("c")
    assert queue.take("chat") is None
    assert queue.take("image") == StatusStep(500)
    assert len(queue) == 0
