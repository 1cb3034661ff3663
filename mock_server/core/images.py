"""The mock's images, with no I/O: a name per seed, prompt and ratio, and the PNG it stands for.

``image_name`` makes the file name an image answer's URL points at (``image_url``, and
``url_body`` the answer's JSON); ``render_png`` draws the picture from the name alone, so any
server with any state serves the same bytes for it.
"""

from __future__ import annotations

import functools
import json
import re
import struct
import zlib
from collections.abc import Sequence

from .replies import seeded_digest

__all__ = [
    "IMAGE_MAX_SIDE",
    "IMAGE_NAME_RE",
    "image_name",
    "image_size",
    "image_url",
    "parse_image_name",
    "png_bytes",
    "render_png",
    "url_body",
]

IMAGE_MAX_SIDE = 256
IMAGE_NAME_RE = re.compile(r"([0-9a-f]{16})-([0-9]{1,3})x([0-9]{1,3})")


def image_size(width: int, height: int, max_side: int = IMAGE_MAX_SIDE) -> tuple[int, int]:
    """Pixel size for a W:H ratio: the longer side ``max_side``, the other rounded, at least 1."""
    if width >= height:
        return max_side, max(1, min(max_side, round(max_side * height / width)))
    return max(1, min(max_side, round(max_side * width / height))), max_side


def image_name(seed: int, prompt: str, ratio: tuple[int, int]) -> str:
    """The file name (without ``.png``) of the image for this seed, prompt and ratio."""
    width, height = image_size(*ratio)
    key = seeded_digest("image", seed, prompt, f"{ratio[0]}:{ratio[1]}").hex()[:16]
    return f"{key}-{width}x{height}"


def image_url(origin: str, seed: int, prompt: str, ratio: tuple[int, int]) -> str:
    """Where the generated image for this seed, prompt and ratio is served, under ``origin``."""
    return f"{origin}/images/{image_name(seed, prompt, ratio)}.png"


def url_body(url: str) -> bytes:
    """An image answer's body: ``json.dumps({"url": url}).encode()``, through json's C escaper
    alone (without the encoder's general machinery)."""
    return f'{{"url": {json.encoder.encode_basestring_ascii(url)}}}'.encode()


def parse_image_name(name: str) -> tuple[str, int, int] | None:
    """``(key, width, height)`` from a name made by ``image_name``, or None if it is not one."""
    match = IMAGE_NAME_RE.fullmatch(name)
    if match is None:
        return None
    width, height = int(match[2]), int(match[3])
    if not (1 <= width <= IMAGE_MAX_SIDE and 1 <= height <= IMAGE_MAX_SIDE):
        return None
    return match[1], width, height


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width: int, height: int, rows: Sequence[bytes]) -> bytes:
    """A valid 8-bit RGB PNG from ``height`` rows of ``width * 3`` bytes each."""
    if width < 1 or height < 1 or len(rows) != height:
        raise ValueError("need height rows and a positive size")
    if any(len(row) != width * 3 for row in rows):
        raise ValueError("each row must hold width * 3 bytes")
    raw = b"".join(b"\x00" + row for row in rows)  # filter type 0 (None) on every row
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 6))
        + _chunk(b"IEND", b"")
    )


@functools.lru_cache(maxsize=64)
def render_png(key: str, width: int, height: int) -> bytes:
    """The picture for an image name: a vertical gradient between two colours, with stripes."""
    seed = bytes.fromhex(key)
    top = seed[0:3]
    bottom = seed[3:6]
    stripe = 4 + seed[6] % 24
    rows: list[bytes] = []
    for y in range(height):
        t = y / (height - 1) if height > 1 else 0.0
        light = bytes(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        dark = bytes(c * 3 // 4 for c in light)
        period = light * stripe + dark * stripe
        row = period * (width // (2 * stripe) + 1)
        rows.append(row[: width * 3])
    return png_bytes(width, height, rows)
