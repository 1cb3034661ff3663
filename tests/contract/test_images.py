"""Images: for every documented aspect ratio, one http(s) URL back, and a request with a valid
image-form project ID and the prompt the documented rule chooses."""

from __future__ import annotations

import functools

import pytest

from websim_core import ImageResponse
from websim_core.routing import IMAGE_PATH

from .backends import Backend, Exchange
from .cases import (
    DOCUMENTED_RATIOS,
    IMAGE_ID,
    IMAGE_KEYS,
    ImageCase,
    documented_prompt,
    image_cases,
    recorded_image_cases,
)


def assert_image_request(exchange: Exchange, prompt: str, aspect_ratio: str) -> None:
    assert exchange.method == "POST"
    assert exchange.path.endswith(IMAGE_PATH), exchange.path
    body = exchange.json()
    assert isinstance(body, dict)
    assert set(body) == IMAGE_KEYS, sorted(body)
    assert IMAGE_ID.fullmatch(body["project_id"]), body["project_id"]
    assert body["prompt"] == prompt
    assert body["aspect_ratio"] == aspect_ratio


def assert_one_url(image: object) -> None:
    assert isinstance(image, ImageResponse)
    [url] = image.urls
    assert url.lower().startswith(("http://", "https://")), url
    assert url.split("://", 1)[1], url


@pytest.mark.parametrize("ratio", DOCUMENTED_RATIOS)
def test_images(backend: Backend, ratio: str) -> None:
    async def images(case: ImageCase) -> None:
        async with backend.run(cassette=case.cassette) as run:
            image = await run.client().generate_image(
                case.prompt, messages=case.messages, aspect_ratio=case.aspect_ratio
            )
        assert_one_url(image)
        prompt = documented_prompt(case.prompt, case.messages)
        assert isinstance(image, ImageResponse)
        assert image.alt == prompt
        [exchange] = run.exchanges
        assert_image_request(exchange, prompt, ratio)

    recorded = functools.partial(recorded_image_cases, ratio)
    # One image per ratio against the live API: each one is a real generation.
    backend.for_all(images, image_cases(ratio), recorded, live_budget=1)
