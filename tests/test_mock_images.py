"""Images (mock_server.core.images): names from seed, prompt and ratio, and the PNG drawn from a name."""

from __future__ import annotations

import re

import pytest
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
)

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
