"""Answers that are a status, with no I/O: the mock's own JSON errors, the error pages the live
service is known or assumed to send (Cloudflare's HTML among them), and a scripted status
step's answer.
"""

from __future__ import annotations

import http
import json
from dataclasses import dataclass

from websim_core.errors import is_html

from .replies import printable
from .steps import StatusStep

__all__ = [
    "BUILTIN_STATUSES",
    "HTML_TYPE",
    "JSON_TYPE",
    "TEXT_TYPE",
    "Answer",
    "builtin_answer",
    "error_body",
    "status_answer",
]

JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"
HTML_TYPE = "text/html; charset=UTF-8"


@dataclass(frozen=True)
class Answer:
    """A complete HTTP answer: status, body bytes, content type and extra headers."""

    status: int
    body: bytes
    content_type: str | None
    headers: tuple[tuple[str, str], ...] = ()


_CF_CHALLENGE = """<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>\
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">\
<meta http-equiv="X-UA-Compatible" content="IE=Edge">\
<meta name="robots" content="noindex,nofollow">\
<meta name="viewport" content="width=device-width,initial-scale=1"></head>\
<body class="no-js"><div class="main-wrapper" role="main"><div class="main-content">\
<h1 class="zone-name-title h1">websim.ai</h1>\
<h2 id="challenge-running" class="h2">Verifying you are human. This may take a few seconds.</h2>\
<div id="challenge-body-text" class="core-msg spacer">websim.ai needs to review the security \
of your connection before proceeding.</div></div></div>\
<script>(function(){window._cf_chl_opt={cvId: '3',cZone: "websim.ai",cType: 'managed',\
cRay: '8f0a1b2c3d4e5f60',cH: 'websim-mock'};var a=document.createElement('script');\
a.src='/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1?ray=8f0a1b2c3d4e5f60';\
document.getElementsByTagName('head')[0].appendChild(a);}());</script></body></html>"""

_CF_ERROR = """<!DOCTYPE html><html lang="en-US"><head>\
<title>websim.ai | {status}: {title}</title><meta charset="UTF-8" />\
<meta name="robots" content="noindex, nofollow" /></head><body><div id="cf-wrapper">\
<div id="cf-error-details" class="p-0"><header class="mx-auto pt-10 lg:pt-6 lg:px-8 w-240 \
lg:w-full mb-8"><h1 class="inline-block sm:block sm:mb-2 font-light text-60 lg:text-4xl \
text-black-dark leading-tight mr-2"><span class="inline-block">{title}</span>\
<span class="code-label">Error code {status}</span></h1></header>\
<div class="cf-error-footer"><span>Cloudflare Ray ID: <strong>8f0a1b2c3d4e5f60</strong></span>\
</div></div></div></body></html>"""

_CF_HEADERS = (("Server", "cloudflare"), ("CF-RAY", "8f0a1b2c3d4e5f60-SJC"))


def error_body(message: str, field: str | None = None) -> bytes:
    """The body of every error the mock itself raises: ``{"message", "field"}``.

    Flat on purpose: an ``"error"`` object makes gpt4free 0.5.4.0-0.6.2.8 crash with an
    AttributeError instead of raising its ResponseStatusError (docs/real-clients.md).
    """
    return json.dumps({"message": message, "field": field}).encode("utf-8")


def _json_error(status: int, message: str) -> Answer:
    return Answer(status, json.dumps({"message": message}).encode(), JSON_TYPE)


def _cf_error(status: int, title: str) -> Answer:
    page = _CF_ERROR.format(status=status, title=title)
    return Answer(status, page.encode("utf-8"), HTML_TYPE, _CF_HEADERS)


# What the live service is known (429, 403) or assumed (the rest) to send for each status.
_BUILTIN: dict[int, Answer] = {
    401: _json_error(401, "Authentication required"),
    402: _json_error(402, "Payment required: your quota is used up"),
    403: Answer(
        403,
        _CF_CHALLENGE.encode("utf-8"),
        HTML_TYPE,
        (*_CF_HEADERS, ("cf-mitigated", "challenge"), ("Cache-Control", "no-store")),
    ),
    # JSON, not the service's plain text: gpt4free 0.4.9.7-0.4.9.8 crash (NameError) on a
    # text error body. The text form stays one scripted step away (docs/real-clients.md).
    429: _json_error(429, "Rate limit exceeded"),
    500: _json_error(500, "Internal server error"),
    502: _cf_error(502, "Bad gateway"),
    503: _json_error(503, "Service temporarily unavailable"),
    504: _cf_error(504, "Gateway time-out"),
    520: _cf_error(520, "Web server is returning an unknown error"),
}
BUILTIN_STATUSES: tuple[int, ...] = tuple(sorted(_BUILTIN))


def builtin_answer(status: int) -> Answer:
    """The built-in answer for a status: the table above, else a JSON error naming the reason."""
    known = _BUILTIN.get(status)
    if known is not None:
        return known
    if status < 400:
        return Answer(status, b"", None)
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return _json_error(status, phrase)


def status_answer(step: StatusStep) -> Answer:
    """The answer a status step scripts: its body (text, or JSON), or the built-in one."""
    if step.body is None:
        base = builtin_answer(step.status)
    elif isinstance(step.body, str):
        kind = HTML_TYPE if is_html(step.body) else TEXT_TYPE
        base = Answer(step.status, printable(step.body).encode("utf-8"), kind)
    else:
        body = json.dumps(step.body, ensure_ascii=True, allow_nan=False).encode("utf-8")
        base = Answer(step.status, body, JSON_TYPE)
    if not step.headers:
        return base
    content_type = base.content_type
    headers = list(base.headers)
    for name, value in step.headers:
        if name.lower() == "content-type":
            content_type = value
            continue
        headers = [(n, v) for n, v in headers if n.lower() != name.lower()]
        headers.append((name, value))
    return Answer(base.status, base.body, content_type, tuple(headers))
