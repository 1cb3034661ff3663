"""The one decision: what an inference request gets. Rule 1: every rule of it lives here.

``Decider(state).chat(body)`` and ``.image(body, origin)`` take the body bytes (and the
``Session`` it came in, if any: its own steps, buckets and chaos take the server's place, its
own stubs answer before the server's) and return one ``Decision``: the answer to send (status, body or event stream, headers), or the fault to play
over it, the time to wait first, and what the journal says (``source`` and the ``step`` that was
consumed). Nothing here awaits or touches a socket; ``mock_server.web`` only reads the bytes,
calls this and plays the decision. The order, first found wins::

    body ── not a valid request ───────────────────────────────> 400/413/415   source "invalid"
      │
      ├─ 1. directive in the last user message or prompt (--directives)      source "directive"
      ├─ 2. the oldest scripted step for this endpoint or "any"              source "script"
      ├─ 3. the stub that matches (lowest priority, then the newest)         source "stub"
      ├─ 4. with --unmatched 404: a JSON 404 listing the closest stubs       source "unmatched"
      ├─ 5. the rate limit, when its bucket is empty: a 429 + Retry-After    source "rate_limit"
      ├─ 6. chaos: a seeded draw from the mix                                source "chaos"
      └─ 7. the generated answer (a JSON document for "json": true)          source "reply"

    then the step is played: StatusStep → its answer; ReplyStep → its text (or image URL) and
    headers over the generated answer; Delay → wait, then the generated answer; any other fault
    → played on the socket over the generated answer (its events for a stream or a stream
    fault, else its JSON body). A latency model adds its sample to the wait of every valid one.

Why this order: a directive and a scripted step are one-off arrangements a test made for the
very next request, so they beat standing rules; a stub is a deliberate answer, so the server's
own misbehaviour (rate limit, chaos) does not override it; nor does it hide a request that
nothing arranged from a suite that asked to see those (``--unmatched 404``). When stubs were in
force and none matched (steps 4 to 7), the decision says so (``missed``, for
``GET /__admin/requests/unmatched``). A stub whose template fails to
render answers a JSON 500 naming the stub, source "stub_error".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from websim_core.routing import Endpoint

from .errors import FieldError, RequestRefused
from .images import image_url, url_body
from .journal_entry import StubRef
from .matching import Facts
from .nearmiss import near_misses, unmatched_body
from .replies import chat_answer, chat_body, json_reply, split_chunks, sse_events
from .replies import stream_events as _events
from .requests import ParsedChat, ParsedImage, parse_chat, parse_image
from .seeds import seeded_random
from .sessions import Session
from .state import MockState
from .statuses import JSON_TYPE, Answer, error_body, status_answer
from .steps import STREAM_FAULTS, Delay, FaultStep, ReplyStep, StatusStep, Step
from .stubs import Stub, pacing_gaps, render

__all__ = ["Decider", "Decision", "refusal"]

Headers = tuple[tuple[str, str], ...]
Arranged = tuple["Step | None", str, "Stub | None"]


@dataclass(slots=True)
class Decision:
    """What to answer one request: ``events`` (a stream) or ``body``, or ``fault`` played over
    them; ``wait`` seconds first; ``source`` and ``step`` for the journal; ``close`` ends the
    connection after the answer."""

    status: int
    body: bytes
    content_type: str | None
    headers: Headers = ()
    events: tuple[bytes, ...] | None = None
    fault: FaultStep | None = None
    wait: float = 0.0
    source: str = "reply"
    step: Step | None = None
    close: bool = False
    # Seconds before each event of ``events`` (a stub's stream pacing); None: all at once.
    gaps: tuple[float, ...] | None = None
    stub: StubRef | None = None  # the stub that answered (or failed to)
    missed: bool = False  # stubs were in force and none matched (nothing else arranged it)


def refusal(exc: FieldError) -> Decision:
    """The JSON error answering a request the mock refuses."""
    status, close = (exc.status, exc.close) if isinstance(exc, RequestRefused) else (400, False)
    return Decision(
        status, error_body(str(exc), exc.field), JSON_TYPE, source="invalid", close=close
    )


def _answered(answer: Answer, source: str, step: Step) -> Decision:
    return Decision(
        answer.status, answer.body, answer.content_type, answer.headers, source=source, step=step
    )


# What arranges an answer before the stubs are consulted: no stub missed such a request.
_BEFORE_STUBS = ("directive", "script")


def _stubbed(decision: Decision, arranged: Arranged, facts: Facts | None) -> Decision:
    """The decision, naming the stub that answered, or saying that none matched (for the
    journal: ``facts`` are only made when stubs are in force)."""
    _, source, stub = arranged
    if stub is not None:
        decision.stub = StubRef(stub.id, stub.name)
    elif source == "unmatched" or (facts is not None and source not in _BEFORE_STUBS):
        decision.missed = True
    return decision


class Decider:
    """The decision for one server's state; its options are read once, here."""

    __slots__ = (
        "_directives",
        "_own",
        "_plain",
        "_refuse_unmatched",
        "_seed",
        "_state",
        "_strict",
        "_stubs",
    )

    def __init__(self, state: MockState) -> None:
        config = state.config
        self._state = state
        self._own = state.own
        self._stubs = state.stubs
        self._seed = config.seed
        self._strict = config.strict_ids
        self._directives = config.directives
        self._refuse_unmatched = config.unmatched == "404"
        # Nothing but a scripted step or a stub can change the answer: the usual case skips
        # steps 1, 4, 5, 6.
        unarranged = state.limiter is None and state.chaos is None and state.latency is None
        self._plain = unarranged and not (config.directives or self._refuse_unmatched)

    # --- the two endpoints ----------------------------------------------------------------------

    def chat(
        self,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        session: Session | None = None,
    ) -> Decision:
        """The decision for a chat request's body (in ``session``; ``headers``: what stubs may
        match on)."""
        try:
            request = parse_chat(body, strict_ids=self._strict, directives=self._directives)
        except RequestRefused as exc:
            return refusal(exc)
        own = self._own if session is None else session
        stubbed = self._stubs.count or own.stubs.count
        if self._plain and not (own.scripts.waiting or stubbed or request.json):
            text, answer = chat_answer(self._seed, request.messages)  # the usual case, fast
            if request.stream:
                return Decision(200, b"", None, events=_events(text))
            return Decision(200, answer, JSON_TYPE)
        facts = None
        if stubbed:
            facts = Facts(
                "chat",
                messages=request.messages,
                project_id=request.project_id,
                json=request.json,
                stream=request.stream,
                headers=headers,
            )
        arranged = self._arrange(Endpoint.CHAT, request.project_id, request.directive, facts, own)
        if arranged[1] == "unmatched":
            return _stubbed(self._unmatched(facts, own), arranged, facts)
        return _stubbed(self._chat(request, arranged, facts), arranged, facts)

    def image(
        self,
        body: bytes,
        origin: str,
        headers: Mapping[str, str] | None = None,
        session: Session | None = None,
    ) -> Decision:
        """The decision for an image request's body (in ``session``); image URLs start with
        ``origin``."""
        try:
            request = parse_image(body, strict_ids=self._strict, directives=self._directives)
        except RequestRefused as exc:
            return refusal(exc)
        own = self._own if session is None else session
        stubbed = self._stubs.count or own.stubs.count
        if self._plain and not (own.scripts.waiting or stubbed):  # the usual case, fast
            url = image_url(origin, self._seed, request.prompt, request.ratio)
            return Decision(200, url_body(url), JSON_TYPE)
        facts = None
        if stubbed:
            facts = Facts(
                "image",
                prompt=request.prompt,
                aspect_ratio=request.aspect_ratio,
                project_id=request.project_id,
                headers=headers,
            )
        arranged = self._arrange(Endpoint.IMAGE, request.project_id, request.directive, facts, own)
        if arranged[1] == "unmatched":
            return _stubbed(self._unmatched(facts, own), arranged, facts)
        return _stubbed(self._image(request, origin, arranged, facts), arranged, facts)

    # --- steps 1 to 6: what arranges the answer -------------------------------------------------

    def _arrange(
        self,
        endpoint: Endpoint,
        project_id: str,
        directive: Step | None,
        facts: Facts | None,
        own: Session,
    ) -> Arranged:
        """The step for a valid request, its source and the stub, first found (see the picture);
        ``own`` holds the steps, stubs, buckets and chaos of the request's session (or the
        server's); a session's own stubs answer before the server's."""
        if directive is not None:
            return directive, "directive", None
        scripts = own.scripts
        if scripts.waiting:
            step = scripts.take(endpoint.value)
            if step is not None:
                return step, "script", None
        if facts is not None:
            stub = own.stubs.select(facts) if own.stubs.count else None
            if stub is None and own.stubs is not self._stubs:
                stub = self._stubs.select(facts)
            if stub is not None:
                return stub.respond.step, "stub", stub
        if self._refuse_unmatched:
            return None, "unmatched", None
        if own.limiter is not None:
            retry_after = own.limiter.check(project_id)
            if retry_after is not None:
                return StatusStep(429, (("Retry-After", str(retry_after)),)), "rate_limit", None
        if own.chaos is not None:
            step = own.chaos.draw()
            if step is not None:
                return step, "chaos", None
        return None, "reply", None

    def _unmatched(self, facts: Facts | None, own: Session) -> Decision:
        """Step 4: the JSON 404 for a request nothing arranged, listing the closest stubs (the
        request's session's first)."""
        misses = []
        if facts is not None:
            stubsets = [own.stubs] if own.stubs is self._stubs else [own.stubs, self._stubs]
            misses = near_misses(stubsets, facts)
        decision = Decision(404, unmatched_body(misses), JSON_TYPE, source="unmatched")
        decision.wait = self._wait(None, None)
        return decision

    def _wait(self, step: Step | None, stub: Stub | None) -> float:
        """Seconds before answering: the latency model's sample, plus a ``delay`` step's and a
        stub's ``latency_ms``."""
        state = self._state
        wait = 0.0
        if state.latency is not None:
            wait = state.latency.sample(state.latency_rng)
        if isinstance(step, Delay):
            wait += step.delay_ms / 1000
        if stub is not None:
            wait += stub.respond.latency_ms / 1000
        return wait

    def _rendered(self, stub: Stub, facts: Facts) -> Step | Decision | None:
        """A stub's step for this request: its template rendered (or the JSON 500 when that
        fails), else its step as it is."""
        if stub.respond.template is None:
            return stub.respond.step
        variables: dict[str, Any] = {
            "last_user_message": facts.last_user_message,
            "messages": [{"role": role, "content": text} for role, text in facts.pairs],
            "system": facts.system,
            "prompt": facts.prompt,
            "aspect_ratio": facts.aspect_ratio,
            "project_id": facts.project_id,
            "json": facts.json,
            "stream": facts.stream,
            "count": stub.answered,
        }
        try:
            text = render(stub.respond.template, variables)
        except Exception as exc:  # anything a template raises is the stub's fault, not ours
            name = stub.name or stub.id
            message = f"stub {name!r} failed to render its template: {type(exc).__name__}: {exc}"
            return Decision(
                500, error_body(message, "respond.template"), JSON_TYPE, source="stub_error"
            )
        headers = stub.respond.step.headers if isinstance(stub.respond.step, ReplyStep) else ()
        return ReplyStep(text, headers)

    # --- playing the step over the generated answer ---------------------------------------------

    def _settle(
        self, arranged: Arranged, facts: Facts | None
    ) -> Decision | tuple[Step | None, float]:
        """The step once a stub's template is rendered, and the wait; a whole decision when
        that is already the answer (a status step, or a template that failed)."""
        step, source, stub = arranged
        if stub is not None and facts is not None:
            rendered = self._rendered(stub, facts)
            if isinstance(rendered, Decision):
                return rendered
            step = rendered
        wait = self._wait(step, stub)
        if isinstance(step, StatusStep):
            decision = _answered(status_answer(step), source, step)
            decision.wait = wait
            return decision
        return step, wait

    def _chat(self, request: ParsedChat, arranged: Arranged, facts: Facts | None) -> Decision:
        settled = self._settle(arranged, facts)
        if isinstance(settled, Decision):
            return settled
        (step, wait), (_, source, stub) = settled, arranged
        headers: Headers = ()
        if isinstance(step, ReplyStep) and step.text is not None:
            headers, text, answer = step.headers, step.text, chat_body(step.text)
        else:
            headers = step.headers if isinstance(step, ReplyStep) else ()
            if request.json:
                text = json_reply(self._seed, request.messages)
                answer = chat_body(text)
            else:
                text, answer = chat_answer(self._seed, request.messages)
        fault = step if isinstance(step, FaultStep) and not isinstance(step, Delay) else None
        decision = Decision(200, answer, JSON_TYPE, headers, None, fault, wait, source, step)
        # A stream fault answers with a stream even to a plain request: the fault matters.
        if request.stream or isinstance(fault, STREAM_FAULTS):
            decision.events, decision.body, decision.content_type = _events(text), b"", None
            pacing = stub.respond.pacing if stub is not None else None
            if pacing is not None:
                chunks = split_chunks(text)
                decision.events = tuple(sse_events(chunks))
                rng = seeded_random("pacing", pacing.seed + stub.answered) if stub else None
                decision.gaps = tuple(pacing_gaps(pacing, chunks, rng))
        return decision

    def _image(
        self, request: ParsedImage, origin: str, arranged: Arranged, facts: Facts | None
    ) -> Decision:
        settled = self._settle(arranged, facts)
        if isinstance(settled, Decision):
            return settled
        (step, wait), source = settled, arranged[1]
        url = image_url(origin, self._seed, request.prompt, request.ratio)
        headers: Headers = ()
        if isinstance(step, ReplyStep):
            headers = step.headers
            if step.text is not None:
                url = step.text
        fault = step if isinstance(step, FaultStep) and not isinstance(step, Delay) else None
        return Decision(200, url_body(url), JSON_TYPE, headers, None, fault, wait, source, step)
