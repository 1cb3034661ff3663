"""mock_server: a local imitation of the Websim inference API, for tests and offline development.

``websim-mock`` (or ``python -m mock_server``) serves it; ``MockServer`` runs it inside your
event loop; ``create_app`` returns the bare ``aiohttp.web.Application``; the ``websim_server``
pytest fixture is registered by installing the package, with ``websim_session``: a session of
one shared mock per test (``{server}/sessions/{name}``, see docs/sessions.md).
"""

from __future__ import annotations

from websim_core import __version__

from .app_server import AppServer
from .core.config import MockConfig
from .core.errors import (
    ConfigError,
    FieldError,
    MockError,
    RequestRefused,
    SessionError,
    StepError,
    StubError,
)
from .core.images import image_size
from .core.journal import JournalEntry
from .core.replies import chat_reply
from .core.sessions import SESSION_HEADER
from .core.state import MockState
from .core.statuses import BUILTIN_STATUSES
from .core.steps import (
    FAULT_KINDS,
    ConnectionReset,
    Delay,
    Dribble,
    EmptyResponse,
    FaultStep,
    Garbage,
    ReplyStep,
    StatusStep,
    Step,
    StreamCut,
    StreamMalformed,
    TruncatedBody,
    parse_step,
    parse_steps,
)
from .core.stubs import parse_stubs
from .server import MockServer, StubHandle
from .session_client import MockSession
from .threaded import ThreadedMockServer
from .web.app import STATE_KEY, build_app, create_app, get_state
from .web.listen import LenientProtocol, serve
from .web.wire import HeaderFixer

__all__ = [
    "BUILTIN_STATUSES",
    "FAULT_KINDS",
    "SESSION_HEADER",
    "STATE_KEY",
    "AppServer",
    "ConfigError",
    "ConnectionReset",
    "Delay",
    "Dribble",
    "EmptyResponse",
    "FaultStep",
    "FieldError",
    "Garbage",
    "HeaderFixer",
    "JournalEntry",
    "LenientProtocol",
    "MockConfig",
    "MockError",
    "MockServer",
    "MockSession",
    "MockState",
    "ReplyStep",
    "RequestRefused",
    "SessionError",
    "StatusStep",
    "Step",
    "StepError",
    "StreamCut",
    "StreamMalformed",
    "StubError",
    "StubHandle",
    "ThreadedMockServer",
    "TruncatedBody",
    "__version__",
    "build_app",
    "chat_reply",
    "create_app",
    "get_state",
    "image_size",
    "parse_step",
    "parse_steps",
    "parse_stubs",
    "serve",
]
