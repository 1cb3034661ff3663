"""A session of a running mock, driven over its admin API: what the pytest fixture hands a test.

``MockSession(server_url, name).url`` is the base URL a client under test uses; ``script``,
``requests``, ``reset`` and ``end`` go through ``{url}/__admin/...``, so the server may be in
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
from .core.sessions import check_session_name
from .core.steps import Step

__all__ = ["MockSession", "SessionError", "session_name_for"]

StepLike = int | str | Mapping[str, Any] | Step
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")
_TIMEOUT = 10.0


def session_name_for(label: str) -> str:
    """A fresh session name readable as ``label`` (a test's name), unique per call."""
    readable = _UNSAFE.sub("-", label).strip("-.")[:48] or "test"
    return f"{readable}-{uuid.uuid4().hex[:12]}"


class MockSession:
    """One session on the mock at ``server_url``: ``url`` is its base URL.

    Stubs (``stub()``), ``find()`` and ``verify()`` come with the mock's stubs and verification
    (issue 13); until then, filter ``requests`` yourself.
    """

    def __init__(self, server_url: str, name: str, *, admin_token: str | None = None) -> None:
        self.name = check_session_name(name)
        self.server_url = server_url.rstrip("/")
        self.url = f"{self.server_url}/sessions/{name}"
        token = admin_token or os.environ.get("WEBSIM_MOCK_ADMIN_TOKEN")
        self._headers = {"Content-Type": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"

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

    @property
    def requests(self) -> list[dict[str, Any]]:
        """This session's journal, as ``GET /__admin/requests`` shows it, oldest first."""
        entries: list[dict[str, Any]] = self._call("GET", "/__admin/requests")["requests"]
        return entries

    @property
    def pending(self) -> list[dict[str, Any]]:
        """This session's scripted steps still waiting."""
        steps: list[dict[str, Any]] = self._call("GET", "/__admin/scenarios")["pending"]
        return steps

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
