"""The drift report: statuses, JSON fields added or removed, type changes and headers that matter
are named per cassette and interaction; values that change every time are not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given
from strategies import json_values

from websim_cassettes import (
    CassetteFile,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    compare_cassettes,
    format_report,
    json_shape,
)
from websim_cassettes.drift import CassetteDrift
from websim_core.routing import CHAT_PATH
from websim_core.sse import DONE_EVENT, encode_delta

REQUEST = RecordedRequest(
    "POST",
    "https://websim.ai" + CHAT_PATH,
    json.dumps(
        {"project_id": "ke3_xh5gai3gjkmruomu", "messages": [{"role": "user", "content": "Hi"}]}
    ).encode(),
)


def _response(body: Any, status: int = 200, **headers: str) -> RecordedResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    all_headers = {
        "Content-Type": ["application/json"],
        "Date": ["today"],
        "Content-Length": [str(len(raw))],
    }
    all_headers.update({k.replace("_", "-"): [v] for k, v in headers.items()})
    return RecordedResponse(status, "", all_headers, raw)


def _cassette(*responses: RecordedResponse) -> CassetteFile:
    return CassetteFile(Path("x.yaml"), [Interaction(REQUEST, r) for r in responses])


def _lines(old: CassetteFile | None, new: CassetteFile | None) -> list[str]:
    return [item.line() for item in compare_cassettes("x.yaml", old, new).items]


def test_same_shape_different_values_is_no_drift() -> None:
    old = _cassette(_response({"content": "Hello"}, Date="Mon"))
    new = _cassette(_response({"content": "A much longer answer"}, Date="Tue"))
    drift = compare_cassettes("x.yaml", old, new)
    assert not drift.drifted
    assert format_report([drift]).splitlines() == [
        "Drift report (recorded now vs committed):",
        "  x.yaml: no drift",
        "0 of 1 cassette(s) drifted.",
    ]


def test_fields_added_removed_and_retyped() -> None:
    old = _cassette(_response({"content": "Hi", "id": 7, "meta": {"a": 1}}))
    new = _cassette(_response({"content": None, "model": "m", "meta": {"a": "1", "b": [1]}}))
    assert _lines(old, new) == [
        "#0 response field added: meta.b (array)",
        "#0 response field added: meta.b[] (number)",
        "#0 response field added: model (string)",
        "#0 response field removed: id (number)",
        "#0 response field content: string → null",
        "#0 response field meta.a: number → string",
    ]


def test_status_content_type_and_headers_that_matter() -> None:
    old = _cassette(_response({"content": "Hi"}, Retry_After="1", X_Old="1"))
    new = _cassette(
        _response(
            b"<html>Just a moment...</html>", 403, Content_Type="text/html", Server="cloudflare"
        )
    )
    assert _lines(old, new) == [
        "#0 status 200 → 403",
        "#0 content-type application/json → text/html",
        "#0 header removed: retry-after",
        "#0 header removed: x-old",
        "#0 response body json → text",
    ]


def test_interactions_added_and_gone() -> None:
    one = _cassette(_response({"content": "Hi"}))
    three = _cassette(
        _response({"content": "Hi"}, 429),
        _response({"content": "Hi"}),
        _response({"content": "Hi"}),
    )
    assert _lines(one, three) == [
        "1 interactions → 3",
        "#0 status 200 → 429",
        f"#1 interaction added: POST {CHAT_PATH} → 200",
        f"#2 interaction added: POST {CHAT_PATH} → 200",
    ]
    assert _lines(three, one)[-1] == f"#2 interaction gone: POST {CHAT_PATH} → 200"


def test_event_stream_fields_are_compared_per_event() -> None:
    old_body = encode_delta("a") + encode_delta("b") + DONE_EVENT
    new_body = b'data: {"content": "a", "index": 0}\n\n' + DONE_EVENT
    old = _cassette(_response(old_body, Content_Type="text/event-stream"))
    new = _cassette(_response(new_body, Content_Type="text/event-stream"))
    assert _lines(old, new) == ["#0 response field added: events[].index (number)"]


def test_request_shape_changes_are_reported() -> None:
    new_request = RecordedRequest(
        REQUEST.method, REQUEST.uri, REQUEST.body[:-1] + b',"stream":true}'
    )
    old = _cassette(_response({"content": "Hi"}))
    new = CassetteFile(Path("x.yaml"), [Interaction(new_request, _response({"content": "Hi"}))])
    assert _lines(old, new) == ["#0 request field added: stream (boolean)"]


def test_missing_sides_are_notes_not_drift() -> None:
    report = format_report(
        [
            compare_cassettes("new.yaml", None, _cassette(_response({}))),
            CassetteDrift("chat_401.yaml", note="skipped: cannot be arranged"),
            compare_cassettes("x.yaml", _cassette(_response({"a": 1})), _cassette(_response({}))),
        ]
    )
    assert report.splitlines() == [
        "Drift report (recorded now vs committed):",
        "  new.yaml: new cassette (nothing committed to compare with)",
        "  chat_401.yaml: skipped: cannot be arranged",
        "  x.yaml: 1 change(s)",
        "    #0 response field removed: a (number)",
        "1 of 3 cassette(s) drifted, 2 not compared.",
    ]


@given(json_values)
def test_a_shape_compared_with_itself_has_no_drift(value: Any) -> None:
    shape = json_shape(value)
    assert shape["$"] in ("null", "boolean", "number", "string", "array", "object")
    cassette = _cassette(_response(value))
    assert _lines(cassette, cassette) == []
