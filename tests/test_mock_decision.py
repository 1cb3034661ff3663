"""The one decision (mock_server.core.decision): its precedence, driven with the state.

A hypothesis ``RuleBasedStateMachine`` scripts steps, sends chat and image bodies (valid,
invalid, with directives), moves a fake clock and resets, and checks every ``Decision`` against
a model that knows only the documented order: invalid -> 400; directive > scripted step > stub >
(--unmatched 404) > rate limit > chaos > generated answer; and whether stubs were in force and
none matched (``missed``). Stubs come and go (added, removed, retired by ``times``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from mock_server.core.chaos import Chaos
from mock_server.core.config import MockConfig
from mock_server.core.decision import Decider, Decision, refusal
from mock_server.core.errors import RequestRefused, StepError
from mock_server.core.replies import chat_reply, json_reply
from mock_server.core.state import MockState
from mock_server.core.steps import (
    Delay,
    FaultStep,
    ReplyStep,
    StatusStep,
    Step,
    StreamCut,
    parse_step,
)
from mock_server.core.stubs import parse_stub
from websim_core.sse import SSEDecoder

ORIGIN = "http://mock.test"
CHAOS_MIX = "500:1,503:1,connection_reset:1,delay:1"
# Steps a test scripts, as JSON; stream faults only for chat (the queue refuses them for images).
ANY_STEPS = st.sampled_from(
    [200, 429, 503, {"reply": "scripted"}, "connection_reset", {"fault": "delay", "delay_ms": 5}]
)
CHAT_STEPS = st.one_of(ANY_STEPS, st.just({"fault": "stream_cut", "after_events": 1}))
TEXTS = st.from_regex(r"[a-z]{1,5}( [a-z]{1,5}){0,2}", fullmatch=True)
STUB_ANSWERS = st.sampled_from(
    [{"reply": "stubbed"}, {"status": 503}, {"fault": "connection_reset"}, {"json": {"a": 1}}]
)


def chat_body(text: str, *, stream: bool = False, json_mode: bool = False) -> bytes:
    messages = [{"role": "user", "content": text}]
    body = {"project_id": "p_1", "messages": messages, "stream": stream, "json": json_mode}
    return json.dumps(body).encode()


def image_body(prompt: str) -> bytes:
    return json.dumps({"project_id": "p_1", "prompt": prompt}).encode()


def streamed_text(events: tuple[bytes, ...]) -> str:
    decoder = SSEDecoder()
    parts = [
        json.loads(event.data)["content"]
        for event in decoder.feed(b"".join(events))
        if event.data != "[DONE]"
    ]
    return "".join(parts)


class DecisionMachine(RuleBasedStateMachine):
    """MockState + Decider against a model of the queue, the bucket and the chaos draws."""

    @initialize(
        directives=st.booleans(),
        limited=st.booleans(),
        chaos=st.sampled_from([0.0, 0.5]),
        latency=st.booleans(),
        seed=st.integers(0, 3),
        unmatched=st.sampled_from(["generate", "404"]),
    )
    def start(
        self,
        directives: bool,
        limited: bool,
        chaos: float,
        latency: bool,
        seed: int,
        unmatched: str,
    ) -> None:
        self.now = 0.0
        config = MockConfig(
            seed=seed,
            directives=directives,
            rate_limit="1/s" if limited else None,
            rate_burst=2 if limited else None,
            chaos=chaos,
            chaos_mix=CHAOS_MIX,
            latency="fixed:7" if latency else None,
            unmatched=unmatched,
        )
        self.config = config
        self.state = MockState(config, clock=lambda: self.now)
        self.decide = Decider(self.state)
        self.queue: list[tuple[str, Step]] = []
        self.tokens = 2.0  # the model's bucket: burst 2, one token a second
        self.model_chaos = Chaos(chaos, CHAOS_MIX, seed) if chaos else None
        # The model's stubs: [id, priority, order added, field, text, times left, step, endpoint]
        self.stubs: list[list[Any]] = []
        self.added = 0

    # --- what changes the state -----------------------------------------------------------------

    @rule(scope=st.sampled_from(["chat", "any"]), steps=st.lists(CHAT_STEPS, max_size=3))
    def script_chat(self, scope: str, steps: list[Any]) -> None:
        self.state.script(scope, steps)
        self.queue += [(scope, parse_step(s)) for s in steps]

    @rule(steps=st.lists(ANY_STEPS, max_size=3))
    def script_image(self, steps: list[Any]) -> None:
        self.state.script("image", steps)
        self.queue += [("image", parse_step(s)) for s in steps]

    @rule(
        field=st.sampled_from(["last_user_message", "prompt"]),
        text=st.sampled_from(["a", "b", "e"]),
        priority=st.integers(0, 2),
        times=st.sampled_from([None, 1, 2]),
        respond=STUB_ANSWERS,
    )
    def add_stub(
        self, field: str, text: str, priority: int, times: int | None, respond: dict[str, Any]
    ) -> None:
        data: dict[str, Any] = {"priority": priority, "match": {field: {"contains": text}}}
        if field == "prompt" and ("reply" in respond or "json" in respond):
            respond = {"status": 503}  # a text answer is for chat; this one is for images
        data["respond"] = respond
        if times is not None:
            data["times"] = times
        (stub_id,) = self.state.add_stubs(data)
        self.added += 1
        stub = parse_stub(data)
        self.stubs.append(
            [stub_id, priority, self.added, field, text, times, stub.respond.step, stub.endpoint]
        )

    @rule(data=st.data())
    def remove_stub(self, data: st.DataObject) -> None:
        if self.stubs:
            stub = self.stubs.pop(data.draw(st.integers(0, len(self.stubs) - 1)))
            assert self.state.stubs.remove(stub[0])

    @rule(seconds=st.integers(0, 3))
    def tick(self, seconds: int) -> None:
        self.now += seconds
        self.tokens = min(2.0, self.tokens + seconds)

    @rule()
    def reset(self) -> None:
        self.state.reset()
        self.queue.clear()
        self.stubs.clear()  # no standing stubs configured: a reset clears them all
        self.tokens = 2.0
        if self.model_chaos is not None:
            self.model_chaos.reset()

    # --- requests --------------------------------------------------------------------------------

    @rule(
        text=TEXTS,
        stream=st.booleans(),
        directive=st.sampled_from([None, "status=418"]),
        json_mode=st.booleans(),
    )
    def chat(self, text: str, stream: bool, directive: str | None, json_mode: bool) -> None:
        said = text if directive is None else f"[[websim-mock: {directive}]] {text}"
        decision = self.decide.chat(chat_body(said, stream=stream, json_mode=json_mode))
        if directive is not None and not self.config.directives:
            text = said  # without --directives it is just text
        stubbed = bool(self.stubs)
        step, source = self.expected("chat", directive, text)
        self.check_common(decision, step, source, stubbed)
        if source == "unmatched":
            return
        if step is None or isinstance(step, (Delay, ReplyStep)):
            said_alone = [{"role": "user", "content": text}]
            wanted = chat_reply(self.config.seed, said_alone)
            if json_mode:  # JSON output mode: a JSON document built from the conversation
                wanted = json_reply(self.config.seed, said_alone)
                assert json.loads(wanted)["reply"] == chat_reply(self.config.seed, said_alone)
            if isinstance(step, ReplyStep) and step.text is not None:
                wanted = step.text
            if stream:
                assert decision.events is not None
                assert streamed_text(decision.events) == wanted
            else:
                assert json.loads(decision.body) == {"content": wanted}
        if isinstance(step, FaultStep) and not isinstance(step, Delay):
            assert (decision.events is not None) == (stream or isinstance(step, StreamCut))

    @rule(prompt=TEXTS)
    def image(self, prompt: str) -> None:
        decision = self.decide.image(image_body(prompt), ORIGIN)
        stubbed = bool(self.stubs)
        step, source = self.expected("image", None, prompt)
        self.check_common(decision, step, source, stubbed)
        if source == "unmatched":
            return
        assert decision.events is None  # an image answer is never a stream
        if step is None or isinstance(step, (Delay, ReplyStep)):
            url = json.loads(decision.body)["url"]
            if isinstance(step, ReplyStep) and step.text is not None:
                assert url == step.text
            else:
                assert url.startswith(f"{ORIGIN}/images/")

    @rule(endpoint=st.sampled_from(["chat", "image"]), junk=st.binary(max_size=20))
    def invalid(self, endpoint: str, junk: bytes) -> None:
        body = b"[" + junk  # never a JSON object
        decision = self.decide.chat(body) if endpoint == "chat" else self.decide.image(body, ORIGIN)
        assert (decision.status, decision.source, decision.step) == (400, "invalid", None)
        assert json.loads(decision.body)["field"] == "body"
        assert decision.fault is None  # nothing taken, nothing drawn
        assert decision.wait == 0.0

    # --- the model ------------------------------------------------------------------------------

    def expected(self, endpoint: str, directive: str | None, text: str) -> tuple[Step | None, str]:
        """The step and source the documented order gives, updating the model as it goes."""
        self.answered: list[Any] | None = None
        self.endpoint = endpoint
        if directive is not None and self.config.directives:
            return StatusStep(418), "directive"
        for i, (scope, step) in enumerate(self.queue):
            if scope in (endpoint, "any"):
                del self.queue[i]
                return step, "script"
        field = "last_user_message" if endpoint == "chat" else "prompt"
        matching = [s for s in self.stubs if s[3] == field and s[4] in text]
        if matching:
            stub = min(matching, key=lambda s: (s[1], -s[2]))
            if stub[5] is not None:
                stub[5] -= 1
                if stub[5] == 0:
                    self.stubs.remove(stub)
            self.answered = stub
            return stub[6], "stub"
        if self.config.unmatched == "404":
            return None, "unmatched"
        if self.config.rate_limit is not None:
            if self.tokens < 1:
                return StatusStep(429, (("Retry-After", "1"),)), "rate_limit"
            self.tokens -= 1
        if self.model_chaos is not None:
            drawn = self.model_chaos.draw()
            if drawn is not None:
                return drawn, "chaos"
        return None, "reply"

    def check_common(
        self, decision: Decision, step: Step | None, source: str, stubbed: bool
    ) -> None:
        assert (decision.source, decision.step) == (source, step)
        missed = source == "unmatched" or (
            stubbed and source not in ("directive", "script", "stub")
        )
        assert decision.missed == missed
        stub = self.answered
        assert decision.stub == (None if stub is None else (stub[0], None))
        if source == "unmatched":
            assert decision.status == 404
            near = json.loads(decision.body)["near_misses"]
            mine = [s for s in self.stubs if s[7] in (self.endpoint, "any")]
            assert len(near) == min(3, len(mine))
            return
        latency = 0.007 if self.config.latency else 0.0
        delay = step.delay_ms / 1000 if isinstance(step, Delay) else 0.0
        assert decision.wait == pytest.approx(latency + delay)
        if isinstance(step, StatusStep):
            assert decision.status == step.status
            assert decision.fault is None
            assert decision.events is None
        else:
            assert decision.status == 200
        if isinstance(step, FaultStep) and not isinstance(step, Delay):
            assert decision.fault == step
        else:
            assert decision.fault is None

    @invariant()
    def queue_matches(self) -> None:
        if hasattr(self, "state"):
            assert len(self.state.scripts) == len(self.queue)
            assert [s.id for s in self.state.stubs.list()] == [s[0] for s in self.stubs]


DecisionMachine.TestCase.settings = settings(
    max_examples=120, stateful_step_count=30, deadline=None
)
test_decision_machine = DecisionMachine.TestCase


def test_the_usual_chat_answer_is_the_generated_one() -> None:
    decision = Decider(MockState(MockConfig(seed=3))).chat(chat_body("Hi"))
    assert (decision.status, decision.source, decision.step, decision.wait) == (
        200,
        "reply",
        None,
        0,
    )
    assert json.loads(decision.body) == {
        "content": chat_reply(3, [{"role": "user", "content": "Hi"}])
    }


def test_a_refusal_keeps_its_status_and_close() -> None:
    decision = refusal(RequestRefused("body", "could not be read", 413, close=True))
    assert (decision.status, decision.source, decision.close) == (413, "invalid", True)
    assert json.loads(decision.body)["field"] == "body"
    plain = refusal(StepError("responses[0]", "bad"))
    assert (plain.status, plain.close) == (400, False)
