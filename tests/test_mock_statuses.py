"""The mock's status answers: its own JSON errors, the live service's pages, scripted steps."""

from __future__ import annotations

import json

from mock_server.core.statuses import BUILTIN_STATUSES, builtin_answer, status_answer
from mock_server.core.steps import StatusStep
from websim_core.errors import CloudflareError, RateLimitError, error_for_status


def test_built_in_bodies_read_like_the_live_service_in_shapes_every_client_survives() -> None:
    """The service's words; the Cloudflare pages as HTML; every other body flat JSON
    ``{"message"}`` (docs/real-clients.md: the shapes gpt4free's releases do not crash on)."""
    assert set(BUILTIN_STATUSES) == {401, 402, 403, 429, 500, 502, 503, 504, 520}
    rate = builtin_answer(429)
    assert json.loads(rate.body) == {"message": "Rate limit exceeded"}
    assert rate.content_type == "application/json"
    for status in (401, 402, 500, 503):
        answer = builtin_answer(status)
        assert answer.content_type == "application/json"
        assert set(json.loads(answer.body)) == {"message"}  # never an "error" object
    challenge = builtin_answer(403)
    assert b"<title>Just a moment...</title>" in challenge.body
    assert ("cf-mitigated", "challenge") in challenge.headers
    assert isinstance(error_for_status(403, challenge.body), CloudflareError)
    assert isinstance(error_for_status(429, rate.body), RateLimitError)
    for status in (502, 504, 520):
        assert b"cf-error-details" in builtin_answer(status).body
    assert json.loads(builtin_answer(418).body) == {"message": "I'm a Teapot"}
    assert builtin_answer(201).body == b""


def test_status_answer_bodies_and_headers() -> None:
    text = status_answer(StatusStep(429, (("Retry-After", "1"),), "slow down"))
    assert (text.body, text.headers) == (b"slow down", (("Retry-After", "1"),))
    assert status_answer(
        StatusStep(500, (), "<html><body>x</body></html>")
    ).content_type.startswith("text/html")
    as_json = status_answer(StatusStep(500, (), {"error": "x"}))
    assert json.loads(as_json.body) == {"error": "x"}
    assert as_json.content_type == "application/json"
    typed = status_answer(StatusStep(403, (("Content-Type", "text/plain"), ("Server", "nginx"))))
    assert typed.content_type == "text/plain"
    assert ("Server", "nginx") in typed.headers
    assert ("Server", "cloudflare") not in typed.headers
