"""Images (mock_server.core.images): names from seed, prompt and ratio, and the PNG drawn from a name."""

from __future__ import annotations

import json
import re

import aiohttp
import pytest
import yaml
from helpers import png_info
from hypothesis import example, given
from hypothesis import strategies as st

from mock_server.core.images import (
    IMAGE_MAX_SIDE,
    image_name,
    image_size,
    parse_image_name,
    png_bytes,
    render_png,
    url_body,
)
from mock_server.server import MockServer
from mock_server.web.openapi import openapi_spec
from websim_cassettes.config import cassette_dir
from websim_core import WebsimClient
from websim_core.errors import InvalidRequestError
from websim_core.protocol import parse_aspect_ratio
from websim_core.routing import IMAGE_PATH

# --- images -------------------------------------------------------------------------------------

ratio_side = st.integers(1, 999_999)


@given(ratio_side, ratio_side)
@example(999_999, 1)
@example(1, 999_999)
@example(21, 9)
def test_image_size_keeps_the_ratio_within_rounding(w: int, h: int) -> None:
    width, height = image_size(w, h)
    assert max(width, height) == IMAGE_MAX_SIDE
    assert min(width, height) >= 1
    long_side, short_side = max(w, h), min(w, h)
    exact = IMAGE_MAX_SIDE * short_side / long_side
    got = min(width, height)
    assert abs(got - exact) <= 0.5 or (exact < 0.5 and got == 1)
    assert (width >= height) == (w >= h)


@pytest.mark.parametrize(
    ("ratio", "size"),
    [
        ((1, 1), (256, 256)),
        ((16, 9), (256, 144)),
        ((9, 16), (144, 256)),
        ((21, 9), (256, 110)),
        ((999_999, 1), (256, 1)),
    ],
)
def test_rendered_pngs_are_valid_and_small(ratio: tuple[int, int], size: tuple[int, int]) -> None:
    name = image_name(1, "A cat in space", ratio)
    parsed = parse_image_name(name)
    assert parsed is not None
    assert parsed[1:] == size
    data = render_png(*parsed)
    assert png_info(data) == size
    assert len(data) < 300_000
    assert render_png(*parsed) is data  # cached


def test_image_names_depend_on_seed_prompt_and_ratio() -> None:
    base = image_name(1, "cat", (16, 9))
    assert base == image_name(1, "cat", (16, 9))
    assert (
        len(
            {
                base,
                image_name(2, "cat", (16, 9)),
                image_name(1, "dog", (16, 9)),
                image_name(1, "cat", (32, 18)),
            }
        )
        == 4
    )
    assert re.fullmatch(r"[0-9a-f]{16}-256x144", base)


@pytest.mark.parametrize(
    "name",
    [
        "x",
        "0123456789abcdef-0x1",
        "0123456789abcdef-257x1",
        "0123456789ABCDEF-1x1",
        "0123456789abcdef-1x1.png",
        "../0123456789abcdef-1x1",
    ],
)
def test_parse_image_name_refuses_what_it_did_not_make(name: str) -> None:
    assert parse_image_name(name) is None


def test_png_bytes_checks_its_input() -> None:
    assert png_info(png_bytes(2, 1, [b"\x00" * 6])) == (2, 1)
    with pytest.raises(ValueError, match="height rows"):
        png_bytes(2, 2, [b"\x00" * 6])
    with pytest.raises(ValueError, match="width"):
        png_bytes(2, 1, [b"\x00" * 5])


# --- one aspect-ratio rule ----------------------------------------------------------------------

# The documented rule: W:H with positive integers (at most six digits each). 1:1, 16:9, 9:16,
# 21:9 and 9:21 are the ratios clients were seen sending; nothing documents a refusal of others.


@pytest.mark.parametrize(("ratio", "size"), [("4:3", (256, 192)), ("16:9", (256, 144))])
async def test_client_mock_and_cassette_agree_a_ratio_is_any_w_h(
    ratio: str, size: tuple[int, int]
) -> None:
    w, h = parse_aspect_ratio(ratio)  # the client's check, shared with the mock
    assert image_size(w, h) == size
    async with MockServer() as server, WebsimClient(server.url) as client:
        image = await client.generate_image("A mountain lake", aspect_ratio=ratio)
        async with aiohttp.ClientSession() as session, session.get(image.urls[0]) as answer:
            assert png_info(await answer.read()) == size
    if ratio == "4:3":  # the cassette the service's answer to 4:3 is recorded in
        cassette = yaml.safe_load((cassette_dir() / "image_4_3.yaml").read_text("utf-8"))
        [interaction] = cassette["interactions"]
        assert json.loads(interaction["request"]["body"])["aspect_ratio"] == "4:3"
        assert interaction["response"]["status"]["code"] == 200
        url = json.loads(interaction["response"]["body"]["string"])["url"]
        assert url.endswith("-256x192.png")


@pytest.mark.parametrize("ratio", ["0:1", "4x3", "wide", "1234567:1"])
async def test_client_and_mock_refuse_what_is_not_w_h(ratio: str) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        parse_aspect_ratio(ratio)
    assert refused.value.field == "aspect_ratio"
    body = {"project_id": "abc", "prompt": "cat", "aspect_ratio": ratio}
    async with (
        MockServer() as server,
        aiohttp.ClientSession() as session,
        session.post(server.url + IMAGE_PATH, json=body) as answer,
    ):
        assert answer.status == 400
        assert (await answer.json())["field"] == "aspect_ratio"


def test_openapi_states_the_rule() -> None:
    schema = openapi_spec("0")["paths"][IMAGE_PATH]["post"]["requestBody"]["content"][
        "application/json"
    ]
    ratio = schema["schema"]["properties"]["aspect_ratio"]
    assert "positive integers" in ratio["description"]
    assert "4:3" in ratio["description"]


# (st.text drops surrogates from any alphabet: join the characters by hand to keep lone ones.)
@given(st.lists(st.characters() | st.sampled_from("\ud800\udfff"), max_size=40).map("".join))
def test_an_image_answers_body_is_json_dumps_of_its_url(url: str) -> None:
    assert url_body(url) == json.dumps({"url": url}).encode()
