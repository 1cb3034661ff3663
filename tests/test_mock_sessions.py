"""Sessions (mock_server.core.sessions): one mock per test on a shared server.

A hypothesis ``RuleBasedStateMachine`` scripts steps into sessions and the server's own queue,
sends requests in them, moves a fake clock past the idle limit, ends and resets sessions, and
checks against a model in which every session is a separate little mock: its own queue, its own
rate-limit bucket, its own chaos draws and its own journal view, none seeing another's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from mock_server.core.chaos import Chaos
from mock_server.core.config import MockConfig
from mock_server.core.decision import Decider
from mock_server.core.errors import ConfigError, RequestRefused
from mock_server.core.seeds import session_seed
from mock_server.core.sessions import (
    Session,
    SessionTable,
    check_session_name,
    split_session_path,
)
from mock_server.core.state import MockState
from mock_server.core.steps import StatusStep, Step, parse_step

IDLE = 5
MAX = 2
CHAOS_MIX = "500:1,503:1"
NAMES = st.sampled_from(["", "a", "b", "c"])  # "": the server's own requests
STEPS = st.lists(st.sampled_from([418, {"reply": "scripted"}, 503]), max_size=3)


def chat_body(text: str) -> bytes:
    messages = [{"role": "user", "content": text}]
    return json.dumps({"project_id": "p_1", "messages": messages}).encode()


@dataclass
class Model:
    """One session as the model sees it: a mock of its own."""

    queue: list[Step] = field(default_factory=list)
    tokens: float = 2.0
    chaos: Chaos | None = None
    ids: list[int] = field(default_factory=list)
    last_used: float = 0.0


class SessionMachine(RuleBasedStateMachine):
    @initialize(limited=st.booleans(), chaos=st.sampled_from([0.0, 0.5]), seed=st.integers(0, 2))
    def start(self, limited: bool, chaos: float, seed: int) -> None:
        self.now = 0.0
        self.config = MockConfig(
            seed=seed,
            rate_limit="1/s" if limited else None,
            rate_burst=2 if limited else None,
            chaos=chaos,
            chaos_mix=CHAOS_MIX,
            max_sessions=MAX,
            session_idle_seconds=IDLE,
        )
        self.state = MockState(self.config, clock=lambda: self.now)
        self.decide = Decider(self.state)
        self.models: dict[str, Model] = {"": self.fresh("")}

    def fresh(self, name: str) -> Model:
        config = self.config
        seed = config.seed if not name else session_seed(config.seed, name)
        chaos = Chaos(config.chaos, CHAOS_MIX, seed) if config.chaos else None
        return Model(chaos=chaos, last_used=self.now)

    def live(self) -> dict[str, Model]:
        return {
            name: model
            for name, model in self.models.items()
            if not name or self.now - model.last_used <= IDLE
        }

    def use(self, name: str) -> tuple[Session, Model] | None:
        """The session as the web layer takes it (begun on first use); None when refused."""
        live = self.live()
        if name not in live and len(live) - 1 >= MAX:  # ("" is not counted)
            with pytest.raises(RequestRefused) as refused:
                self.state.sessions.use(name)
            assert refused.value.status == 503
            return None
        session = self.state.sessions.use(name) if name else self.state.own
        if name not in live:
            self.models[name] = self.fresh(name)
        model = self.models[name]
        model.last_used = self.now
        return session, model

    # --- rules ----------------------------------------------------------------------------------

    @rule(name=NAMES, steps=STEPS)
    def script(self, name: str, steps: list[object]) -> None:
        used = self.use(name)
        if used is not None:
            self.state.script("chat", steps, used[0] if name else None)
            used[1].queue += [parse_step(s) for s in steps]

    @rule(name=NAMES, text=st.sampled_from(["hi", "yo"]))
    def chat(self, name: str, text: str) -> None:
        used = self.use(name)
        if used is None:
            return
        session, model = used
        decision = self.decide.chat(chat_body(text), session=session if name else None)
        step, source = self.expected(model)
        assert (decision.source, decision.step) == (source, step)
        entry = self.state.journal.record(
            time=self.now,
            method="POST",
            path="/chat",
            raw_headers=(),
            body=b"",
            endpoint="chat",
            status=decision.status,
            source=decision.source,
            session=name or None,
        )
        model.ids.append(entry)

    @rule(seconds=st.sampled_from([0, 1, 3, IDLE + 1]))
    def tick(self, seconds: int) -> None:
        self.now += seconds
        for model in self.models.values():
            model.tokens = min(2.0, model.tokens + seconds)

    @rule(name=st.sampled_from(["a", "b", "c"]))
    def end(self, name: str) -> None:
        assert self.state.sessions.end(name) == (name in self.live())
        self.models.pop(name, None)

    @rule(name=st.sampled_from(["a", "b", "c"]))
    def reset_one(self, name: str) -> None:
        used = self.use(name)
        if used is not None:
            used[0].reset(self.state.journal.last_id)
            self.models[name] = self.fresh(name)

    # --- the model ------------------------------------------------------------------------------

    def expected(self, model: Model) -> tuple[Step | None, str]:
        if model.queue:
            return model.queue.pop(0), "script"
        if self.config.rate_limit is not None:
            if model.tokens < 1:
                return StatusStep(429, (("Retry-After", "1"),)), "rate_limit"
            model.tokens -= 1
        if model.chaos is not None:
            drawn = model.chaos.draw()
            if drawn is not None:
                return drawn, "chaos"
        return None, "reply"

    @invariant()
    def each_sees_only_its_own(self) -> None:
        if not hasattr(self, "state"):
            return
        entries = self.state.journal.entries()
        live = self.live()
        table = self.state.sessions
        assert {s.name for s in table} == set(live) - {""}
        for name, model in live.items():
            session = table.get(name) if name else self.state.own
            assert session is not None
            assert len(session.scripts) == len(model.queue)
            if name:
                assert [e.id for e in session.view(entries)] == model.ids


SessionMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
test_session_machine = SessionMachine.TestCase


# --- names, paths, limits ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "test_x-1.2", "A" * 64])
def test_good_names_pass(name: str) -> None:
    assert check_session_name(name) == name


@pytest.mark.parametrize("name", ["", "a b", "a/b", "ä", "A" * 65, "..", "a%20b", "x\n"])
def test_a_bad_name_is_refused_naming_it(name: str) -> None:
    with pytest.raises(RequestRefused) as refused:
        check_session_name(name)
    assert refused.value.status == 400
    assert refused.value.field == "session"
    assert repr(name[:80]) in str(refused.value)


def test_split_session_path() -> None:
    assert split_session_path("/sessions/t1/api/x") == ("t1", "/api/x")
    assert split_session_path("/sessions/t1") == ("t1", "")
    assert split_session_path("/api/x") is None


@pytest.mark.parametrize(
    ("option", "value"),
    [("max_sessions", 0), ("max_sessions", "5"), ("session_idle_seconds", -1)],
)
def test_limits_that_are_not_positive_integers_are_refused(option: str, value: object) -> None:
    with pytest.raises(ConfigError) as refused:
        MockConfig(**{option: value})  # type: ignore[arg-type]
    assert refused.value.field == option


def test_an_idle_session_is_forgotten_and_begins_afresh() -> None:
    now = [0.0]
    table = SessionTable(
        lambda name, at: Session(name, now=at),
        max_sessions=1,
        idle_seconds=10,
        clock=lambda: now[0],
    )
    first = table.use("a")
    now[0] = 10.0
    assert table.use("a") is first  # used within the limit: the same session
    now[0] = 20.5
    assert table.get("a") is None  # idle for longer: gone, and its slot free
    assert table.use("b").name == "b"


def test_session_draws_are_reproducible_and_their_own() -> None:
    assert session_seed(0, "a") == session_seed(0, "a")
    assert len({session_seed(0, "a"), session_seed(0, "b"), session_seed(1, "a")}) == 3
