"""One exchange seen on the wire, as the scrubbed interaction a cassette keeps.

Bodies are stored decoded (as vcrpy's ``decode_compressed_response`` stores them) but never
past ``max_body`` bytes decoded: a small gzip bomb must not become a huge cassette or a huge
allocation. Then everything goes through the scrubber, whose output the checker accepts.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping

from .files import Interaction, interaction_from_vcrpy
from .scrub import scrub_request, scrub_response

__all__ = ["BodyTooLarge", "capture", "decoded_body"]


class BodyTooLarge(ValueError):
    """A body longer than the limit once decoded; the message names both."""


def decoded_body(body: bytes, encoding: str | None, limit: int) -> tuple[bytes, bool]:
    """``body`` decoded per its Content-Encoding (gzip, deflate), and whether it was decoded.

    An encoding this cannot decode leaves the body as it is (and False). Raises
    ``BodyTooLarge`` past ``limit`` bytes, having decoded at most ``limit + 1``.
    """
    coding = (encoding or "").strip().lower()
    if coding in ("gzip", "x-gzip", "deflate"):
        wbits = 47 if coding != "deflate" else 15  # 47: gzip or zlib header, detected
        try:
            out = _inflate(body, wbits, limit)
        except zlib.error:
            if coding != "deflate":
                return _bounded(body, limit), False
            out = _inflate(body, -15, limit)  # raw deflate, as some servers send it
        return out, True
    return _bounded(body, limit), False


def _inflate(body: bytes, wbits: int, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits)
    out = inflater.decompress(body, limit + 1)
    if len(out) > limit:
        raise BodyTooLarge(f"the body is over {limit} bytes decoded")
    return out


def _bounded(body: bytes, limit: int) -> bytes:
    if len(body) > limit:
        raise BodyTooLarge(f"the body is {len(body)} bytes, over {limit}")
    return body


def _header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in headers if k.lower() == name), None)


def capture(
    method: str,
    url: str,
    request: tuple[Mapping[str, str], bytes],
    status: tuple[int, str],
    response: tuple[Iterable[tuple[str, str]], bytes],
    *,
    max_body: int,
) -> Interaction:
    """The scrubbed interaction: request headers and bytes as sent, the response's status,
    headers (repeats kept) and bytes as received. Raises ``BodyTooLarge``."""
    from vcr.request import Request

    sent_headers, sent_body = request
    sent_body, _ = decoded_body(
        sent_body, _header(sent_headers.items(), "content-encoding"), max_body
    )
    headers = {k: v for k, v in sent_headers.items() if k.lower() != "content-encoding"}
    answer_headers, answer_body = response
    pairs = list(answer_headers)
    body, decoded = decoded_body(answer_body, _header(pairs, "content-encoding"), max_body)
    recorded: dict[str, list[str]] = {}
    for name, value in pairs:
        lower = name.lower()
        if decoded and lower == "content-encoding":
            continue
        if decoded and lower == "content-length":
            value = str(len(body))
        recorded.setdefault(str(name), []).append(value)
    scrubbed_request = scrub_request(Request(method, url, sent_body or None, headers))
    scrubbed_response = scrub_response(
        {
            "status": {"code": status[0], "message": status[1]},
            "headers": recorded,
            "body": {"string": body},
        }
    )
    return interaction_from_vcrpy(scrubbed_request, scrubbed_response)
