"""Every exception mock_server raises for input it refuses, in one tree.

The tree (catch ``MockError`` to catch them all)::

    MockError
    MockError
    ├── FieldError (ValueError)   a value at ``.field`` is wrong: "invalid {field}: {problem}"
    │   ├── ConfigError           an option of MockConfig (a keyword, a fixture option, a flag)
    │   ├── StepError             a scripted step, its endpoint, a directive, a chaos mix item
    │   │   └── StubError         a stub (its match or respond), from a file, the admin API or Python
    │   └── RequestRefused        a request the mock answers with ``.status`` (400, 404 unknown
    │                             session, 413, 415, 503 no room for another session)
    └── SessionError (RuntimeError)  a mock's admin API refused a session call (session_client)

A client-side ``websim_core.errors.InvalidRequestError`` raised while validating a request body
(the rules are shared with the client) is turned into a 400 by the decision, never raised out.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "FieldError",
    "MockError",
    "RequestRefused",
    "SessionError",
    "StepError",
    "StubError",
]


class MockError(Exception):
    """Root of every error mock_server raises for input it refuses."""


class FieldError(MockError, ValueError):
    """A value is not valid; ``field`` names where it is (``responses[2].status``)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"invalid {field}: {problem}")
        self.field = field
        self.problem = problem


class ConfigError(FieldError):
    """An option of the mock is not valid; ``field`` is the option's name (``rate_limit``)."""


class StepError(FieldError):
    """A scripted step (or its endpoint, a directive, a chaos outcome) is not valid."""


class StubError(StepError):
    """A stub is not valid; ``field`` is its path (``stubs[2].match.last_user_message.regex``)."""


class RequestRefused(FieldError):
    """A request the mock refuses, answered with ``status``; ``close`` ends the connection."""

    def __init__(self, field: str, problem: str, status: int = 400, close: bool = False) -> None:
        super().__init__(field, problem)
        self.status = status
        self.close = close


class SessionError(MockError, RuntimeError):
    """A running mock's admin API refused a call about a session; the message is its answer."""
