"""Keep secrets and noise out of cassettes: vcrpy ``before_record_*`` filters and a secret finder.

The same rules scrub what vcrpy records, what the record proxy writes, and what the checker
looks for, so a cassette that passes through any of them is clean by the checker's standard.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from websim_core.sse import DONE_EVENT, encode_delta

from .secrets import (
    REDACTED,
    SECRET_PATTERNS,
    SecretFinding,
    find_secrets,
    is_sensitive_name,
    scrub_text,
    secret_spans,
    stream_deltas,
)

__all__ = [
    "DROPPED_REQUEST_HEADERS",
    "DROPPED_RESPONSE_HEADERS",
    "REDACTED",
    "SECRET_PATTERNS",
    "VOLATILE_RESPONSE_HEADERS",
    "SecretFinding",
    "find_secrets",
    "is_sensitive_name",
    "scrub_body",
    "scrub_headers",
    "scrub_request",
    "scrub_response",
    "scrub_text",
    "scrub_uri",
]

# Never worth keeping: cookies identify a browser session whatever their name.
DROPPED_REQUEST_HEADERS = frozenset({"cookie", "cookie2"})
DROPPED_RESPONSE_HEADERS = frozenset({"set-cookie", "set-cookie2"})
# Headers that change on every response or only describe the connection: they would make every
# re-recording a diff and tell a replaying client nothing.
VOLATILE_RESPONSE_HEADERS = frozenset(
    {
        "age",
        "alt-svc",
        "cf-cache-status",
        "cf-ray",
        "connection",
        "date",
        "expires",
        "keep-alive",
        "nel",
        "report-to",
        "request-id",
        "server-timing",
        "traceparent",
        "transfer-encoding",
        "x-amz-cf-id",
        "x-amz-cf-pop",
        "x-amzn-requestid",
        "x-amzn-trace-id",
        "x-cloud-trace-context",
        "x-request-id",
        "x-runtime",
        "x-served-by",
        "x-timer",
        "x-vercel-id",
    }
)


def _scrub_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: (REDACTED if is_sensitive_name(str(key)) and value[key] else _scrub_json(v))
            for key, v in value.items()
        }
    if isinstance(value, list):
        return [_scrub_json(v) for v in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value


def scrub_body(body: bytes) -> bytes:
    """A body with secrets redacted; unchanged bytes (not re-serialised) when there were none.

    JSON objects lose the values of credential-named keys; a chat event stream is judged on
    its joined text (a secret cut across events is still one); then any text loses what a
    secret pattern matches, always, so nothing ``find_secrets`` sees is left. Binary bodies are
    left alone.
    """
    if not body:
        return body
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return body
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        value = None
    cleaned = text
    if isinstance(value, (dict, list)):
        scrubbed_value = _scrub_json(value)
        if scrubbed_value != value:
            cleaned = json.dumps(scrubbed_value, ensure_ascii=False, separators=(",", ":"))
    elif text.lstrip().startswith(("data:", ":")):
        cleaned = _scrub_stream(text)
    cleaned = scrub_text(cleaned)
    return body if cleaned == text else cleaned.encode("utf-8")


def _scrub_stream(text: str) -> str:
    """A chat event stream whose joined answer holds no secret, events cut where they were."""
    for _ in range(8):
        deltas = stream_deltas(text.encode("utf-8"))
        if deltas is None:
            return text
        spans = secret_spans("".join(deltas))
        if not spans:
            return text
        kept, at = [], 0
        for delta in deltas:
            chars = []
            for offset, char in enumerate(delta, start=at):
                inside = next((s for s in spans if s[0] <= offset < s[1]), None)
                if inside is None:
                    chars.append(char)
                elif offset == inside[0]:
                    chars.append(REDACTED)
            kept.append("".join(chars))
            at += len(delta)
        done = DONE_EVENT.decode() if DONE_EVENT.decode().strip() in text else ""
        text = b"".join(encode_delta(d) for d in kept).decode("utf-8") + done
    return text


def scrub_uri(uri: str) -> str:
    """A URL with credentials redacted: user:password@, credential-named query parameters, and
    any value the secret rules match."""
    parts = urlsplit(uri)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(is_sensitive_name(k) for k, _ in pairs):
            query = urlencode(
                [(k, REDACTED if is_sensitive_name(k) else v) for k, v in pairs], safe="<>"
            )
    if (netloc, query) != (parts.netloc, parts.query):
        uri = urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    return scrub_text(uri)


def scrub_headers(
    headers: Mapping[str, Any], *, drop: Iterable[str] = (), volatile: Iterable[str] = ()
) -> dict[str, Any]:
    """Headers without the dropped and volatile ones, credential-named values redacted.

    Values keep their shape (a string, or a list of strings as vcrpy stores responses).
    """
    gone = {h.lower() for h in drop} | {h.lower() for h in volatile}
    out: dict[str, Any] = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower in gone:
            continue
        if is_sensitive_name(lower):
            value = [REDACTED] * len(value) if isinstance(value, list) else REDACTED
        elif isinstance(value, list):
            value = [scrub_text(v) if isinstance(v, str) else v for v in value]
        elif isinstance(value, str):
            value = scrub_text(value)
        out[name] = value
    return out


def scrub_request(request: Any) -> Any:
    """vcrpy ``before_record_request``: cookies dropped, credentials redacted in headers, URL, body.

    vcrpy also runs it on each request being matched, so a sent token matches a redacted one.
    """
    request.headers = scrub_headers(request.headers, drop=DROPPED_REQUEST_HEADERS)
    request.uri = scrub_uri(request.uri)
    body = request.body
    if isinstance(body, (bytes, bytearray, str)):
        raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        scrubbed = scrub_body(raw)
        if scrubbed != raw:
            request.body = scrubbed
    elif isinstance(body, (dict, list)):
        # aiohttp's json= (and data= dict): vcrpy keeps the object, and so does the cassette.
        cleaned = _scrub_json(body)
        if cleaned != body:
            request.body = cleaned
    return request


def scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    """vcrpy ``before_record_response``: set-cookie and volatile headers dropped, secrets redacted."""
    response["headers"] = scrub_headers(
        response.get("headers", {}),
        drop=DROPPED_RESPONSE_HEADERS,
        volatile=VOLATILE_RESPONSE_HEADERS,
    )
    body = response.get("body")
    if isinstance(body, dict) and isinstance(body.get("string"), (bytes, str)):
        raw = body["string"]
        data = raw.encode("utf-8") if isinstance(raw, str) else raw
        scrubbed = scrub_body(data)
        if scrubbed != data:
            body["string"] = scrubbed
            _fix_length(response["headers"], len(scrubbed))
    return response


def _fix_length(headers: dict[str, Any], length: int) -> None:
    for name in headers:
        if name.lower() == "content-length":
            headers[name] = [str(length)]
