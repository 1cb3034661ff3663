"""A session of a running mock, driven over its admin API: what the pytest fixture hands a test.

``MockSession(server_url, name).url`` is the base URL a client under test uses; ``script``,
``stub``, ``requests``, ``find``, ``verify``, ``reset`` and ``end`` go through
``{url}/__admin/...``, so the server may be in
this process, in another one, or a service started by CI. Synchronous (urllib), so it works in
sync and async tests alike.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from .core.errors import SessionError
from .core.journal_entry import JournalEntry
from .core.patterns import parse_match
from .core.sessions import check_session_name
from .core.steps import Step
from .core.stubs import stub_data
from .core.verify import count_problem, parse_bounds, report

__all__ = ["MockSession", "SessionError", "check_mock", "session_name_for"]

StepLike = int | str | Mapping[str, Any] | Step
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")
_TIMEOUT = 10.0
_PAGE = 1000  # items per admin read: the most the server gives at once


def session_name_for(label: str) -> str:
    """A fresh session name readable as ``label`` (a test's name), unique per call."""
    readable = _UNSAFE.sub("-", label).strip("-.")[:48] or "test"
    return f"{readable}-{uuid.uuid4().hex[:12]}"


def _admin_headers(admin_token: str | None) -> dict[str, str]:
    token = admin_token or os.environ.get("WEBSIM_MOCK_ADMIN_TOKEN")
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def check_mock(server_url: str, *, admin_token: str | None = None) -> None:
    """Make sure a websim mock answers its admin API at ``server_url``; ``SessionError``
    saying in one line what is wrong (unreachable, or something else answering) otherwise."""
    url = server_url.rstrip("/") + "/__admin/sessions"
    request = urllib.request.Request(url, headers=_admin_headers(admin_token))
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
            data = json.loads(response.read(1024 * 1024))
    except urllib.error.HTTPError as exc:
        detail = " ".join(exc.read(200).decode("utf-8", "replace").split())
        if exc.code in (401, 403):
            why = "set WEBSIM_MOCK_ADMIN_TOKEN to the mock's admin token"
            raise SessionError(f"its admin API refused us ({exc.code}): {why}") from None
        raise SessionError(
            f"not a websim mock: GET /__admin/sessions answered {exc.code} {detail[:80]}"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SessionError(f"unreachable ({reason})") from None
    except ValueError:
        raise SessionError("not a websim mock: GET /__admin/sessions is not JSON") from None
    if not (isinstance(data, dict) and "sessions" in data):
        raise SessionError("not a websim mock: GET /__admin/sessions has no sessions") from None


class MockSession:
    """One session on the mock at ``server_url``: ``url`` is its base URL.

    ``stub()`` puts a stub in force for this session only; ``find()`` and ``verify()`` read
    this session's requests with the stubs' matching language.
    """

    def __init__(self, server_url: str, name: str, *, admin_token: str | None = None) -> None:
        self.name = check_session_name(name)
        self.server_url = server_url.rstrip("/")
        self.url = f"{self.server_url}/sessions/{name}"
        self._headers = _admin_headers(admin_token)

    def _call(self, method: str, path: str, body: object = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers=self._headers
        )
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:500].decode("utf-8", "replace")
            message = f"{method} {path} in session {self.name!r}: {exc.code} {detail}"
            raise SessionError(message) from None

    def script(self, endpoint: str, steps: Iterable[StepLike]) -> int:
        """Queue answers for this session's next requests to ``"chat"``, ``"image"`` or
        ``"any"`` (the steps of ``MockServer.script``); returns how many are now waiting."""
        wire = [step.to_json() if isinstance(step, Step) else step for step in steps]
        answer = self._call("POST", "/__admin/scenarios", {"endpoint": endpoint, "responses": wire})
        pending: int = answer["pending"]
        return pending

    def stub(
        self,
        *,
        match: Mapping[str, Any] | None = None,
        respond: Mapping[str, Any],
        name: str | None = None,
        priority: int = 0,
        times: int | None = None,
    ) -> str:
        """Answer this session's requests that ``match`` picks with ``respond`` (as
        ``MockServer.stub``; other sessions never see it); returns the stub's id."""
        data = stub_data(match, respond, name, priority, times)
        (stub_id,) = self._call("POST", "/__admin/stubs", data)["ids"]
        return str(stub_id)

    def _pages(
        self, path: str, key: str, match: Mapping[str, Any] | None = None, since: int = 0
    ) -> list[dict[str, Any]]:
        """Every item of a paged admin read (with ``match``: a find), following ``next``."""
        items: list[dict[str, Any]] = []
        cursor: int | None = since
        while cursor is not None:
            if match is None:
                page = self._call("GET", f"{path}?limit={_PAGE}&since={cursor}")
            else:
                query = {"match": dict(match), "limit": _PAGE, "since": cursor}
                page = self._call("POST", path, query)
            items += page[key]
            cursor = page["next"]
        return items

    def find(self, match: Mapping[str, Any], *, since: int = 0) -> list[dict[str, Any]]:
        """This session's requests that ``match`` (the stubs' language) selects, oldest
        first, as ``requests`` shows them; a bad match raises ``FieldError`` naming it."""
        parse_match(match)  # (a bad one is refused here, as MockServer.find refuses it)
        return self._pages("/__admin/requests/find", "requests", match, since)

    def verify(
        self,
        match: Mapping[str, Any],
        *,
        times: int | None = None,
        at_least: int | None = None,
        at_most: int | None = None,
    ) -> list[dict[str, Any]]:
        """Assert how many of this session's requests ``match`` selects (default: at least
        one) and return them; else ``AssertionError`` with the report ``MockServer.verify``
        writes: what came and, for the closest misses, which predicates failed and why."""
        pattern = parse_match(match)
        parse_bounds(times, at_least, at_most)
        matched = self.find(match)
        problem = count_problem(len(matched), times=times, at_least=at_least, at_most=at_most)
        if problem is not None:
            seen = [JournalEntry.from_json(entry) for entry in self.requests]
            found = [JournalEntry.from_json(entry) for entry in matched]
            raise AssertionError(report(seen, pattern, found, problem, match))
        return matched

    @property
    def requests(self) -> list[dict[str, Any]]:
        """This session's journal, as ``GET /__admin/requests`` shows it, oldest first."""
        return self._pages("/__admin/requests", "requests")

    @property
    def pending(self) -> list[dict[str, Any]]:
        """This session's scripted steps still waiting."""
        return self._pages("/__admin/scenarios", "pending")

    def reset(self) -> None:
        """Empty this session's steps and journal view (begins the session if it is new)."""
        self._call("POST", "/__admin/reset")

    def end(self) -> None:
        """End the session on the server (a no-op if it is already gone)."""
        request = urllib.request.Request(
            f"{self.server_url}/__admin/sessions/{self.name}",
            method="DELETE",
            headers=self._headers,
        )
        try:
            urllib.request.urlopen(request, timeout=_TIMEOUT).close()
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise SessionError(f"DELETE session {self.name!r}: {exc.code}") from None
