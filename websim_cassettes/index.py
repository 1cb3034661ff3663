"""An index of recorded interactions for serving them: constant-time lookups, explained misses.

Key: method, path and the body without ``project_id`` (the matcher's rules). Identical requests
replay their recorded answers in order (429, 429, 200), as vcrpy does. Pure: no I/O but loading.
"""

from __future__ import annotations

import difflib
import itertools
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from websim_core.routing import endpoint_of_path

from .files import (
    CassetteFile,
    CassetteLoadError,
    Interaction,
    RecordedResponse,
    cassette_paths,
    load_cassette,
)
from .match import (
    ParsedBody,
    body_differences,
    normalized_body,
    parse_body,
    request_id_problem,
)

__all__ = ["Hit", "Miss", "Recorded", "Repeat", "ReplayIndex", "request_key", "unsendable"]

Repeat = Literal["none", "last", "cycle"]
Key = tuple[str, str, str]
_MAX_CLOSEST = 3
# A miss compares the request with at most this many recorded ones (chosen by the parts of the
# conversation they share, rarest first), so its cost does not grow with the cassettes.
_MAX_COMPARED = 64
# ... and looks at no more than this many entries to choose them.
_MAX_SCANNED = 4096
Feature = tuple[str, str]


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BREAKS = re.compile(r"[\r\n\0]")


def unsendable(response: RecordedResponse) -> str | None:
    """Why HTTP cannot carry this recorded response as it is, or None when it can."""
    if not 200 <= response.status <= 599:
        return f"has status {response.status}, which a final HTTP response cannot have"
    if _BREAKS.search(response.reason):
        return f"has a line break or NUL in its reason {response.reason[:40]!r}"
    for name, values in response.headers.items():
        if not _TOKEN.fullmatch(name):
            return f"has a header name that is not an HTTP token: {name[:40]!r}"
        for value in values:
            if _BREAKS.search(value):
                return f"has a line break or NUL in header {name!r}: {value[:40]!r}"
    return None


def _features(body: ParsedBody) -> set[Feature]:
    """What a near miss likely shares with the request: each message, each other field."""
    value = body.value
    if not body.is_json:
        return {("raw", body.raw[:64].decode("utf-8", "replace"))}
    if not isinstance(value, dict):
        return {("json", type(value).__name__)}
    out: set[Feature] = set()
    for name, item in value.items():
        if name == "project_id":
            continue
        items = item if name == "messages" and isinstance(item, list) else [item]
        for part in items:
            out.add((name, json.dumps(part, sort_keys=True, ensure_ascii=False)[:4096]))
    return out


def request_key(method: str, path: str, body: object) -> Key:
    """The index key of a request: upper-case method, path (no query), normalised body."""
    return _key(method, path, parse_body(body))


def _key(method: str, path: str, body: ParsedBody) -> Key:
    return method.upper(), path.split("?", 1)[0] or "/", normalized_body(body)


@dataclass(frozen=True)
class Recorded:
    """An interaction and where it was recorded: cassette file name and position in it."""

    cassette: str
    position: int
    interaction: Interaction


@dataclass(frozen=True)
class Hit:
    """The recorded answer to play."""

    recorded: Recorded


@dataclass(frozen=True)
class Miss:
    """No answer: why, the part of the request at fault (``field_name``: ``"project_id"``,
    ``"path"``, ``"body"``, or None when answers ran out), and the closest recorded requests."""

    reason: str
    closest: list[dict[str, Any]] = field(default_factory=list)
    field_name: str | None = None

    def to_json(self, method: str, path: str) -> dict[str, Any]:
        """The replay server's 404 body: the mock's flat error shape plus the near misses."""
        return {
            "message": f"no recorded interaction matches {method.upper()} {path}: {self.reason}",
            "field": self.field_name,
            "closest": self.closest,
        }


@dataclass
class _Sequence:
    items: list[Recorded] = field(default_factory=list)
    played: int = 0


class ReplayIndex:
    """Recorded interactions by key; ``lookup`` plays the next answer of a key's sequence.

    ``repeat`` says what happens once a sequence is played out: ``"none"`` (a miss, as vcrpy
    with ``allow_playback_repeats=False``), ``"last"`` (keep answering the last one, the default)
    or ``"cycle"`` (start again). ``strict_ids`` judges project IDs as ``websim-mock
    --strict-ids`` does (only canonical IDs); by default as the mock's default does.
    """

    def __init__(self, *, repeat: Repeat = "last", strict_ids: bool = False) -> None:
        if repeat not in ("none", "last", "cycle"):
            raise ValueError(f"repeat must be 'none', 'last' or 'cycle', not {repeat!r}")
        self.repeat: Repeat = repeat
        self.strict_ids = strict_ids
        self._all: dict[Key, _Sequence] = {}
        self._by_cassette: dict[tuple[str, Key], _Sequence] = {}
        # Per route, each key once with its first recording, in the order first seen.
        self._by_route: dict[tuple[str, str], dict[Key, Recorded]] = {}
        # Per route, feature -> the keys recorded with it (each key once, first seen first).
        self._by_feature: dict[tuple[str, str], dict[Feature, list[Key]]] = {}
        self.cassettes: list[str] = []
        self.rejected: list[str] = []
        self.size = 0

    # --- building -------------------------------------------------------------------------------

    def add_cassette(self, cassette: CassetteFile, name: str | None = None) -> None:
        """Index every interaction of a loaded cassette (invalid recorded IDs are set aside).

        Raises ``CassetteLoadError`` naming the file and interaction when a recorded response
        could not be sent (a status like 42, a line break in a header), before indexing any.
        """
        label = name or cassette.path.name
        for position, item in enumerate(cassette.interactions):
            problem = unsendable(item.response)
            if problem is not None:
                raise CassetteLoadError(
                    f"{os.fspath(cassette.path)}: interaction {position}: "
                    f"the recorded response {problem}"
                )
        self.cassettes.append(label)
        for position, item in enumerate(cassette.interactions):
            request = item.request
            body = parse_body(request.body)
            problem = request_id_problem(body, request.path, strict_ids=self.strict_ids)
            if problem is not None:
                self.rejected.append(f"{label}:{position}: recorded request {problem}")
                continue
            key = _key(request.method, request.path, body)
            recorded = Recorded(label, position, item)
            self._all.setdefault(key, _Sequence()).items.append(recorded)
            self._by_cassette.setdefault((label, key), _Sequence()).items.append(recorded)
            route = self._by_route.setdefault((key[0], key[1]), {})
            if key not in route:
                route[key] = recorded
                postings = self._by_feature.setdefault((key[0], key[1]), {})
                for feature in _features(body):
                    postings.setdefault(feature, []).append(key)
            self.size += 1

    @classmethod
    def from_directory(
        cls, directory: str | os.PathLike[str], *, repeat: Repeat = "last", strict_ids: bool = False
    ) -> ReplayIndex:
        """Load every cassette under a directory, subfolders included (pytest-recording's
        ``<module>/<test>.yaml``); each is named by its path from there (``test_app/test_a.yaml``,
        or ``chat_basic.yaml`` at the top). A file vcrpy cannot load raises CassetteLoadError."""
        index = cls(repeat=repeat, strict_ids=strict_ids)
        root = Path(directory)
        paths = cassette_paths(root)
        if not paths:
            raise CassetteLoadError(
                f"no cassettes (*.yaml, *.yml) in {os.fspath(directory)} or its subfolders"
            )
        for path in paths:
            try:
                loaded = load_cassette(path)
            except CassetteLoadError as exc:
                raise CassetteLoadError(f"{path}: {exc}") from None
            index.add_cassette(loaded, path.relative_to(root).as_posix())
        return index

    @property
    def routes(self) -> list[tuple[str, str]]:
        """The (method, path) pairs something was recorded for, sorted."""
        return sorted(self._by_route)

    # --- serving --------------------------------------------------------------------------------

    def reset(self) -> None:
        """Start every sequence from its first answer again."""
        for sequence in (*self._all.values(), *self._by_cassette.values()):
            sequence.played = 0

    def lookup(
        self, method: str, path: str, body: object, *, cassette: str | None = None
    ) -> Hit | Miss:
        """The next recorded answer for this request (only from ``cassette`` if given)."""
        path = path.split("?", 1)[0] or "/"
        parsed = parse_body(body)
        problem = request_id_problem(parsed, path, strict_ids=self.strict_ids)
        if problem is not None:
            closest = self._closest(method, path, parsed, cassette)
            return Miss(f"the request's {problem}", closest, "project_id")
        key = _key(method, path, parsed)
        sequence = (
            self._all.get(key) if cassette is None else self._by_cassette.get((cassette, key))
        )
        if sequence is None or not sequence.items:
            on_route = (method.upper(), path) in self._by_route
            closest = self._closest(method, path, parsed, cassette)
            return Miss("nothing recorded for it", closest, "body" if on_route else "path")
        count = len(sequence.items)
        played = sequence.played
        if played >= count:
            if self.repeat == "none":
                return Miss(
                    f"its {count} recorded answer(s) have all been played",
                    [self._describe(sequence.items[-1], [])],
                )
            slot = count - 1 if self.repeat == "last" else played % count
        else:
            slot = played
        sequence.played += 1
        return Hit(sequence.items[slot])

    def _describe(self, recorded: Recorded, differences: Sequence[str]) -> dict[str, Any]:
        request = recorded.interaction.request
        return {
            "cassette": recorded.cassette,
            "interaction": recorded.position,
            "method": request.method,
            "path": request.path,
            "status": recorded.interaction.response.status,
            "differences": list(differences),
        }

    def _candidates(
        self, route_key: tuple[str, str], body: ParsedBody, cassette: str | None
    ) -> list[tuple[Key, Recorded]]:
        """At most ``_MAX_COMPARED`` recorded requests of a route to compare with ``body``:
        all of them on a small route; else those sharing its rarest features, then the first."""
        route = self._by_route.get(route_key, {})

        def wanted(recorded: Recorded) -> bool:
            return cassette is None or recorded.cassette == cassette

        if len(route) <= _MAX_COMPARED:
            return [(k, r) for k, r in route.items() if wanted(r)]
        postings = self._by_feature.get(route_key, {})
        lists = sorted((postings.get(f, []) for f in _features(body)), key=len)
        chosen: dict[Key, Recorded] = {}
        scanned = 0
        for keys in [*lists, list(itertools.islice(route, _MAX_SCANNED))]:
            for key in keys:
                scanned += 1
                if len(chosen) >= _MAX_COMPARED or scanned > _MAX_SCANNED:
                    return list(chosen.items())
                if key not in chosen and wanted(route[key]):
                    chosen[key] = route[key]
        return list(chosen.items())

    def _closest(
        self, method: str, path: str, body: ParsedBody, cassette: str | None
    ) -> list[dict[str, Any]]:
        candidates = self._candidates((method.upper(), path), body, cassette)
        if candidates:
            # Fewest differing fields first; among those, the most similar body text.
            sent = normalized_body(body)
            scored = []
            for key, recorded in candidates:
                differences = body_differences(body, parse_body(recorded.interaction.request.body))
                similarity = difflib.SequenceMatcher(None, sent, key[2]).quick_ratio()
                scored.append(
                    (len(differences), -similarity, recorded.cassette, recorded, differences)
                )
            scored.sort(key=lambda t: t[:3])
            return [self._describe(r, d) for *_rank, r, d in scored[:_MAX_CLOSEST]]
        # Nothing on this route: show what the same method reaches elsewhere, path first.
        others = [
            (route, recorded)
            for route, entries in self._by_route.items()
            for recorded in itertools.islice(entries.values(), 1)
            if cassette is None or recorded.cassette == cassette
        ]
        out = []
        for (other_method, other_path), recorded in sorted(others, key=lambda t: t[0])[
            :_MAX_CLOSEST
        ]:
            differences = []
            if other_method != method.upper():
                differences.append(f"method: {method.upper()} here, {other_method} recorded")
            if other_path != path:
                differences.append(f"path: {path} here, {other_path} recorded")
            if endpoint_of_path(path) is None and endpoint_of_path(other_path) is not None:
                differences.append(f"{path} is not a Websim endpoint")
            out.append(self._describe(recorded, differences))
        return out
