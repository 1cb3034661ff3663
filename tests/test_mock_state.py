"""The mock server's pure state: step parsing, the script queue and the journal, against a model."""

from __future__ import annotations

import base64
from typing import Any

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
from mock_server.core.queue import ScriptQueue
from mock_server.core.state import MockState
from mock_server.core.steps import ReplyStep, StatusStep


def test_package_exports_exist() -> None:
    for name in mock_server.__all__:
        assert hasattr(mock_server, name), name
    assert sorted(mock_server.__all__) == sorted(set(mock_server.__all__))


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
