"""Check cassettes against the protocol page: paths, JSON shapes, project IDs, statuses, secrets.

``check_file`` and ``check_directory`` return findings; ``Finding.line()`` is the
``file:interaction: problem`` form the command prints. Pure apart from reading the files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websim_core.errors import InvalidRequestError, ResponseFormatError, is_cloudflare_page, is_html
from websim_core.protocol import validate_chat_body, validate_image_body
from websim_core.routing import Endpoint, endpoint_of_path
from websim_core.sse import DONE, SSEDecoder

from .files import (
    PROVENANCE_KEY,
    CassetteFile,
    CassetteLoadError,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    cassette_paths,
    load_cassette,
)
from .match import ParsedBody, parse_body, request_id_problem
from .scrub import DROPPED_REQUEST_HEADERS, DROPPED_RESPONSE_HEADERS
from .secrets import REDACTED, find_secrets, is_sensitive_name, stream_text

__all__ = ["DOCUMENTED_STATUSES", "Finding", "check_cassette", "check_directory", "check_file"]

# The statuses the protocol page documents; any other 4xx/5xx is allowed as "other".
DOCUMENTED_STATUSES = frozenset({200, 400, 401, 402, 403, 404, 429, 500, 502, 503, 504, 520})
_PROVENANCE_FIELDS = ("recorded_against", "base_url", "recorded_at", "websim_harness_version")
_RECORDED_AGAINST = ("mock", "live", "upstream")


@dataclass(frozen=True)
class Finding:
    """One problem in one interaction (``interaction`` None: the file as a whole)."""

    file: str
    interaction: int | None
    problem: str

    def line(self) -> str:
        where = "-" if self.interaction is None else str(self.interaction)
        return f"{self.file}:{where}: {self.problem}"


def _secrets(where: str, text: str) -> Iterator[str]:
    for found in find_secrets(text):
        yield f"{where} holds what looks like a secret ({found.kind}: {found.excerpt!r})"


def _text(body: bytes) -> str | None:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _request_problems(
    request: RecordedRequest, body: ParsedBody, *, strict_ids: bool
) -> Iterator[str]:
    if request.method.upper() != "POST":
        yield f"request method is {request.method}, the API only takes POST"
    endpoint = endpoint_of_path(request.path)
    if endpoint is None:
        yield f"request path {request.path!r} is not a Websim inference endpoint"
        return
    if not body.is_json:
        yield f"{endpoint.value} request body is not JSON"
        return
    problem = request_id_problem(body, request.path, strict_ids=strict_ids)
    if problem is not None:
        yield f"{endpoint.value} request {problem}"


def _request_shape(request: RecordedRequest, body: ParsedBody) -> str | None:
    if not body.is_json:
        return None
    # Lenient IDs here whatever the mode: _request_problems judges the ID, once.
    try:
        if endpoint_of_path(request.path) is Endpoint.IMAGE:
            validate_image_body(body.value)
        else:
            validate_chat_body(body.value)
    except InvalidRequestError as exc:
        return str(exc)
    return None


def _sse_problems(body: bytes) -> Iterator[str]:
    decoder = SSEDecoder()
    try:
        events = decoder.feed(body) + decoder.close()
    except ResponseFormatError as exc:
        yield f"event stream: {exc}"
        return
    if not events:
        yield "event stream has no events"
        return
    for i, event in enumerate(events):
        if event.data == DONE:
            if i != len(events) - 1:
                yield f"event stream has events after [DONE] (event {i})"
            return
        _, ok, data = parse_body(event.data)
        if not ok or not isinstance(data, dict) or not isinstance(data.get("content"), str):
            yield f'event {i} is not {{"content": <string>}}: {event.data[:60]!r}'
    yield "event stream does not end with data: [DONE]"


def _success_problems(
    endpoint: Endpoint, request_data: Any, response: RecordedResponse
) -> Iterator[str]:
    body = response.body
    text = _text(body)
    if text is None:
        yield "200 body is not UTF-8 text"
        return
    _, ok, data = parse_body(body)
    if endpoint is Endpoint.CHAT:
        streamed = isinstance(request_data, dict) and request_data.get("stream") is True
        if response.media_type == "text/event-stream":
            if not streamed:
                yield "chat answered with an event stream to a request without stream: true"
            yield from _sse_problems(body)
            return
        if not text.strip():
            yield "chat 200 has an empty body"
        elif ok:
            if not isinstance(data, dict):
                yield f"chat 200 body is JSON {type(data).__name__}, not an object"
            elif not isinstance(data.get("content"), str):
                got = "missing" if "content" not in data else type(data["content"]).__name__
                yield f"chat 200 body has no string 'content' ({got})"
        elif response.media_type == "application/json":
            yield "chat 200 says application/json but the body is not JSON"
        elif is_html(text, response.media_type):
            yield "chat 200 body is an HTML page, not an answer"
        return
    # image
    if not ok:
        yield "image 200 body is not JSON"
    elif not isinstance(data, dict):
        yield f"image 200 body is JSON {type(data).__name__}, not an object"
    elif "url" in data:
        url = data["url"]
        if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
            yield f"image 200 'url' is not an http(s) URL: {json.dumps(url)[:60]}"


def _error_problems(response: RecordedResponse) -> Iterator[str]:
    status = response.status
    text = _text(response.body) or ""
    if not text.strip():
        yield f"{status} response has an empty body"
    if status == 429 and "rate limit" not in text.lower():
        yield "429 body does not mention 'Rate limit' as the API's does"
    if status == 403 and is_html(text, response.media_type) and not is_cloudflare_page(text):
        yield "403 HTML page without Cloudflare markers"
    if (
        response.media_type == "application/json"
        and text.strip()
        and not parse_body(response.body).is_json
    ):
        yield f"{status} says application/json but the body is not JSON"


def _header_problems(where: str, headers: dict[str, Any], dropped: frozenset[str]) -> Iterator[str]:
    for name, value in headers.items():
        values = value if isinstance(value, list) else [value]
        lower = name.lower()
        if lower in dropped:
            yield f"{where} header {name!r} is recorded (it must be dropped)"
        elif is_sensitive_name(lower) and any(v != REDACTED for v in values):
            yield f"{where} header {name!r} is not redacted"
        else:
            for v in values:
                yield from _secrets(f"{where} header {name!r}", str(v))


def _interaction_problems(item: Interaction, *, strict_ids: bool) -> Iterator[str]:
    request, response = item.request, item.response
    body = parse_body(request.body)
    yield from _request_problems(request, body, strict_ids=strict_ids)
    yield from _header_problems("request", dict(request.headers), DROPPED_REQUEST_HEADERS)
    yield from _secrets("request URL", request.uri)
    yield from _secrets("request body", request.body.decode("utf-8", "replace"))
    yield from _header_problems("response", dict(response.headers), DROPPED_RESPONSE_HEADERS)
    yield from _secrets("response body", response.body.decode("utf-8", "replace"))
    # A secret cut across stream events is read whole by whoever reads the answer.
    joined = stream_text(response.body) if response.media_type == "text/event-stream" else None
    if joined is not None:
        yield from _secrets("response stream's joined text", joined)

    status = response.status
    if not 100 <= status <= 599:
        yield f"status {status} is not an HTTP status"
        return
    if status not in DOCUMENTED_STATUSES and not 400 <= status <= 599:
        yield f"status {status} is not one the protocol documents"
        return
    endpoint = endpoint_of_path(request.path)
    shape = _request_shape(request, body) if endpoint else None
    if 200 <= status < 300:
        if shape is not None:
            yield f"request is invalid ({shape}) yet got {status}"
        if endpoint is not None:
            yield from _success_problems(endpoint, body.value, response)
    else:
        yield from _error_problems(response)


def _provenance_problems(cassette: CassetteFile, *, required: bool) -> Iterator[str]:
    # A plain vcrpy / pytest-recording cassette has no block and is judged on its interactions
    # alone; a block present claims the harness recorded it, so it must say so in full.
    block = cassette.provenance
    if not block:
        if required:
            yield (
                f"no provenance (top-level {PROVENANCE_KEY}: where, when and with what it was "
                "recorded)"
            )
        return
    for key in _PROVENANCE_FIELDS:
        if not block.get(key):
            yield f"provenance lacks {key!r}"
    if block.get("recorded_against") not in _RECORDED_AGAINST:
        yield f"provenance recorded_against must be one of {', '.join(_RECORDED_AGAINST)}"
    for key, value in block.items():
        yield from _secrets(f"provenance {key!r}", str(value))


def check_cassette(
    cassette: CassetteFile | CassetteLoadError,
    name: str | None = None,
    *,
    strict_ids: bool = False,
    require_provenance: bool = False,
) -> list[Finding]:
    """Findings for what loading a cassette gave: its problems, or the load error as one finding.

    ``name`` labels the findings (default: the cassette's path; a load error knows none).
    Project IDs are judged as the mock judges them: leniently, or canonically with
    ``strict_ids`` (``websim_cassettes.match.request_id_problem``). A ``websim_harness``
    provenance block, when present, must be complete; ``require_provenance`` also makes its
    absence a finding (the harness's own cassettes; a plain vcrpy cassette has none).
    """
    if isinstance(cassette, CassetteLoadError):
        return [Finding(name or "<unnamed>", None, str(cassette))]
    label = name or str(cassette.path)
    problems = _provenance_problems(cassette, required=require_provenance)
    findings = [Finding(label, None, p) for p in problems]
    if not cassette.interactions:
        findings.append(Finding(label, None, "cassette has no interactions"))
    for index, item in enumerate(cassette.interactions):
        problems = _interaction_problems(item, strict_ids=strict_ids)
        findings.extend(Finding(label, index, p) for p in problems)
    return findings


def check_file(
    path: str | os.PathLike[str],
    name: str | None = None,
    *,
    strict_ids: bool = False,
    require_provenance: bool = False,
) -> list[Finding]:
    """Load one file with vcrpy and check it (options as ``check_cassette``)."""
    label = name or os.fspath(path)
    try:
        loaded: CassetteFile | CassetteLoadError = load_cassette(path)
    except CassetteLoadError as exc:
        loaded = exc
    return check_cassette(
        loaded, label, strict_ids=strict_ids, require_provenance=require_provenance
    )


def check_directory(
    directory: str | os.PathLike[str],
    *,
    strict_ids: bool = False,
    require_provenance: bool = False,
) -> list[Finding]:
    """Check every cassette under a directory, subfolders included (pytest-recording's
    ``<module>/<test>.yaml``); an empty or missing directory is itself a finding."""
    root = Path(directory)
    if not root.is_dir():
        return [Finding(os.fspath(root), None, "not a directory")]
    files = cassette_paths(root)
    if not files:
        return [Finding(os.fspath(root), None, "no cassettes (*.yaml, *.yml) here or below")]
    findings: list[Finding] = []
    for path in files:
        findings.extend(
            check_file(path, strict_ids=strict_ids, require_provenance=require_provenance)
        )
    return findings
