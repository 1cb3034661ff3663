"""The gpt4free-compatible facade: ``Websim.create_async_generator(model=..., messages=...)``.

Code written for g4f's Websim provider runs unchanged with ``from websim_core import Websim``;
the base URL comes from ``base_url=...`` or ``WEBSIM_BASE_URL``, so it can point at the mock.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from .client import DEFAULT_BASE_URL, WebsimClient
from .ids import generate_project_id
from .protocol import DEFAULT_ASPECT_RATIO, ImageResponse
from .routing import (
    CHAT_PATH,
    DEFAULT_IMAGE_MODEL,
    DEFAULT_MODEL,
    IMAGE_MODELS,
    IMAGE_PATH,
    MODELS,
    Endpoint,
    route,
)

__all__ = ["Websim"]


class Websim:
    """The seed API. ``create_async_generator`` works on the class and on an instance."""

    label = "Websim"
    url = DEFAULT_BASE_URL
    login_url = None
    chat_api_endpoint = DEFAULT_BASE_URL + CHAT_PATH
    image_api_endpoint = DEFAULT_BASE_URL + IMAGE_PATH
    working = True
    needs_auth = False
    use_nodriver = False
    supports_stream = False
    supports_system_message = True
    supports_message_history = True
    default_model = DEFAULT_MODEL
    default_image_model = DEFAULT_IMAGE_MODEL
    image_models: ClassVar[list[str]] = list(IMAGE_MODELS)
    models: ClassVar[list[str]] = list(MODELS)

    @staticmethod
    def generate_project_id(for_image: bool = False, *, rng: random.Random | None = None) -> str:
        """A canonical project ID (chat 3_16, or image 7_12 when ``for_image``)."""
        return generate_project_id("image" if for_image else "chat", rng=rng)

    @classmethod
    async def create_async_generator(
        cls,
        model: str,
        messages: list[dict[str, Any]],
        prompt: str | None = None,
        proxy: str | None = None,
        aspect_ratio: str = DEFAULT_ASPECT_RATIO,
        project_id: str | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[str | ImageResponse]:
        """Yield one ``str`` for a chat model, one ``ImageResponse`` for an image model.

        Extra keyword arguments g4f passes (``stream``, ``timeout``...) are accepted; ``base_url``,
        ``timeout`` and ``retry`` (a ``RetryPolicy``) are used, the rest ignored, as g4f does.
        """
        endpoint = route(model)
        options: dict[str, Any] = {"proxy": proxy, "retry": kwargs.get("retry")}
        if kwargs.get("timeout") is not None:
            options["timeout"] = float(kwargs["timeout"])
        async with WebsimClient(kwargs.get("base_url"), **options) as client:
            if endpoint is Endpoint.IMAGE:
                yield await client.generate_image(
                    prompt, messages=messages, aspect_ratio=aspect_ratio, project_id=project_id
                )
            else:
                yield await client.chat(messages, model=model, project_id=project_id)
