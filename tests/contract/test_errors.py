"""Errors: each documented status maps to its exception class with the documented message form;
429 sequences are retried as the policy promises. Both need an arranged answer: the mock
arranges it, the cassettes recorded it, the live API cannot be told (skipped)."""

from __future__ import annotations

from websim_core import RateLimitError, ResponseStatusError

from .backends import Backend
from .cases import (
    CHAT_ID,
    IMAGE_ID,
    ErrorCase,
    RetryCase,
    documented_attempts,
    documented_delays,
    documented_error,
    error_cases,
    explicit_errors,
    explicit_retries,
    recorded_error_cases,
    recorded_retry_cases,
    retry_cases,
)


def test_statuses_map_to_documented_errors(backend: Backend) -> None:
    backend.require_arranging("an error status")

    async def documented(case: ErrorCase) -> None:
        attempts = documented_attempts(case.endpoint, [case.status] * 3)
        script = None if case.step is None else (case.endpoint, [case.step] * attempts)
        async with backend.run(cassette=case.cassette, script=script) as run:
            client = run.client()
            try:
                if case.endpoint == "chat":
                    await client.chat(case.messages)
                else:
                    await client.generate_image(case.prompt, aspect_ratio=case.aspect_ratio)
            except ResponseStatusError as exc:
                error = exc
            else:
                raise AssertionError(f"a {case.status} answer raised nothing")
        exchanges = run.exchanges
        assert [e.status for e in exchanges] == [case.status] * attempts
        assert len({e.body for e in exchanges}) == 1, "a retry sent a different request"
        pattern = CHAT_ID if case.endpoint == "chat" else IMAGE_ID
        assert pattern.fullmatch(exchanges[0].json()["project_id"])
        last = exchanges[-1]
        kind, message = documented_error(last.status, last.response_body, last.media_type)
        assert type(error) is kind, f"{type(error).__name__}: {error}"
        assert error.status == case.status
        if message is not None:
            assert str(error) == f"Response {case.status}: {message}"
        else:
            assert str(error).startswith(f"Response {case.status}: ")
            assert error.message.strip()
        assert len(run.delays) == attempts - 1

    backend.for_all(documented, error_cases(), recorded_error_cases, explicit=explicit_errors)


def test_429_sequences_are_retried_as_promised(backend: Backend) -> None:
    backend.require_arranging("a sequence of 429 answers")

    async def retried(case: RetryCase) -> None:
        statuses = [status for status, _ in case.answers]
        attempts = documented_attempts("chat", statuses)
        script = None if case.cassette else ("chat", case.steps)
        async with backend.run(cassette=case.cassette, script=script) as run:
            try:
                answer: str | RateLimitError = await run.client().chat(case.messages)
            except RateLimitError as exc:
                answer = exc
        assert [e.status for e in run.exchanges] == statuses[:attempts]
        assert len({e.body for e in run.exchanges}) == 1, "a retry sent a different request"
        failed = [after for _, after in case.answers[: attempts - 1]]
        assert run.delays == documented_delays(failed)
        if statuses[attempts - 1] == 200:
            assert isinstance(answer, str)
            assert answer.strip()
        else:
            assert isinstance(answer, RateLimitError), answer
            assert answer.status == 429
            assert str(answer).startswith("Response 429: ")

    backend.for_all(retried, retry_cases, recorded_retry_cases, explicit=explicit_retries)
