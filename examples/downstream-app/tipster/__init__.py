"""Tipster: asks Websim for a one-line tip on a topic (the app under test in this example)."""

from __future__ import annotations

import os
import secrets
import string

import aiohttp

__all__ = ["TipsterError", "tip"]

CHAT_PATH = "/api/v1/inference/run_chat_completion"
_ALPHABET = string.ascii_lowercase + string.digits


class TipsterError(Exception):
    """Websim answered with an error status."""


def _project_id() -> str:
    # Websim's chat project IDs: 3 and 16 characters of [a-z0-9] around an underscore.
    pick = "".join(secrets.choice(_ALPHABET) for _ in range(19))
    return f"{pick[:3]}_{pick[3:]}"


async def tip(topic: str, *, base_url: str | None = None) -> str:
    """One tip about ``topic`` from Websim at ``base_url`` (default ``$WEBSIM_BASE_URL`` or
    https://websim.ai)."""
    base = base_url or os.environ.get("WEBSIM_BASE_URL", "https://websim.ai")
    body = {
        "project_id": _project_id(),
        "messages": [
            {"role": "system", "content": "Answer with one short tip."},
            {"role": "user", "content": f"A tip about {topic}, please."},
        ],
    }
    timeout = aiohttp.ClientTimeout(total=30)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.post(base.rstrip("/") + CHAT_PATH, json=body) as response,
    ):
        if response.status != 200:
            raise TipsterError(f"Websim answered {response.status}: {await response.text()}")
        answer = await response.json(content_type=None)
    return str(answer["content"]).strip()
