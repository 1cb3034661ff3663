"""Keep secrets and noise out of cassettes: vcrpy ``before_record_*`` filters and a secret finder.

The same rules scrub what vcrpy records, what the record proxy writes, and what the checker
looks for, so a cassette that passes through any of them is clean by the checker's standard.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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

REDACTED = "<redacted>"

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
_SENSITIVE_NAME = re.compile(
    r"(?:^|[-_.\s])(?:authorization|cookie|api[-_]?key|apikey|access[-_]?key|private[-_]?key"
    r"|token|secret|password|passwd|session|csrf|xsrf|credentials?|signature|auth)(?:$|[-_.\s])",
    re.IGNORECASE,
)

SECRET_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("bearer token", re.compile(r"\bBearer\s+[A-Za-z0-9._~+/=-]{8,}")),
    ("basic credentials", re.compile(r"\bBasic\s+[A-Za-z0-9+/]{8,}={0,2}")),
    ("API key (sk-)", re.compile(r"\bsk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_-]{20,}")),
    ("GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})")),
    ("AWS access key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    (
        "JSON web token",
        re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    ),
    ("private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    (
        "credential assignment",
        re.compile(
            r"(?i)\b(?:api[_-]?key|apikey|access[_-]?token|auth[_-]?token|refresh[_-]?token"
            r"|client[_-]?secret|secret[_-]?key|password|passwd)\b"
            r"[\"']?\s*[:=]\s*[\"']?(?!<redacted>)([^\s\"'&,;}<]{6,})"
        ),
    ),
    (
        "signed URL parameter",
        re.compile(
            r"(?i)[?&](?:x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature"
            r"|signature|sig|token|access_token|api_key|apikey)=(?!%3Credacted%3E|<redacted>)"
            r"([^&#\s\"'<]{6,})"
        ),
    ),
)


@dataclass(frozen=True)
class SecretFinding:
    """Something that looks like a secret: which rule saw it, and a shortened excerpt."""

    kind: str
    excerpt: str


def is_sensitive_name(name: str) -> bool:
    """True for a header, field or parameter name whose value is likely a credential."""
    return _SENSITIVE_NAME.search(name) is not None


def _hide(match: re.Match[str]) -> str:
    if match.lastindex:
        start, end = match.span(match.lastindex)
        offset = match.start()
        text = match.group(0)
        return text[: start - offset] + REDACTED + text[end - offset :]
    head = match.group(0).split(None, 1)[0] if " " in match.group(0) else ""
    return f"{head} {REDACTED}" if head in ("Bearer", "Basic") else REDACTED


def scrub_text(text: str) -> str:
    """``text`` with everything a secret pattern matches replaced by ``<redacted>``."""
    for _kind, pattern in SECRET_PATTERNS:
        text = pattern.sub(_hide, text)
    return text


def find_secrets(text: str) -> list[SecretFinding]:
    """What in ``text`` looks like a secret (already-redacted values are not reported)."""
    found = []
    for kind, pattern in SECRET_PATTERNS:
        for match in pattern.finditer(text):
            value = match.group(0)
            shown = value[:12] + "…" if len(value) > 16 else value
            found.append(SecretFinding(kind, shown))
    return found


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

    JSON objects lose the values of credential-named keys; any text loses what a secret pattern
    matches. Binary bodies are left alone.
    """
    if not body:
        return body
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return body
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if isinstance(value, (dict, list)):
        cleaned = _scrub_json(value)
        if cleaned != value:
            return json.dumps(cleaned, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    scrubbed = scrub_text(text)
    return body if scrubbed == text else scrubbed.encode("utf-8")


def scrub_uri(uri: str) -> str:
    """A URL with credential-named query parameters (and user:password@) redacted."""
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
    if (netloc, query) == (parts.netloc, parts.query):
        return uri
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


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
