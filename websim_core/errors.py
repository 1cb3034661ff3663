"""Every exception websim_core raises, and the one function that maps an HTTP status to one.

The tree (catch ``WebsimError`` to catch them all)::

    WebsimError
    ├── InvalidRequestError        bad arguments, raised before any I/O
    ├── ResponseStatusError        a non-2xx answer (.status, .body)
    │   ├── RateLimitError         429, 402, 504 (.retry_after)
    │   ├── MissingAuthError       401
    │   ├── CloudflareError        403 with a Cloudflare challenge page
    │   └── UnexpectedRedirectError  3xx: redirects are not followed (.location)
    ├── ResponseFormatError        an answer we cannot use (shape, no url, bad stream, too large)
    ├── WebsimConnectionError      the connection failed or dropped (wraps aiohttp's error)
    └── WebsimTimeoutError         the request took longer than the timeout

Messages read ``Response {status}: {message}``, the form gpt4free users know from their logs.
"""

from __future__ import annotations

import http
import json
from collections.abc import Mapping

__all__ = [
    "CloudflareError",
    "InvalidRequestError",
    "MissingAuthError",
    "RateLimitError",
    "ResponseFormatError",
    "ResponseStatusError",
    "UnexpectedRedirectError",
    "WebsimConnectionError",
    "WebsimError",
    "WebsimTimeoutError",
    "error_for_status",
    "is_cloudflare_page",
    "is_html",
    "status_message",
]

_MAX_MESSAGE = 300
_CLOUDFLARE_MARKERS = (
    "<title>Just a moment...",
    "Just a moment...",
    'id="cf-wrapper"',
    'id="cf-error-details"',
    "cf-browser-verification",
    "cf_chl_opt",
    "challenge-platform",
    "cf-chl-",
)


class WebsimError(Exception):
    """Root of every error raised by websim_core."""


class InvalidRequestError(WebsimError, ValueError):
    """The caller's arguments are not a valid request; raised before anything is sent."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"invalid {field}: {problem}")
        self.field = field
        self.problem = problem


class ResponseStatusError(WebsimError):
    """The server answered with a status that is not a success."""

    def __init__(self, status: int, message: str, body: bytes = b"") -> None:
        super().__init__(f"Response {status}: {message}")
        self.status = status
        self.message = message
        self.body = body


class RateLimitError(ResponseStatusError):
    """The server refused for rate or quota reasons (429, 402, 504); may be retried."""

    def __init__(
        self, status: int, message: str, body: bytes = b"", *, retry_after: float | None = None
    ) -> None:
        super().__init__(status, message, body)
        self.retry_after = retry_after


class MissingAuthError(ResponseStatusError):
    """The server wants authentication (401)."""


class CloudflareError(ResponseStatusError):
    """A Cloudflare challenge page stood between the client and the API (403)."""


class UnexpectedRedirectError(ResponseStatusError):
    """A 3xx answer: the client does not follow redirects, so the message names the Location."""

    def __init__(self, status: int, location: str | None, body: bytes = b"") -> None:
        where = "with no Location" if location is None else f"to {_one_line(location)}"
        super().__init__(status, f"redirect {where} not followed", body)
        self.location = location


class ResponseFormatError(WebsimError):
    """An answer whose body we cannot use: wrong shape, no url, broken stream, over the size limit.

    Raised for a success (2xx) body, and for any body larger than the client's
    ``max_response_bytes``.
    """

    def __init__(self, problem: str, body: bytes = b"") -> None:
        super().__init__(problem)
        self.body = body


class WebsimConnectionError(WebsimError):
    """The connection could not be made or was lost; the message names the URL."""


class WebsimTimeoutError(WebsimError):
    """The request did not complete within the configured timeout; the message names the URL."""


def is_html(text: str, content_type: str | None = None) -> bool:
    """True when a body is an HTML page rather than an API answer."""
    if content_type and content_type.split(";", 1)[0].strip().lower() == "text/html":
        return True
    head = text.lstrip()[:15].lower()
    return head.startswith("<!doctype") or head.startswith("<html")


def is_cloudflare_page(text: str) -> bool:
    """True when a body carries the markers of a Cloudflare challenge or error page."""
    return any(marker in text for marker in _CLOUDFLARE_MARKERS)


def _one_line(text: str) -> str:
    """Whitespace runs as one space, cut to fit a message (a header value is the peer's choice)."""
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE // 2 else text[: _MAX_MESSAGE // 2 - 3] + "..."


def _decode(body: bytes | str) -> str:
    return body if isinstance(body, str) else body.decode("utf-8", "replace")


def status_message(status: int, body: bytes | str, content_type: str | None = None) -> str:
    """The human part of an error: JSON ``error``/``message``, else the text, else the reason."""
    text = _decode(body)
    if is_html(text, content_type):
        return "HTML content"
    message: object = None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deep to decode
        data = None
    if isinstance(data, dict):
        # An empty or null ``error`` does not hide a useful ``message``.
        message = data.get("error")
        if message is None or message == "":
            message = data.get("message")
        if isinstance(message, dict):
            message = message.get("message", message)
    if message is None or message == "":
        message = text.strip()
    if not isinstance(message, str):
        message = json.dumps(message, ensure_ascii=False)
    if not message:
        try:
            message = http.HTTPStatus(status).phrase
        except ValueError:
            message = "Unknown status"
    message = " ".join(message.split())
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 3] + "..."


def error_for_status(
    status: int,
    body: bytes | str = b"",
    headers: Mapping[str, str] | None = None,
    *,
    retry_after: float | None = None,
) -> ResponseStatusError | None:
    """Map a status and body to the exception to raise, or None for a 2xx success.

    Total over every integer status; ``retry_after`` is the already-parsed header (see
    ``websim_core.retry.parse_retry_after``), kept out of here so this stays clock-free.
    """
    if 200 <= status < 300:
        return None
    # surrogatepass: a str body may hold lone surrogates (e.g. decoded from JSON escapes).
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    content_type = None
    if headers is not None:
        content_type = headers.get("Content-Type") or headers.get("content-type")
    if 300 <= status < 400:
        location = None
        if headers is not None:
            location = headers.get("Location") or headers.get("location")
        return UnexpectedRedirectError(status, location, raw)
    text = _decode(body)
    if status == 403 and is_cloudflare_page(text):
        return CloudflareError(status, "Cloudflare detected", raw)
    if status == 520:
        return ResponseStatusError(status, "Unknown error (Cloudflare)", raw)
    if status == 502:
        return ResponseStatusError(status, "Bad Gateway", raw)
    if status == 504:
        return RateLimitError(status, "Gateway Timeout", raw, retry_after=retry_after)
    message = status_message(status, text, content_type)
    if status in (402, 429):
        return RateLimitError(status, message, raw, retry_after=retry_after)
    if status == 401:
        return MissingAuthError(status, message, raw)
    return ResponseStatusError(status, message, raw)
