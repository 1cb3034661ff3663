"""The guides say what the mock's error answers look like: flat JSON (docs/real-clients.md
says why), never an ``"error"`` object; each body a guide quotes is one the mock sends."""

from __future__ import annotations

import json
import re
from pathlib import Path

from helpers import http_json

from mock_server import MockServer

DOCS = Path(__file__).resolve().parent.parent / "docs"
CHAT = "/api/v1/inference/run_chat_completion"
# Only the page about real clients describes (other services') "error" objects.
ABOUT_CLIENTS = {"real-clients.md"}


def test_no_guide_says_the_mock_answers_an_error_object() -> None:
    for page in sorted(DOCS.glob("*.md")):
        if page.name not in ABOUT_CLIENTS:
            assert '{"error": {' not in page.read_text(encoding="utf-8"), page.name


def quoted_error_bodies() -> list[dict[str, object]]:
    """Every complete ``{"message": ...}`` a guide quotes inline (one line or across two)."""
    found = []
    for page in sorted(DOCS.glob("*.md")):
        text = " ".join(page.read_text(encoding="utf-8").split())
        for quoted in re.findall(r'`(\{"message": [^`]*\})`', text):
            try:
                found.append(json.loads(quoted))
            except ValueError:
                continue  # a shape with "...", not a body
    return found


async def test_each_error_body_a_guide_quotes_is_one_the_mock_sends() -> None:
    project = "ke3_xh5gai3gjkmruomu"
    sent: list[object] = []
    chat = {"project_id": project, "messages": [{"role": "user", "content": "x"}]}
    async with MockServer(rate_limit="1/h") as server:
        server.script("chat", [401, 402, 429, 500, 503])
        # the scripted steps, then the rate limit's own 429 (one token), then bad input
        for _ in range(7):
            sent.append((await http_json("POST", server.url + CHAT, chat))[1])
        sent.append((await http_json("POST", server.url + CHAT, {"project_id": project}))[1])
        sent.append((await http_json("GET", server.url + "/__admin/requests?limt=5"))[1])
    quoted = quoted_error_bodies()
    assert {"message": "Rate limit exceeded"} in quoted
    assert {"message": "Service temporarily unavailable"} in quoted
    for body in quoted:
        message = str(body["message"])
        if "..." not in message and "closest" not in message:
            assert body in sent, body
