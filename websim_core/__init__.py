"""websim_core: a small async client for the Websim inference API, over a pure, I/O-free core.

``WebsimClient`` for new code, ``Websim`` for code written against gpt4free's provider.
"""

from __future__ import annotations

from .client import DEFAULT_BASE_URL, DEFAULT_MAX_RESPONSE_BYTES, WebsimClient
from .errors import (
    CloudflareError,
    InvalidRequestError,
    MissingAuthError,
    RateLimitError,
    ResponseFormatError,
    ResponseStatusError,
    UnexpectedRedirectError,
    WebsimConnectionError,
    WebsimError,
    WebsimTimeoutError,
    error_for_status,
)
from .ids import ProjectIdKind, classify_project_id, generate_project_id
from .protocol import ImageResponse
from .provider import Websim
from .retry import RetryPolicy, parse_retry_after
from .routing import (
    CHAT_MODELS,
    DEFAULT_IMAGE_MODEL,
    DEFAULT_MODEL,
    IMAGE_MODELS,
    Endpoint,
    route,
)
from .sse import ServerSentEvent, SSEDecoder

__version__ = "0.1.0"

__all__ = [
    "CHAT_MODELS",
    "DEFAULT_BASE_URL",
    "DEFAULT_IMAGE_MODEL",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_MODEL",
    "IMAGE_MODELS",
    "CloudflareError",
    "Endpoint",
    "ImageResponse",
    "InvalidRequestError",
    "MissingAuthError",
    "ProjectIdKind",
    "RateLimitError",
    "ResponseFormatError",
    "ResponseStatusError",
    "RetryPolicy",
    "SSEDecoder",
    "ServerSentEvent",
    "UnexpectedRedirectError",
    "Websim",
    "WebsimClient",
    "WebsimConnectionError",
    "WebsimError",
    "WebsimTimeoutError",
    "__version__",
    "classify_project_id",
    "error_for_status",
    "generate_project_id",
    "parse_retry_after",
    "route",
]
