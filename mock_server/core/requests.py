"""An inference request body, parsed and validated: what the decision works from.

``parse_chat`` and ``parse_image`` take the body bytes and return a parsed request, or raise
``RequestRefused`` (a 400 naming the field). Validation is ``websim_core.protocol``'s, shared
with the client, so the two cannot drift apart. With ``--directives`` the step a directive asks
for is taken out of the last user message (or the prompt) here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from websim_core.errors import InvalidRequestError
from websim_core.protocol import (
    DEFAULT_ASPECT_RATIO,
    parse_aspect_ratio,
    validate_chat_body,
    validate_image_body,
)

from .directives import parse_directive
from .errors import RequestRefused, StepError
from .jsonbody import parse_json_strictly
from .steps import STREAM_FAULTS, Step

__all__ = ["ParsedChat", "ParsedImage", "parse_chat", "parse_image"]


@dataclass(slots=True)
class ParsedChat:
    """A valid chat body: its messages (without a directive), whether to stream, the project,
    and whether it asks for JSON output (``"json": true``)."""

    messages: list[Any]
    stream: bool
    project_id: str
    directive: Step | None = None
    json: bool = False


@dataclass(slots=True)
class ParsedImage:
    """A valid image body: its prompt (without a directive), aspect ratio and project."""

    prompt: str
    ratio: tuple[int, int]
    project_id: str
    directive: Step | None = None

    @property
    def aspect_ratio(self) -> str:
        return f"{self.ratio[0]}:{self.ratio[1]}"


def _refused(exc: InvalidRequestError) -> RequestRefused:
    return RequestRefused(exc.field, exc.problem)


def _json(body: bytes) -> Any:
    try:
        return parse_json_strictly(body)
    except ValueError as exc:
        raise RequestRefused("body", f"is not valid JSON ({exc})") from None


def parse_chat(body: bytes, *, strict_ids: bool, directives: bool) -> ParsedChat:
    """The chat request in ``body``; ``RequestRefused`` when it is not one."""
    try:
        data = validate_chat_body(_json(body), strict_ids=strict_ids)
    except InvalidRequestError as exc:
        raise _refused(exc) from None
    messages = data["messages"]
    step = None
    if directives:
        step, messages = _strip_directive(messages)
    stream, json = data.get("stream") is True, data.get("json") is True
    return ParsedChat(messages, stream, data["project_id"], step, json)


def parse_image(body: bytes, *, strict_ids: bool, directives: bool) -> ParsedImage:
    """The image request in ``body``; ``RequestRefused`` when it is not one."""
    try:
        data = validate_image_body(_json(body), strict_ids=strict_ids)
        ratio = parse_aspect_ratio(data.get("aspect_ratio", DEFAULT_ASPECT_RATIO))
    except InvalidRequestError as exc:
        raise _refused(exc) from None
    prompt: str = data["prompt"]
    step: Step | None = None
    found = _directive(prompt, "prompt") if directives else None
    if found is not None:
        step, prompt = found
        if isinstance(step, STREAM_FAULTS):
            raise RequestRefused("prompt", f"has a bad directive: {step.fault} is for chat streams")
    return ParsedImage(prompt, ratio, data["project_id"], step)


def _directive(text: str, where: str) -> tuple[Step, str] | None:
    try:
        return parse_directive(text)
    except StepError as exc:
        raise RequestRefused(where, f"has a bad directive: {exc}") from None


def _strip_directive(messages: list[Any]) -> tuple[Step | None, list[Any]]:
    """The step the last user message's directive asks for, and the messages without it.

    The directive must open the message's content (a string, or its first text part).
    """
    index = next((i for i in range(len(messages) - 1, -1, -1) if messages[i]["role"] == "user"), -1)
    if index < 0:
        return None, messages
    message = messages[index]
    content = message["content"]
    where = f"messages[{index}].content"
    new_content: Any
    if isinstance(content, str):
        found = _directive(content, where)
        if found is None:
            return None, messages
        step, new_content = found
    else:
        part = next(
            (
                j
                for j, item in enumerate(content)
                if item.get("type", "text") == "text" and isinstance(item.get("text"), str)
            ),
            None,
        )
        if part is None:
            return None, messages
        found = _directive(content[part]["text"], f"{where}[{part}].text")
        if found is None:
            return None, messages
        step, rest = found
        new_content = list(content)
        new_content[part] = {**content[part], "text": rest}
    changed = list(messages)
    changed[index] = {**message, "content": new_content}
    return step, changed
