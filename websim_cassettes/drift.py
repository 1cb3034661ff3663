"""What changed between two recordings of the same scenarios: statuses, JSON fields, types, headers.

Pure: it compares loaded cassettes (``files.CassetteFile``) and returns drift items; the
re-recorder prints them. Values are not compared (answers differ every time); shapes are.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from websim_core.sse import DONE, SSEDecoder

from .files import CassetteFile, Interaction, RecordedResponse
from .match import parse_body
from .scrub import VOLATILE_RESPONSE_HEADERS

__all__ = [
    "IGNORED_HEADERS",
    "CassetteDrift",
    "DriftItem",
    "body_shape",
    "compare_cassettes",
    "format_report",
    "json_shape",
]

# Headers whose appearance or disappearance says nothing about the API's contract.
IGNORED_HEADERS = VOLATILE_RESPONSE_HEADERS | {
    "content-length",
    "server",
    "via",
    "vary",
    "etag",
    "last-modified",
    "cache-control",
    "pragma",
    "content-encoding",
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-expose-headers",
    "strict-transport-security",
    "x-content-type-options",
    "x-frame-options",
    "referrer-policy",
    "content-security-policy",
    "permissions-policy",
}


@dataclass(frozen=True)
class DriftItem:
    """One difference: in which interaction (None: the cassette), of which kind, described."""

    interaction: int | None
    kind: str  # status, field-added, field-removed, type-changed, header, body, count
    message: str

    def line(self) -> str:
        where = "" if self.interaction is None else f"#{self.interaction} "
        return f"{where}{self.message}"


@dataclass(frozen=True)
class CassetteDrift:
    """The drift of one cassette; ``note`` explains a cassette that could not be compared."""

    name: str
    items: tuple[DriftItem, ...] = ()
    note: str | None = None

    @property
    def drifted(self) -> bool:
        return bool(self.items)


def _type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _merge(shape: dict[str, str], path: str, kind: str) -> None:
    """Add a field's type; one seen with another type before becomes ``mixed``."""
    shape[path] = kind if shape.get(path) in (None, kind) else "mixed"


def json_shape(value: Any, prefix: str = "") -> dict[str, str]:
    """Every field path of a JSON value with its type; list items merge under ``path[]``."""
    shape: dict[str, str] = {prefix or "$": _type(value)}
    if isinstance(value, dict):
        for key, item in value.items():
            shape.update(json_shape(item, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list):
        for item in value:
            for path, kind in json_shape(item, f"{prefix}[]").items():
                _merge(shape, path, kind)
    return shape


def body_shape(response: RecordedResponse) -> tuple[str, dict[str, str]]:
    """The kind of a response body (``json``, ``event-stream``, ``text``, ``empty``) and its fields.

    An event stream's fields are those of its events' JSON payloads, under ``events[]``.
    """
    if response.media_type == "text/event-stream":
        decoder = SSEDecoder()
        try:
            events = decoder.feed(response.body)
        except Exception:
            return "event-stream", {}
        shape: dict[str, str] = {}
        for event in events:
            if event.data == DONE:
                shape["events[DONE]"] = "marker"
                continue
            _, ok, data = parse_body(event.data)
            for path, kind in json_shape(data if ok else event.data, "events[]").items():
                _merge(shape, path, kind)
        return "event-stream", shape
    if not response.body.strip():
        return "empty", {}
    _, ok, data = parse_body(response.body)
    if ok:
        return "json", json_shape(data)
    return "text", {}


def _fields(
    where: str, old: Mapping[str, str], new: Mapping[str, str], index: int
) -> Iterator[DriftItem]:
    for path in sorted(set(new) - set(old)):
        yield DriftItem(index, "field-added", f"{where} field added: {path} ({new[path]})")
    for path in sorted(set(old) - set(new)):
        yield DriftItem(index, "field-removed", f"{where} field removed: {path} ({old[path]})")
    for path in sorted(set(old) & set(new)):
        if old[path] != new[path]:
            yield DriftItem(
                index, "type-changed", f"{where} field {path}: {old[path]} → {new[path]}"
            )


def _header_names(response: RecordedResponse) -> set[str]:
    return {name.lower() for name in response.headers} - IGNORED_HEADERS


def _compare(index: int, old: Interaction, new: Interaction) -> Iterator[DriftItem]:
    if (old.request.method, old.request.path) != (new.request.method, new.request.path):
        yield DriftItem(
            index,
            "request",
            f"request {old.request.method} {old.request.path} → {new.request.method} {new.request.path}",
        )
    _, old_ok, old_req = parse_body(old.request.body)
    _, new_ok, new_req = parse_body(new.request.body)
    if old_ok and new_ok:
        yield from _fields("request", json_shape(old_req), json_shape(new_req), index)
    a, b = old.response, new.response
    if a.status != b.status:
        yield DriftItem(index, "status", f"status {a.status} → {b.status}")
    if a.media_type != b.media_type:
        yield DriftItem(
            index, "header", f"content-type {a.media_type or '(none)'} → {b.media_type or '(none)'}"
        )
    old_names, new_names = _header_names(a), _header_names(b)
    for name in sorted(new_names - old_names):
        yield DriftItem(index, "header", f"header added: {name}")
    for name in sorted(old_names - new_names):
        yield DriftItem(index, "header", f"header removed: {name}")
    old_kind, old_shape = body_shape(a)
    new_kind, new_shape = body_shape(b)
    if old_kind != new_kind:
        yield DriftItem(index, "body", f"response body {old_kind} → {new_kind}")
    else:
        yield from _fields("response", old_shape, new_shape, index)


def compare_cassettes(
    name: str, old: CassetteFile | None, new: CassetteFile | None
) -> CassetteDrift:
    """The drift from ``old`` (committed) to ``new`` (just recorded); either may be missing."""
    if old is None and new is None:
        return CassetteDrift(name, note="neither committed nor recorded")
    if old is None:
        return CassetteDrift(name, note="new cassette (nothing committed to compare with)")
    if new is None:
        return CassetteDrift(name, note="not recorded this time")
    items: list[DriftItem] = []
    if len(old.interactions) != len(new.interactions):
        items.append(
            DriftItem(
                None,
                "count",
                f"{len(old.interactions)} interactions → {len(new.interactions)}",
            )
        )
    for index, (a, b) in enumerate(zip(old.interactions, new.interactions, strict=False)):
        items.extend(_compare(index, a, b))
    for index in range(len(new.interactions), len(old.interactions)):
        gone = old.interactions[index]
        items.append(
            DriftItem(
                index,
                "count",
                f"interaction gone: {gone.request.method} {gone.request.path} → {gone.response.status}",
            )
        )
    for index in range(len(old.interactions), len(new.interactions)):
        extra = new.interactions[index]
        items.append(
            DriftItem(
                index,
                "count",
                f"interaction added: {extra.request.method} {extra.request.path} → {extra.response.status}",
            )
        )
    return CassetteDrift(name, tuple(items))


def format_report(drifts: Iterable[CassetteDrift], *, title: str = "Drift report") -> str:
    """The report as text: one block per cassette, then a one-line summary."""
    drifts = list(drifts)
    lines = [f"{title} (recorded now vs committed):"]
    for drift in drifts:
        if drift.note is not None and not drift.items:
            lines.append(f"  {drift.name}: {drift.note}")
        elif not drift.items:
            lines.append(f"  {drift.name}: no drift")
        else:
            lines.append(f"  {drift.name}: {len(drift.items)} change(s)")
            lines.extend(f"    {item.line()}" for item in drift.items)
    changed = sum(1 for d in drifts if d.drifted)
    noted = sum(1 for d in drifts if d.note is not None)
    summary = f"{changed} of {len(drifts)} cassette(s) drifted"
    if noted:
        summary += f", {noted} not compared"
    lines.append(summary + ".")
    return "\n".join(lines)
