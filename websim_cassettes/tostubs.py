"""A cassette as mock stubs: ``websim-cassettes stubs CASSETTE`` prints (YAML) the stubs that
answer the cassette's requests as they were recorded, so a recording can become standing rules.

Each request is matched by what the mock's matcher reads (the last user message, the number of
turns, the roles, the flags; the prompt and ratio of an image), and answered with the recorded
status, content, URL or body. A request recorded more than once (a 429, then a 200) gets one
stub per answer, in recorded order: each but the last answers once (``times: 1``) and the
earlier ones win (lower ``priority``).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from websim_core.protocol import content_text
from websim_core.routing import CHAT_PATH, IMAGE_PATH
from websim_core.sse import SSEDecoder

from .files import CassetteFile, Interaction

__all__ = ["cassette_stubs"]

_KEPT_HEADERS = ("retry-after",)


def _chat_match(body: dict[str, Any]) -> dict[str, Any]:
    messages = body.get("messages") or []
    pairs = [(str(m.get("role")), content_text(m.get("content"))) for m in messages]
    users = [text for role, text in pairs if role == "user"]
    match: dict[str, Any] = {"endpoint": "chat"}
    if users:
        match["last_user_message"] = {"equals": users[-1]}
    match["turns"] = len(users)
    match["roles"] = [role for role, _ in pairs]
    match["stream"] = body.get("stream") is True
    match["json"] = body.get("json") is True
    return match


def _image_match(body: dict[str, Any]) -> dict[str, Any]:
    match: dict[str, Any] = {"endpoint": "image"}
    if isinstance(body.get("prompt"), str):
        match["prompt"] = {"equals": body["prompt"]}
    if isinstance(body.get("aspect_ratio"), str):
        match["aspect_ratio"] = body["aspect_ratio"]
    return match


def _streamed_text(body: bytes) -> str:
    parts = []
    for event in SSEDecoder().feed(body + b"\n\n"):
        if event.data == "[DONE]":
            break
        try:
            parts.append(str(json.loads(event.data).get("content", "")))
        except (ValueError, AttributeError):
            continue
    return "".join(parts)


def _respond(interaction: Interaction, image: bool) -> dict[str, Any]:
    response = interaction.response
    text = response.body.decode("utf-8", "replace")
    if response.status == 200:
        if response.media_type == "text/event-stream":
            return {"reply": _streamed_text(response.body)}
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            if image and isinstance(data.get("url"), str):
                return {"url": data["url"]}
            if not image and isinstance(data.get("content"), str):
                return {"reply": data["content"]}
    respond: dict[str, Any] = {"status": response.status}
    headers = {name: response.header(name) for name in _KEPT_HEADERS if response.header(name)}
    if headers:
        respond["headers"] = headers
    if text and response.status not in (204, 304):
        try:
            respond["body"] = json.loads(text) if response.media_type.endswith("json") else text
        except ValueError:
            respond["body"] = text
    return respond


def cassette_stubs(cassette: CassetteFile) -> list[dict[str, Any]]:
    """The stubs answering the cassette's inference requests as recorded, in recorded order."""
    found: list[tuple[str, dict[str, Any]]] = []
    for i, interaction in enumerate(cassette.interactions):
        request = interaction.request
        if request.path not in (CHAT_PATH, IMAGE_PATH):
            continue
        try:
            body = json.loads(request.body)
        except ValueError:
            continue
        if not isinstance(body, dict):
            continue
        image = request.path == IMAGE_PATH
        match = _image_match(body) if image else _chat_match(body)
        stub: dict[str, Any] = {
            "name": f"{cassette.path.stem} #{i + 1}",
            "match": match,
            "respond": _respond(interaction, image),
        }
        found.append((json.dumps(match, sort_keys=True), stub))
    left = Counter(key for key, _ in found)
    seen: Counter[str] = Counter()
    stubs = []
    for key, stub in found:
        seen[key] += 1
        if left[key] > 1:
            stub["priority"] = seen[key] - 1
            if seen[key] < left[key]:
                stub["times"] = 1
        stubs.append(stub)
    return stubs
