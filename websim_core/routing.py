"""Which endpoint a model name goes to. The API never receives the model: it only picks the path."""

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


def route(model: object) -> Endpoint:
    """Image models go to the image endpoint, any other non-empty name to chat."""
    if not isinstance(model, str):
        raise InvalidRequestError("model", f"must be a string, not {type(model).__name__}")
    if not model:
        raise InvalidRequestError("model", "must not be empty")
    return Endpoint.IMAGE if model in IMAGE_MODELS else Endpoint.CHAT
