"""The one decision: what an inference request gets. Rule 1: every rule of it lives here.

``Decider(state).chat(body)`` and ``.image(body, origin)`` take the body bytes (and the
``Session`` it came in, if any: its own steps, buckets and chaos take the server's place) and
return one
``Decision``: the answer to send (status, body or event stream, headers), or the fault to play
over it, the time to wait first, and what the journal says (``source`` and the ``step`` that was
consumed). Nothing here awaits or touches a socket; ``mock_server.web`` only reads the bytes,
calls this and plays the decision. The order, first found wins::

    body ── not a valid request ───────────────────────────────> 400/413/415   source "invalid"
      │
      ├─ 1. directive in the last user message or prompt (--directives)      source "directive"
      ├─ 2. the oldest scripted step for this endpoint or "any"              source "script"
      ├─ 3. the rate limit, when its bucket is empty: a 429 + Retry-After    source "rate_limit"
      ├─ 4. chaos: a seeded draw from the mix                                source "chaos"
      └─ 5. the generated answer                                             source "reply"

    then the step is played: StatusStep → its answer; ReplyStep → its text (or image URL) and
    headers over the generated answer; Delay → wait, then the generated answer; any other fault
    → played on the socket over the generated answer (its events for a stream or a stream
    fault, else its JSON body). A latency model adds its sample to the wait of every valid one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from websim_core.routing import Endpoint

from .errors import FieldError, RequestRefused
from .images import image_name
from .replies import JSON_TYPE, Answer, chat_answer, chat_body, error_body, status_answer
from .replies import stream_events as _events
from .requests import ParsedChat, ParsedImage, parse_chat, parse_image
from .sessions import Session
from .state import MockState
from .steps import STREAM_FAULTS, Delay, FaultStep, ReplyStep, StatusStep, Step

__all__ = ["Decider", "Decision", "refusal"]

Headers = tuple[tuple[str, str], ...]


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


class Decider:
    """The decision for one server's state; its options are read once, here."""

    __slots__ = ("_directives", "_own", "_plain", "_seed", "_state", "_strict")

    def __init__(self, state: MockState) -> None:
        config = state.config
        self._state = state
        self._own = state.own
        self._seed = config.seed
        self._strict = config.strict_ids
        self._directives = config.directives
        # Nothing but a scripted step can change the answer: the usual case skips steps 1, 3, 4.
        unarranged = state.limiter is None and state.chaos is None and state.latency is None
        self._plain = unarranged and not config.directives

    # --- the two endpoints ----------------------------------------------------------------------

    def chat(self, body: bytes, session: Session | None = None) -> Decision:
        """The decision for a chat request's body (in ``session``)."""
        try:
            request = parse_chat(body, strict_ids=self._strict, directives=self._directives)
        except RequestRefused as exc:
            return refusal(exc)
        own = self._own if session is None else session
        if self._plain and not own.scripts.waiting:  # the usual case, in as few calls
            text, answer = chat_answer(self._seed, request.messages)
            if request.stream:
                return Decision(200, b"", None, events=_events(text))
            return Decision(200, answer, JSON_TYPE)
        step, source = self._arrange(Endpoint.CHAT, request.project_id, request.directive, own)
        return self._chat(request, step, source)

    def image(self, body: bytes, origin: str, session: Session | None = None) -> Decision:
        """The decision for an image request's body (in ``session``); image URLs start with
        ``origin``."""
        try:
            request = parse_image(body, strict_ids=self._strict, directives=self._directives)
        except RequestRefused as exc:
            return refusal(exc)
        own = self._own if session is None else session
        step, source = self._arrange(Endpoint.IMAGE, request.project_id, request.directive, own)
        return self._image(request, origin, step, source)

    # --- steps 1 to 4: what arranges the answer -------------------------------------------------

    def _arrange(
        self, endpoint: Endpoint, project_id: str, directive: Step | None, own: Session
    ) -> tuple[Step | None, str]:
        """The step for a valid request and its source, first found (see the module's picture);
        ``own`` holds the steps, buckets and chaos of the request's session (or the server's)."""
        if directive is not None:
            return directive, "directive"
        scripts = own.scripts
        if scripts.waiting:
            step = scripts.take(endpoint.value)
            if step is not None:
                return step, "script"
        if own.limiter is not None:
            retry_after = own.limiter.check(project_id)
            if retry_after is not None:
                return StatusStep(429, (("Retry-After", str(retry_after)),)), "rate_limit"
        if own.chaos is not None:
            step = own.chaos.draw()
            if step is not None:
                return step, "chaos"
        return None, "reply"

    def _wait(self, step: Step | None) -> float:
        """Seconds before answering: the latency model's sample, plus a ``delay`` step's."""
        state = self._state
        wait = 0.0
        if state.latency is not None:
            wait = state.latency.sample(state.latency_rng)
        if isinstance(step, Delay):
            wait += step.delay_ms / 1000
        return wait

    # --- playing the step over the generated answer ---------------------------------------------

    def _chat(self, request: ParsedChat, step: Step | None, source: str) -> Decision:
        wait = self._wait(step)
        if isinstance(step, StatusStep):
            decision = _answered(status_answer(step), source, step)
            decision.wait = wait
            return decision
        text, answer = chat_answer(self._seed, request.messages)
        headers: Headers = ()
        if isinstance(step, ReplyStep):
            headers = step.headers
            if step.text is not None:
                text, answer = step.text, chat_body(step.text)
        fault = step if isinstance(step, FaultStep) and not isinstance(step, Delay) else None
        decision = Decision(200, answer, JSON_TYPE, headers, None, fault, wait, source, step)
        # A stream fault answers with a stream even to a plain request: the fault matters.
        if request.stream or isinstance(fault, STREAM_FAULTS):
            decision.events, decision.body, decision.content_type = _events(text), b"", None
        return decision

    def _image(self, request: ParsedImage, origin: str, step: Step | None, source: str) -> Decision:
        wait = self._wait(step)
        if isinstance(step, StatusStep):
            decision = _answered(status_answer(step), source, step)
            decision.wait = wait
            return decision
        url = f"{origin}/images/{image_name(self._seed, request.prompt, request.ratio)}.png"
        headers: Headers = ()
        if isinstance(step, ReplyStep):
            headers = step.headers
            if step.text is not None:
                url = step.text
        fault = step if isinstance(step, FaultStep) and not isinstance(step, Delay) else None
        body = json.dumps({"url": url}).encode()
        return Decision(200, body, JSON_TYPE, headers, None, fault, wait, source, step)
