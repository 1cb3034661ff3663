"""Which endpoint a model name goes to, and which endpoint a path is.

The API never receives the model: it only picks the path. Client, mock and cassettes share both.
"""

from __future__ import annotations

import enum

from .errors import InvalidRequestError

__all__ = [
    "CHAT_MODELS",
    "CHAT_PATH",
    "DEFAULT_IMAGE_MODEL",
    "DEFAULT_MODEL",
    "IMAGE_MODELS",
    "IMAGE_PATH",
    "MODELS",
    "Endpoint",
    "endpoint_of_path",
    "route",
]

CHAT_PATH = "/api/v1/inference/run_chat_completion"
IMAGE_PATH = "/api/v1/inference/run_image_generation"
DEFAULT_MODEL = "gemini-1.5-pro"
DEFAULT_IMAGE_MODEL = "flux"
CHAT_MODELS: tuple[str, ...] = (
    "gemini-1.5-pro",
    "gemini-1.5-flash",
    "gemini-2.5-pro",
    "gemini-2.5-flash",
)
IMAGE_MODELS: tuple[str, ...] = (DEFAULT_IMAGE_MODEL,)
MODELS: tuple[str, ...] = CHAT_MODELS + IMAGE_MODELS


class Endpoint(str, enum.Enum):
    """The two inference endpoints, with their paths."""

    CHAT = "chat"
    IMAGE = "image"

    @property
    def path(self) -> str:
        return CHAT_PATH if self is Endpoint.CHAT else IMAGE_PATH


_BY_PATH = {CHAT_PATH: Endpoint.CHAT, IMAGE_PATH: Endpoint.IMAGE}


def endpoint_of_path(path: str) -> Endpoint | None:
    """The endpoint served at exactly ``path`` (a path without its query string), else None.

    Exact on purpose: the mock routes these two paths and nothing near them, so it answers 404
    to ``.../run_chat_completion/`` (trailing slash); the cassette tools must not call it chat.
    """
    return _BY_PATH.get(path)


def route(model: object) -> Endpoint:
    """Image models go to the image endpoint, any other non-empty name to chat."""
    if not isinstance(model, str):
        raise InvalidRequestError("model", f"must be a string, not {type(model).__name__}")
    if not model:
        raise InvalidRequestError("model", "must not be empty")
    return Endpoint.IMAGE if model in IMAGE_MODELS else Endpoint.CHAT
