"""Request matching for Websim cassettes: method, path, and the JSON body with ``project_id`` set aside.

Each request carries a fresh random project ID, so bodies are compared without it; the recorded
and the sent ID must still each be one the mock would accept on that endpoint (same modes).
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple, Protocol

from websim_core.ids import project_id_problem
from websim_core.routing import endpoint_of_path

from .bodies import body_bytes

__all__ = [
    "MATCHER_NAME",
    "ParsedBody",
    "body_differences",
    "normalized_body",
    "parse_body",
    "request_id_problem",
    "websim_body",
    "websim_body_strict",
]

MATCHER_NAME = "websim_body"
_MAX_SHOWN = 60


class _RequestLike(Protocol):
    @property
    def body(self) -> Any: ...

    @property
    def path(self) -> str: ...


class ParsedBody(NamedTuple):
    """A body read once: its bytes, whether they are JSON, and the JSON value (None if not)."""

    raw: bytes
    is_json: bool
    value: Any


def parse_body(body: object) -> ParsedBody:
    """Any request or response body vcrpy hands over, read as JSON whatever its type says.

    vcrpy's aiohttp stub passes ``json=`` and ``data=`` through as given: a dict, a list or a
    number stands for itself (tuples become lists, as on the wire); bytes, text, files, aiohttp
    payloads and chunk lists are read and parsed. Parse once and hand the result to
    ``normalized_body``, ``body_differences`` and ``request_id_problem``: the replay index looks
    up every request, so it never parses twice.
    """
    raw = body_bytes(body)
    if raw.strip():
        try:
            return ParsedBody(raw, True, json.loads(raw.decode("utf-8")))
        except (UnicodeDecodeError, ValueError):
            pass
    return ParsedBody(raw, False, None)


def _without_id(value: object) -> object:
    if isinstance(value, dict) and "project_id" in value:
        return {k: v for k, v in value.items() if k != "project_id"}
    return value


def normalized_body(body: ParsedBody) -> str:
    """A stable text key for a request body: canonical JSON without ``project_id``, or the raw text.

    Two bodies that differ only in their project ID, key order or whitespace get the same key.
    """
    if not body.is_json:
        return "raw:" + body.raw.decode("utf-8", "backslashreplace")
    canonical = json.dumps(
        _without_id(body.value), sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    return "json:" + canonical


def request_id_problem(body: ParsedBody, path: str, *, strict_ids: bool = False) -> str | None:
    """Why the body's ``project_id`` is not valid for the endpoint of ``path``, or None if it is.

    The mock's rule (``websim_core.ids.project_id_problem``) in the mock's mode: lenient by
    default, as ``websim-mock`` is, so recordings of any client replay (gpt4free's legacy 3_15
    chat IDs included); ``strict_ids=True`` as ``websim-mock --strict-ids``: only the canonical
    form of the endpoint. A body that is not a JSON object, or a path that is not exactly an
    inference endpoint (``websim_core.routing.endpoint_of_path``), is not judged here.
    """
    endpoint = endpoint_of_path(path)
    value = body.value
    if endpoint is None or not isinstance(value, dict):
        return None
    if "project_id" not in value:
        return "has no project_id"
    project_id = value["project_id"]
    problem = project_id_problem(endpoint, project_id, strict=strict_ids)
    if problem is None:
        return None
    return f"project_id {project_id!r} is not a valid {endpoint.value} ID ({problem})"


def _short(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def _diff(sent: object, recorded: object, where: str, out: list[str]) -> None:
    if isinstance(sent, dict) and isinstance(recorded, dict):
        for key in sorted(set(sent) | set(recorded)):
            at = f"{where}.{key}" if where else str(key)
            if key not in recorded:
                out.append(f"{at}: only in this request ({_short(sent[key])})")
            elif key not in sent:
                out.append(f"{at}: only in the recorded one ({_short(recorded[key])})")
            else:
                _diff(sent[key], recorded[key], at, out)
        return
    if isinstance(sent, list) and isinstance(recorded, list):
        if len(sent) != len(recorded):
            out.append(f"{where or 'body'}: {len(sent)} items here, {len(recorded)} recorded")
        for i, (a, b) in enumerate(zip(sent, recorded, strict=False)):
            _diff(a, b, f"{where}[{i}]", out)
        return
    if sent != recorded or type(sent) is not type(recorded):
        out.append(f"{where or 'body'}: {_short(sent)} here, {_short(recorded)} recorded")


def _kind(body: ParsedBody) -> str:
    return "JSON" if body.is_json else "not JSON"


def body_differences(sent: ParsedBody, recorded: ParsedBody) -> list[str]:
    """How two request bodies differ, field by field, ``project_id`` aside; empty when they match."""
    if not (sent.is_json and recorded.is_json):
        if normalized_body(sent) == normalized_body(recorded):
            return []
        text_a = sent.raw.decode("utf-8", "replace")
        text_b = recorded.raw.decode("utf-8", "replace")
        return [
            f"body: {_kind(sent)} {_short(text_a)} here, {_kind(recorded)} {_short(text_b)} recorded"
        ]
    out: list[str] = []
    _diff(_without_id(sent.value), _without_id(recorded.value), "", out)
    return out


def websim_body(r1: _RequestLike, r2: _RequestLike) -> None:
    """vcrpy matcher (``r1`` the request being made, ``r2`` the recorded one); raises AssertionError.

    Project IDs are judged as the mock does by default (lenient). Register it with
    ``vcr.register_matcher("websim_body", websim_body)``; ``config.make_vcr`` and the pytest
    plugin do that for you.
    """
    _match(r1, r2, strict_ids=False)


def websim_body_strict(r1: _RequestLike, r2: _RequestLike) -> None:
    """``websim_body`` with project IDs judged as ``websim-mock --strict-ids`` does.

    ``make_vcr(strict_ids=True)`` registers it under the same name, ``websim_body``.
    """
    _match(r1, r2, strict_ids=True)


def _match(r1: _RequestLike, r2: _RequestLike, *, strict_ids: bool) -> None:
    sent, recorded = parse_body(r1.body), parse_body(r2.body)
    problems = []
    for side, request, body in (("this request", r1, sent), ("the recorded request", r2, recorded)):
        problem = request_id_problem(body, request.path, strict_ids=strict_ids)
        if problem is not None:
            problems.append(f"{side}: {problem}")
    problems.extend(body_differences(sent, recorded))
    if problems:
        raise AssertionError("; ".join(problems))
