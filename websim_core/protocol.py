"""Build Websim request bodies and parse Websim answers, with no I/O.

Both the client and the mock server use these functions, so what one sends the other accepts.
Validators raise ``InvalidRequestError`` naming the field; parsers raise ``ResponseFormatError``.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from .errors import InvalidRequestError, ResponseFormatError, is_html
from .ids import generate_project_id, is_lenient_project_id, project_id_problem
from .routing import CHAT_PATH, IMAGE_PATH, Endpoint

__all__ = [
    "ASPECT_RATIOS",
    "DEFAULT_ASPECT_RATIO",
    "KNOWN_ROLES",
    "ChatRequest",
    "ImageRequest",
    "ImageResponse",
    "build_chat_request",
    "build_image_request",
    "content_text",
    "image_prompt",
    "parse_aspect_ratio",
    "parse_chat_response",
    "parse_image_response",
    "parse_json_body",
    "validate_chat_body",
    "validate_image_body",
    "validate_messages",
    "validate_project_id",
]

KNOWN_ROLES = frozenset({"system", "user", "assistant", "developer"})
ASPECT_RATIOS: tuple[str, ...] = ("1:1", "16:9", "9:16", "21:9", "9:21")
DEFAULT_ASPECT_RATIO = "1:1"
_RATIO_RE = re.compile(r"([0-9]{1,6}):([0-9]{1,6})")
Message = dict[str, Any]


@dataclass(frozen=True)
class ImageResponse:
    """An image answer: the URLs (one today) and the prompt as alt text; str() is Markdown."""

    urls: list[str]
    alt: str = ""

    @property
    def url(self) -> str:
        return self.urls[0]

    def __str__(self) -> str:
        alt = " ".join(self.alt.split()).replace("[", "(").replace("]", ")")
        return "\n".join(f"[![{alt}]({url})]({url})" for url in self.urls)


@dataclass(frozen=True)
class ChatRequest:
    """A chat request ready to send: the path and the JSON payload."""

    payload: dict[str, Any]
    path: str = CHAT_PATH
    endpoint: Literal["chat"] = field(default="chat", init=False)
    encoded: bytes | None = field(default=None, repr=False, compare=False)

    def body(self) -> bytes:
        """The JSON body (encoded once by ``build_chat_request``; retries resend the same bytes)."""
        return _dump(self.payload) if self.encoded is None else self.encoded


@dataclass(frozen=True)
class ImageRequest:
    """An image request ready to send: the path, the JSON payload, and the prompt (for alt)."""

    payload: dict[str, Any]
    path: str = IMAGE_PATH
    endpoint: Literal["image"] = field(default="image", init=False)
    encoded: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def prompt(self) -> str:
        return str(self.payload["prompt"])

    def body(self) -> bytes:
        """The JSON body (encoded once by ``build_image_request``)."""
        return _dump(self.payload) if self.encoded is None else self.encoded


def _dump(payload: object) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _check_encodable(value: object, where: str) -> None:
    # Fail before any I/O, naming the field, rather than with a TypeError or a
    # UnicodeEncodeError (lone surrogates) when the body is serialised for sending.
    try:
        _dump(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidRequestError(where, f"cannot be sent as UTF-8 JSON ({exc})") from None


def _type(value: object) -> str:
    return "null" if value is None else type(value).__name__


def content_text(content: object) -> str:
    """The text of a message content: the string, or its text parts joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, Mapping)
            and part.get("type", "text") == "text"
            and isinstance(part.get("text"), str)
        )
    return ""


def _validate_content(content: object, where: str) -> None:
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise InvalidRequestError(
            where, f"must be a string or a list of parts, not {_type(content)}"
        )
    for j, part in enumerate(content):
        at = f"{where}[{j}]"
        if not isinstance(part, Mapping):
            raise InvalidRequestError(at, f"must be an object, not {_type(part)}")
        kind = part.get("type")
        if not isinstance(kind, str):
            raise InvalidRequestError(f"{at}.type", "must be a string")
        if kind == "text" and not isinstance(part.get("text"), str):
            raise InvalidRequestError(f"{at}.text", "must be a string")


def validate_messages(messages: object) -> list[Message]:
    """Check a message list; returns it as a list of plain dicts, otherwise unchanged."""
    if type(messages) is not list and (
        isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence)
    ):
        raise InvalidRequestError("messages", f"must be a list, not {_type(messages)}")
    if not messages:
        raise InvalidRequestError("messages", "must not be empty")
    out: list[Message] = []
    for i, message in enumerate(messages):
        out.append(message if _is_plain(message) else _checked_message(message, f"messages[{i}]"))
    return out


def _is_plain(message: object) -> bool:
    """The common shape (a dict, a known role, string content), which needs no detailed check.

    The mock server validates every request, so this shortcut is its hot path.
    """
    return (
        type(message) is dict
        and type(message.get("role")) is str
        and message["role"] in KNOWN_ROLES
        and type(message.get("content")) is str
    )


def _checked_message(message: object, where: str) -> Message:
    if not isinstance(message, Mapping):
        raise InvalidRequestError(where, f"must be an object, not {_type(message)}")
    for key in ("role", "content"):
        if key not in message:
            raise InvalidRequestError(f"{where}.{key}", "is missing")
    role = message["role"]
    if not isinstance(role, str):
        raise InvalidRequestError(f"{where}.role", f"must be a string, not {_type(role)}")
    if role not in KNOWN_ROLES:
        roles = ", ".join(sorted(KNOWN_ROLES))
        raise InvalidRequestError(f"{where}.role", f"unknown role {role!r} (known: {roles})")
    _validate_content(message["content"], f"{where}.content")
    return dict(message)


def validate_project_id(project_id: object, kind: Endpoint, *, strict: bool = False) -> str:
    """``ids.project_id_problem`` as an ``InvalidRequestError``; returns the ID when it is valid.

    Lenient: 1-64 chars of [a-z0-9_]. Strict: only the canonical form for the endpoint.
    """
    problem = project_id_problem(kind, project_id, strict=strict)
    if problem is not None:
        raise InvalidRequestError("project_id", problem)
    return cast(str, project_id)  # project_id_problem refuses anything but a str


def parse_aspect_ratio(value: object) -> tuple[int, int]:
    """``"W:H"`` with positive integers (at most six digits each) to ``(W, H)``."""
    if not isinstance(value, str):
        raise InvalidRequestError(
            "aspect_ratio", f"must be a string like '16:9', not {_type(value)}"
        )
    match = _RATIO_RE.fullmatch(value)
    if match is None or int(match[1]) == 0 or int(match[2]) == 0:
        raise InvalidRequestError(
            "aspect_ratio", f"must be W:H with positive integers, like '16:9', not {value!r}"
        )
    return int(match[1]), int(match[2])


def image_prompt(messages: Sequence[Mapping[str, Any]]) -> str:
    """The trailing run of user messages, each stripped, empty ones dropped, joined by newlines."""
    run: list[str] = []
    for message in reversed(messages):
        if message.get("role") != "user":
            break
        text = content_text(message.get("content")).strip()
        if text:
            run.append(text)
    return "\n".join(reversed(run))


def build_chat_request(
    messages: object,
    *,
    project_id: str | None = None,
    stream: bool = False,
    json: bool = False,
    rng: random.Random | None = None,
) -> ChatRequest:
    """Validate and build a chat request; the history is sent whole, as the known clients do.

    ``json=True`` asks for Websim's JSON output mode: the answer's content is a JSON document.
    """
    checked = validate_messages(messages)
    if project_id is None:
        project_id = generate_project_id("chat", rng=rng)
    payload: dict[str, Any] = {
        "project_id": validate_project_id(project_id, Endpoint.CHAT),
        "messages": checked,
    }
    if stream:
        payload["stream"] = True
    if json:
        payload["json"] = True
    try:
        encoded = _dump(payload)
    except (TypeError, ValueError, RecursionError):
        for i, message in enumerate(checked):  # name the message that cannot be sent
            _check_encodable(message, f"messages[{i}]")
        raise
    return ChatRequest(payload, encoded=encoded)


def build_image_request(
    prompt: str | None = None,
    *,
    messages: object = None,
    aspect_ratio: str = DEFAULT_ASPECT_RATIO,
    project_id: str | None = None,
    rng: random.Random | None = None,
) -> ImageRequest:
    """Validate and build an image request; the prompt comes from ``prompt`` or the messages."""
    if prompt is not None and not isinstance(prompt, str):
        raise InvalidRequestError("prompt", f"must be a string, not {_type(prompt)}")
    parse_aspect_ratio(aspect_ratio)
    # Messages given are checked even when an explicit prompt makes them unused.
    checked = None if messages is None else validate_messages(messages)
    text = prompt.strip() if prompt else ""
    if not text and checked is not None:
        text = image_prompt(checked)
    if not text:
        raise InvalidRequestError("prompt", "no prompt given and no trailing user message")
    if project_id is None:
        project_id = generate_project_id("image", rng=rng)
    payload = {
        "project_id": validate_project_id(project_id, Endpoint.IMAGE),
        "prompt": text,
        "aspect_ratio": aspect_ratio,
    }
    try:
        encoded = _dump(payload)
    except (TypeError, ValueError, RecursionError):
        _check_encodable(text, "prompt")  # the one field that can fail: name it
        raise
    return ImageRequest(payload, encoded=encoded)


# --- parsing what the server sent -------------------------------------------------------------


def _text(body: bytes) -> str:
    # utf-8-sig: a leading BOM is not part of the answer (json.loads would refuse it).
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ResponseFormatError(f"body is not UTF-8 text ({exc.reason})", body) from None


def parse_chat_response(body: bytes, content_type: str | None = None) -> str:
    """A 2xx chat body to its text: ``content`` of a JSON object, or the raw text if not JSON."""
    text = _text(body)
    if not text.strip():
        raise ResponseFormatError("chat answer has an empty body", body)
    try:
        data = json.loads(text)
    except RecursionError:
        raise ResponseFormatError("chat answer is JSON nested too deeply", body) from None
    except ValueError:
        if is_html(text, content_type):
            raise ResponseFormatError(
                "chat answer is an HTML page, not an API answer", body
            ) from None
        return text
    if not isinstance(data, dict):
        raise ResponseFormatError(f"chat answer is JSON {_type(data)}, not an object", body)
    content = data.get("content")
    if not isinstance(content, str):
        raise ResponseFormatError(
            f"chat answer has no string 'content' (got {_type(content)})", body
        )
    return content.strip()


def parse_image_response(
    body: bytes, prompt: str, content_type: str | None = None
) -> ImageResponse:
    """A 2xx image body to an ImageResponse; a missing or non-http(s) ``url`` is an error."""
    data = parse_json_body(body, "image answer", content_type)
    if not isinstance(data, dict):
        raise ResponseFormatError(f"image answer is JSON {_type(data)}, not an object", body)
    url = data.get("url")
    if url is None:
        raise ResponseFormatError("image answer has no 'url'", body)
    if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
        raise ResponseFormatError(f"image answer 'url' is not an http(s) URL: {url!r:.80}", body)
    return ImageResponse([url], alt=prompt)


def parse_json_body(body: bytes, what: str, content_type: str | None = None) -> object:
    """JSON from a body, or ResponseFormatError saying what it was instead."""
    text = _text(body)
    if not text.strip():
        raise ResponseFormatError(f"{what} has an empty body", body)
    try:
        return json.loads(text)
    except RecursionError:
        raise ResponseFormatError(f"{what} is JSON nested too deeply", body) from None
    except ValueError:
        kind = "an HTML page" if is_html(text, content_type) else "not JSON"
        raise ResponseFormatError(f"{what} is {kind}: {text.strip()[:80]!r}", body) from None


# --- validating what a client sent (the mock server's side) -----------------------------------


def validate_chat_body(data: object, *, strict_ids: bool = False) -> dict[str, Any]:
    """A parsed chat request body, checked field by field; returns it unchanged."""
    if not isinstance(data, dict):
        raise InvalidRequestError("body", f"must be a JSON object, not {_type(data)}")
    if "project_id" not in data:
        raise InvalidRequestError("project_id", "is missing")
    # The usual body skips the detailed checks (which name what is wrong): the mock server
    # runs this on every request.
    project_id = data["project_id"]
    if strict_ids or not is_lenient_project_id(project_id):
        validate_project_id(project_id, Endpoint.CHAT, strict=strict_ids)
    if "messages" not in data:
        raise InvalidRequestError("messages", "is missing")
    messages = data["messages"]
    if not (type(messages) is list and messages and all(map(_is_plain, messages))):
        validate_messages(messages)
    if "stream" in data and not isinstance(data["stream"], bool):
        raise InvalidRequestError("stream", f"must be a boolean, not {_type(data['stream'])}")
    if "json" in data and not isinstance(data["json"], bool):
        raise InvalidRequestError("json", f"must be a boolean, not {_type(data['json'])}")
    return data


def validate_image_body(data: object, *, strict_ids: bool = False) -> dict[str, Any]:
    """A parsed image request body, checked field by field; returns it unchanged."""
    if not isinstance(data, dict):
        raise InvalidRequestError("body", f"must be a JSON object, not {_type(data)}")
    if "project_id" not in data:
        raise InvalidRequestError("project_id", "is missing")
    validate_project_id(data["project_id"], Endpoint.IMAGE, strict=strict_ids)
    prompt = data.get("prompt")
    if not isinstance(prompt, str):
        raise InvalidRequestError("prompt", "is missing" if prompt is None else "must be a string")
    if not prompt.strip():
        raise InvalidRequestError("prompt", "must not be empty")
    parse_aspect_ratio(data.get("aspect_ratio", DEFAULT_ASPECT_RATIO))
    return data
