"""Dispatch through the gpt4free-style facade: every model in the image list hits the image
endpoint, every other model the chat endpoint, and the model is never sent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from websim_core import ImageResponse, Websim
from websim_core.routing import CHAT_PATH, IMAGE_MODELS, IMAGE_PATH

from .backends import Backend
from .cases import (
    CHAT_KEYS,
    IMAGE_KEYS,
    DispatchCase,
    dispatch_cases,
    documented_prompt,
    explicit_dispatch,
    recorded_dispatch_cases,
)


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def test_dispatch(backend: Backend) -> None:
    async def dispatch(case: DispatchCase) -> None:
        async with backend.run(cassette=case.cassette) as run:
            with run.facade() as options:
                answers = [
                    answer
                    async for answer in Websim.create_async_generator(
                        model=case.model,
                        messages=case.messages,
                        prompt=case.prompt,
                        aspect_ratio=case.aspect_ratio,
                        **options,
                    )
                ]
        [exchange] = run.exchanges
        [answer] = answers
        body = exchange.json()
        if case.model in IMAGE_MODELS:
            assert exchange.path.endswith(IMAGE_PATH), exchange.path
            assert isinstance(answer, ImageResponse)
            assert set(body) == IMAGE_KEYS
            assert body["prompt"] == documented_prompt(case.prompt, case.messages)
        else:
            assert exchange.path.endswith(CHAT_PATH), exchange.path
            assert isinstance(answer, str)
            assert set(body) == CHAT_KEYS
            assert body["messages"] == case.messages
        # Beside the caller's own texts (checked above), no field carries the model.
        carried = [
            leaf
            for key, value in body.items()
            if key not in ("messages", "prompt")
            for leaf in _leaves(value)
        ]
        assert case.model not in carried

    backend.for_all(dispatch, dispatch_cases, recorded_dispatch_cases, explicit=explicit_dispatch)
