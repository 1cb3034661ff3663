"""Fuzz a mock server started in this process: seeded random requests, never a 5xx or a crash.

``python bench/fuzz.py --requests 10000 --seed 1`` sends that many generated requests (random
methods, paths, headers and bodies: bytes, JSON of every type, strings past the 1 MiB limit,
deep nesting, compressed bodies valid and not, valid-looking requests with one field broken,
admin calls) over aiohttp, plus a share of malformed HTTP over raw sockets, to a ``MockServer``
on 127.0.0.1, and checks:

- no answer has a 5xx status (and no connection is dropped), except those the fuzz arranged
  itself (a step scripted through ``/__admin/scenarios``, an in-band directive) or chaos drew:
  the server's journal says which, through a tap on ``Journal.record``;
- no exception was raised inside a handler (``MockState.errors``), nothing was logged at ERROR
  but aiohttp's own note on a request it could not parse as HTTP (answered 400), and the event
  loop's exception handler was never called;
- no request went unanswered (a timeout) and none had its connection dropped, except where the
  server may close early (a body over the limit) or the HTTP is malformed on purpose;
- ``/healthz`` still answers 200 at the end.

``--misbehaviour`` serves with in-band directives, a rate limit and 3% chaos on, so those
parsers and paths are fuzzed too. It prints a status histogram and exits 1 when a check fails. ``run_fuzz`` is what the quick test
(``tests/test_mock_fuzz_long.py``) calls with fewer requests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import io
import json
import logging
import random
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from yarl import URL

from mock_server import MockConfig, MockState, build_app, serve
from mock_server.core.journal import Journal, Recorded
from mock_server.web.accept import Listener

CHAT = "/api/v1/inference/run_chat_completion"
IMAGE = "/api/v1/inference/run_image_generation"
MAX_BODY = 1024 * 1024
FUZZ_ID = "x-fuzz-id"


def _gzip(data: bytes, level: int = 9) -> bytes:
    """gzip with a fixed header time: same seed, same bytes (gzip.compress stamps the clock)."""
    return gzip.compress(data, level, mtime=0)


_ARRANGED = ("script", "directive", "chaos", "rate_limit")
_ROLES = ("user", "system", "assistant", "developer")
_RATIOS = ("1:1", "16:9", "9:16", "21:9", "9:21")
_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD")
# Tokens aiohttp's client sends as they are; the server's parser (llhttp) knows some of them.
_ODD_METHODS = ("PROPFIND", "MKCOL", "PURGE", "SEARCH", "FOO", "X-Y", "M" * 40, "QUERY", "TRACE")
_CONTENT_TYPES = (
    "text/plain;charset=UTF-8",
    "application/json",
    "application/json; charset=utf-16",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "text/event-stream",
    "application/octet-stream",
    "image/png",
    "*/*",
    "",
    ";;;",
    "application/json; charset=nonsense",
    "text/plain; charset=" + "x" * 300,
)
_FAULTS = (
    "connection_reset",
    "empty_response",
    "garbage",
    "truncated_body",
    "delay",
    "dribble",
    "stream_cut",
    "stream_malformed",
)
_HEADER_NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~"
_VALUE_CHARS = "".join(chr(c) for c in range(0x20, 0x7F)) + "\t\u00e9\u00ff"
_TEXTS = (
    "",
    " ",
    "Hello, how are you?",
    "Привет, как дела?",
    "\U0001f600 emoji",
    "\\ud800 lone surrogate written out",
    "\x00\x01\x1f control",
    "<html><title>Just a moment...</title>",
    "data: [DONE]\n\n",
    '"quoted" \\ backslash',
    "\r\n\r\nHTTP/1.1 200 OK\r\n",
)


# --- the requests ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FuzzRequest:
    """One generated request. ``raw``: the whole request as bytes, sent over a bare socket."""

    family: str
    method: str = "GET"
    path: str = "/"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    raw: bytes | None = None
    # The server may close the connection before reading it all (body over the limit, bad HTTP).
    may_drop: bool = False


def _lone_surrogates(rng: random.Random) -> str:
    return rng.choice(('"\\ud800"', '"\\udfff x"', '"a\\udbff\\udbff"', '"\\u0000"'))


class Generator:
    """Seeded request generator; ``next()`` gives the next ``FuzzRequest``."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        families: list[tuple[str, float, Callable[[], FuzzRequest]]] = [
            ("shaped", 24, self.shaped),
            ("json", 14, self.any_json),
            ("bytes", 7, self.any_bytes),
            ("encoded", 7, self.encoded),
            ("huge", 1.2, self.huge),
            ("deep", 2.5, self.deep),
            ("paths", 14, self.paths),
            ("admin", 6, self.admin),
            ("headers", 10, self.headers_family),
            ("raw", 12, self.raw),
            ("directive", 4, self.directive),
        ]
        self.families = [f for _, _, f in families]
        self.weights = [w for _, w, _ in families]

    def next(self) -> FuzzRequest:
        return self.rng.choices(self.families, self.weights)[0]()

    # --- pieces -------------------------------------------------------------------------------

    def text(self, max_len: int = 40) -> str:
        rng = self.rng
        pick = rng.random()
        if pick < 0.3:
            return rng.choice(_TEXTS)
        if pick < 0.6:
            return "".join(rng.choice(_VALUE_CHARS) for _ in range(rng.randint(0, max_len)))
        # Any code point but a surrogate (those come as JSON escapes, see _lone_surrogates).
        chars = []
        for _ in range(rng.randint(0, max_len)):
            c = rng.randint(0, 0x10FFFF)
            chars.append(chr(c if not 0xD800 <= c <= 0xDFFF else 0xFFFD))
        return "".join(chars)

    def json_value(self, depth: int = 0) -> Any:
        rng = self.rng
        kind = rng.randrange(10 if depth < 4 else 7)
        if kind == 0:
            return None
        if kind == 1:
            return rng.random() < 0.5
        if kind == 2:
            return rng.choice((0, -1, 1, 2**31, -(2**63), 2**64, 10**30, rng.randint(-9, 99)))
        if kind == 3:
            return rng.choice((0.0, -0.0, 1.5, 1e308, -1e-308, 5e-324, rng.uniform(-1e6, 1e6)))
        if kind in (4, 5, 6):
            return self.text()
        if kind in (7, 8):
            return [self.json_value(depth + 1) for _ in range(rng.randint(0, 4))]
        return {self.text(10): self.json_value(depth + 1) for _ in range(rng.randint(0, 4))}

    def json_bytes(self, value: Any) -> bytes:
        rng = self.rng
        text = json.dumps(value, ensure_ascii=rng.random() < 0.5, allow_nan=True)
        if rng.random() < 0.05:
            text = text.replace('"x"', _lone_surrogates(rng), 1)
        encoding = rng.choices(("utf-8", "utf-16", "utf-32", "utf-8-sig"), (20, 1, 1, 1))[0]
        return text.encode(encoding, "surrogatepass")

    def project_id(self) -> Any:
        rng = self.rng
        return rng.choice(
            (
                "ke3_xh5gai3gjkmruomu",
                "kx0m131_rzz66qb2xoy7",
                "a",
                "",
                "A" * 20,
                "a" * 64,
                "a" * 65,
                "ke3-xh5gai3gjkmruomu",
                "ke3_xh5gai3gjkmruom\u00fc",
                None,
                7,
                ["a"],
                self.text(70),
            )
        )

    def message(self) -> Any:
        rng = self.rng
        content: Any = self.text()
        if rng.random() < 0.2:
            content = [
                {"type": rng.choice(("text", "image_url", "x")), "text": self.text(10)}
                for _ in range(rng.randint(0, 3))
            ]
        return {"role": rng.choice(_ROLES), "content": content}

    def chat_body(self) -> dict[str, Any]:
        rng = self.rng
        body: dict[str, Any] = {
            "project_id": "ke3_xh5gai3gjkmruomu",
            "messages": [self.message() for _ in range(rng.randint(1, 4))],
        }
        if rng.random() < 0.3:
            body["stream"] = True
        if rng.random() < 0.1:
            body["json"] = True
        return body

    def image_body(self) -> dict[str, Any]:
        rng = self.rng
        body: dict[str, Any] = {"project_id": "kx0m131_rzz66qb2xoy7", "prompt": self.text()}
        if rng.random() < 0.7:
            body["aspect_ratio"] = rng.choice(_RATIOS)
        return body

    def break_one_field(self, body: dict[str, Any]) -> dict[str, Any]:
        """The body with one field removed, retyped or given an out-of-range value."""
        rng = self.rng
        key = rng.choice([*body, "messages", "prompt", "aspect_ratio", "stream", "extra"])
        action = rng.randrange(4)
        if action == 0:
            body.pop(key, None)
        elif action == 1:
            body[key] = self.json_value()
        elif key == "project_id":
            body[key] = self.project_id()
        elif key == "messages":
            body[key] = rng.choice(
                (
                    [],
                    [{}],
                    [{"role": "robot", "content": "x"}],
                    [{"role": "user"}],
                    [{"role": "user", "content": None}],
                    [{"role": "user", "content": [{"type": "text"}]}],
                    [{"role": "user", "content": "x", "extra": [1]}],
                    [self.message() for _ in range(rng.choice((500, 5000)))],
                    [{"role": "user", "content": "x" * rng.choice((10_000, 200_000))}],
                    {"role": "user", "content": "x"},
                    "user: hi",
                )
            )
        elif key == "aspect_ratio":
            body[key] = rng.choice(
                ("0:1", "1:0", "-1:1", "1:1:1", "16/9", "999999:1", "1:10000000", "1.5:1", " 1:1")
            )
        else:
            body[key] = rng.choice((None, 0, "", [], {}, True, "x" * 5000))
        return body

    def endpoint_path(self) -> str:
        return CHAT if self.rng.random() < 0.6 else IMAGE

    def request_body(self, path: str) -> dict[str, Any]:
        return self.chat_body() if path == CHAT else self.image_body()

    def content_type(self) -> tuple[tuple[str, str], ...]:
        rng = self.rng
        if rng.random() < 0.15:
            return ()
        return (("Content-Type", rng.choice(_CONTENT_TYPES)),)

    # --- families ------------------------------------------------------------------------------

    def shaped(self) -> FuzzRequest:
        """A valid-looking chat or image request, usually with one field broken."""
        rng = self.rng
        path = self.endpoint_path()
        body = self.request_body(path)
        if rng.random() < 0.8:
            body = self.break_one_field(body)
        return FuzzRequest("shaped", "POST", path, self.content_type(), self.json_bytes(body))

    def any_json(self) -> FuzzRequest:
        rng = self.rng
        path = rng.choice((CHAT, IMAGE, CHAT, IMAGE, "/__admin/scenarios", "/healthz"))
        method = "POST" if rng.random() < 0.9 else rng.choice(_METHODS)
        return FuzzRequest(
            "json", method, path, self.content_type(), self.json_bytes(self.json_value())
        )

    def any_bytes(self) -> FuzzRequest:
        rng = self.rng
        size = rng.choice((0, 1, 2, 7, 64, 300, 4096, 70_000))
        body = rng.randbytes(size)
        if rng.random() < 0.3:  # JSON-looking garbage
            body = b'{"project_id": "a", "messages": [' + body
        path = self.endpoint_path() if rng.random() < 0.8 else self.path()
        return FuzzRequest("bytes", "POST", path, self.content_type(), body)

    def encoded(self) -> FuzzRequest:
        """Content-Encoding: gzip, deflate (zlib or raw), stacked, unknown; valid or broken."""
        rng = self.rng
        path = self.endpoint_path()
        plain = json.dumps(self.request_body(path)).encode()
        choice = rng.randrange(10)
        coding = "gzip"
        if choice == 0:
            body = _gzip(plain)
        elif choice == 1:
            body, coding = zlib.compress(plain), "deflate"
        elif choice == 2:
            raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
            body, coding = raw.compress(plain) + raw.flush(), "deflate"
        elif choice == 3:
            body, coding = _gzip(zlib.compress(plain)), "deflate, gzip"
        elif choice == 4:
            body = _gzip(plain)[: rng.randint(1, 20)]  # truncated
        elif choice == 5:
            body = plain  # labelled gzip, is not
        elif choice == 6:  # a bomb: 8 MiB of zeros in about 8 KiB
            body = _gzip(b"0" * (8 * MAX_BODY), 9)
        elif choice == 7:
            body, coding = plain, rng.choice(("br", "zstd", "compress", "x" * 100, "gzip;q=1"))
        elif choice == 8:
            body, coding = _gzip(plain), rng.choice(("GZIP", "x-gzip", "identity, gzip"))
        else:
            data = bytearray(_gzip(plain))
            data[rng.randrange(10, len(data))] ^= 0xFF  # a flipped byte: bad CRC or bad data
            body = bytes(data)
        headers = (*self.content_type(), ("Content-Encoding", coding))
        return FuzzRequest("encoded", "POST", path, headers, body)

    def huge(self) -> FuzzRequest:
        """Bodies around and past the 1 MiB limit: JSON strings, many messages, raw bytes."""
        rng = self.rng
        size = rng.choice(
            (MAX_BODY - 200, MAX_BODY + 1, 2 * MAX_BODY, rng.randint(1, 2 * MAX_BODY))
        )
        path = self.endpoint_path()
        kind = rng.randrange(3)
        if kind == 0:
            content = "x" * size
            body = json.dumps(
                {"project_id": "a", "messages": [{"role": "user", "content": content}]}
                if path == CHAT
                else {"project_id": "a", "prompt": content}
            ).encode()
        elif kind == 1:
            body = json.dumps("\u00e9" * (size // 2), ensure_ascii=False).encode()
        else:
            body = rng.randbytes(size)
        return FuzzRequest("huge", "POST", path, self.content_type(), body, may_drop=True)

    def deep(self) -> FuzzRequest:
        """Nesting from 10 to 100,000 levels, bare or inside an otherwise valid request."""
        rng = self.rng
        depth = rng.choice((10, 100, 500, 900, 950, 990, 999, 1000, 1001, 5000, 100_000))
        open_, close = rng.choice((("[", "]"), ('{"a":', "}")))
        nested = open_ * depth + '"x"' + close * depth
        where = rng.randrange(5)
        path = self.endpoint_path()
        if where == 0:
            text = nested
        elif where == 1:
            text = '{"project_id": "a", "messages": [{"role": "user", "content": "x"}], "extra": '
            text += nested + "}"
        elif where == 2:
            text = '{"project_id": "a", "messages": [{"role": "user", "content": [{"type": '
            text += '"text", "text": ' + nested + "}]}]}"
        elif where == 3:
            path = IMAGE
            text = '{"project_id": "a", "prompt": "p", "aspect_ratio": ' + nested + "}"
        else:
            path = "/__admin/scenarios"
            text = '{"endpoint": "any", "responses": [{"status": 429, "body": ' + nested + "}]}"
        return FuzzRequest("deep", "POST", path, self.content_type(), text.encode())

    def path(self) -> str:
        rng = self.rng
        base = rng.choice(
            (
                CHAT,
                IMAGE,
                "/healthz",
                "/openapi.json",
                "/images/0123456789abcdef-256x256.png",
                "/__admin/requests",
                "/__admin/scenarios",
                "/__admin/reset",
                "/",
                "",
            )
        )
        mutation = rng.randrange(16)
        if mutation == 0:
            return base + "?" + rng.choice(("a=1&a=2", "%zz", "x=" + "y" * 2000, "&&==", "#frag"))
        if mutation == 1:
            return base + "/"
        if mutation == 2:
            return base.replace("/", "//", 2)
        if mutation == 3:
            return base.upper()
        if mutation == 4:
            return base.replace("_", "%5F").replace("i", "%69")
        if mutation == 5:
            return rng.choice(
                (
                    "/images/../healthz",
                    "/images/..%2F..%2Fetc%2Fpasswd",
                    "/../../etc/passwd",
                    "/images/%2e%2e/%2e%2e/etc/passwd.png",
                    "/api/v1/inference/../../__admin/reset",
                    "/./healthz",
                    "/images/.png",
                )
            )
        if mutation == 6:
            return "/" + "%" + rng.choice(("", "0", "zz", "00", "ff", "c3", "e2%82"))
        if mutation == 7:
            return "/images/" + rng.choice(
                (
                    "0000000000000000-0x0.png",
                    "0000000000000000-999x999.png",
                    "0000000000000000-257x1.png",
                    "ffffffffffffffff-1x256.png",
                    "ffffffffffffffff-256x1.png",
                    "0123456789ABCDEF-1x1.png",
                    "0123456789abcdef-1x1",
                    "0123456789abcdef-1x1.png.png",
                    "%C3%A4.png",
                    "x" * 3000 + ".png",
                )
            )
        if mutation == 8:
            return "/" + "a" * rng.choice((100, 1000, 4000, 8000, 9000))
        if mutation == 9:
            chars = "abcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/%"
            return "/" + "".join(rng.choice(chars) for _ in range(rng.randint(0, 60)))
        if mutation == 10:
            return "/images/" + "".join(rng.choice("0123456789abcdef-x.") for _ in range(30))
        return base or "/"

    def paths(self) -> FuzzRequest:
        rng = self.rng
        method = rng.choice(_METHODS) if rng.random() < 0.85 else rng.choice(_ODD_METHODS)
        body = b""
        if rng.random() < 0.3:
            body = self.json_bytes(self.json_value())
        return FuzzRequest("paths", method, self.path(), self.content_type(), body)

    def fault_step(self) -> Any:
        """A fault step: quick valid parameters, or out-of-range and mistyped ones."""
        rng = self.rng
        kind = rng.choice(_FAULTS)
        if rng.random() < 0.3:
            return kind
        step: dict[str, Any] = {"fault": kind}
        if rng.random() < 0.6:  # valid and quick
            step.update(
                {
                    "garbage": {"size": rng.choice((1, 64, 65536))},
                    "truncated_body": {"keep_bytes": rng.choice((0, 1, 10**6))},
                    "delay": {"delay_ms": rng.choice((0, 5, 30))},
                    "dribble": {"chunks": rng.choice((1, 3, 500)), "duration_ms": 20},
                    "stream_cut": {"after_events": rng.choice((0, 1, 10**4))},
                    "stream_malformed": {"after_events": rng.choice((0, 2, 10**4))},
                }.get(kind, {})
            )
        else:
            name = rng.choice(
                ("size", "keep_bytes", "delay_ms", "chunks", "duration_ms", "after_events", "x")
            )
            step[name] = rng.choice((-1, 10**9, 1e400, "10", None, True, [], 0.5, 60_001))
        return step

    def step(self) -> Any:
        rng = self.rng
        pick = rng.randrange(10)
        if pick >= 8:
            return self.fault_step()
        if pick == 0:
            return rng.choice((200, 429, 402, 401, 403, 500, 502, 503, 504, 520, 100, 600, 0, -1))
        if pick == 1:
            step: dict[str, Any] = {"status": rng.choice((200, 204, 304, 404, 429, 500, 599))}
            if rng.random() < 0.5:
                step["body"] = self.json_value()
            if rng.random() < 0.3:
                step["headers"] = {
                    rng.choice(("Retry-After", "X-A", "Content-Length", "a b", "")): rng.choice(
                        ("0", "1", "a\r\nb", 5, None, [1])
                    )
                }
            return step
        if pick == 2:
            return {"reply": rng.choice((None, "A scripted answer.", 7, self.text()))}
        if pick == 3:
            return {"reply": "x", "status": 200}
        if pick == 4:
            return {"reply": None, "unknown": 1}
        return self.json_value()

    def admin(self) -> FuzzRequest:
        rng = self.rng
        pick = rng.randrange(10)
        if pick < 6:
            value: Any = {
                "endpoint": rng.choice(("chat", "image", "any", "x", None, 1)),
                "responses": [self.step() for _ in range(rng.randint(0, 3))],
            }
            if rng.random() < 0.3:
                value = self.break_one_field(value)
            return FuzzRequest(
                "admin", "POST", "/__admin/scenarios", self.content_type(), self.json_bytes(value)
            )
        if pick < 8:
            path = rng.choice(("/__admin/requests", "/__admin/scenarios"))
            return FuzzRequest("admin", rng.choice(("GET", "HEAD", "GET")), path)
        if pick == 8:
            return FuzzRequest("admin", "POST", "/__admin/reset", body=self.json_bytes(None))
        method = rng.choice(("PUT", "DELETE", "PATCH", "OPTIONS"))
        return FuzzRequest("admin", method, self.path())

    def directive_text(self) -> str:
        """``[[websim-mock: ...]]`` directives: valid (quick ones), broken, and look-alikes."""
        rng = self.rng
        valid = (
            "status=429 retry_after=0",
            "status=500",
            "status=200",
            "status=403",
            'reply="Exactly this."',
            "reply=word",
            "fault=connection_reset",
            "fault=garbage size=10",
            "fault=truncated_body",
            "fault=stream_cut after=1",
            "fault=stream_malformed",
            "fault=delay delay_ms=5",
            "fault=dribble chunks=3 duration_ms=10",
            "fault=empty_response",
        )
        broken = (
            "",
            "status=",
            "status=abc",
            "status=1e3",
            "status=99",
            "status=429 retry_after=1e309",
            "status=429 retry_after=-1",
            "fault=nope",
            "fault=delay delay_ms=1e400",
            "fault=delay delay_ms=-5",
            "fault=garbage size=0",
            "fault=stream_cut after=x",
            'reply="unterminated',
            'reply="\\ud800"',
            "reply=1 status=500",
            "status=500, fault=garbage",
            "a=b",
            "=",
            "status=500 status=429",
            "x" * 5000,
            "fault=" + "a" * 300,
            "\x00",
        )
        inner = rng.choice(valid) if rng.random() < 0.5 else rng.choice(broken)
        opening = rng.choice(
            ("[[websim-mock:", "[[websim-mock: ", "  [[ WEBSIM-MOCK :", "[[websim-mock")
        )
        closing = rng.choice(("]]", "]]", "]", "", "]] ]]"))
        return f"{opening}{inner}{closing}{rng.choice(('', ' Hello', chr(10) + 'more'))}"

    def directive(self) -> FuzzRequest:
        rng = self.rng
        path = self.endpoint_path()
        body = self.request_body(path)
        text = self.directive_text()
        if path == IMAGE:
            body["prompt"] = text
        elif rng.random() < 0.2:
            body["messages"][-1] = {"role": "user", "content": [{"type": "text", "text": text}]}
        else:
            body["messages"][-1] = {"role": "user", "content": text}
        return FuzzRequest("directive", "POST", path, self.content_type(), self.json_bytes(body))

    def header_pair(self) -> tuple[str, str]:
        rng = self.rng
        name = rng.choice(
            (
                "Accept",
                "Accept-Encoding",
                "Host",
                "Origin",
                "Referer",
                "User-Agent",
                "Cookie",
                "Authorization",
                "Range",
                "If-None-Match",
                "Expect",
                "X-Websim-Cassette",
                "Retry-After",
                "Transfer-Encoding",
                "Connection",
                "websim-flags;",
                "".join(rng.choice(_HEADER_NAME_CHARS) for _ in range(rng.randint(1, 30))),
            )
        )
        if name == "Host":
            value = rng.choice(("", "x", "[::1]:80", "a" * 300, "evil.example:99999", "h:p"))
        elif name == "Expect":
            value = rng.choice(("100-continue", "nonsense"))
        elif name == "Transfer-Encoding":
            value = rng.choice(("identity", "gzip", "x"))
        elif name == "Connection":
            value = rng.choice(("close", "keep-alive", "upgrade", "x"))
        elif name == "Range":
            value = rng.choice(("bytes=0-10", "bytes=-1", "bytes=99999999-", "x"))
        else:
            size = rng.choice((0, 1, 10, 100, 4000))
            value = "".join(rng.choice(_VALUE_CHARS) for _ in range(size)).strip()
        return name, value

    def headers_family(self) -> FuzzRequest:
        """A real request with odd headers: many, long, repeated, unusual names and values."""
        rng = self.rng
        path = self.endpoint_path() if rng.random() < 0.8 else self.path()
        headers = [self.header_pair() for _ in range(rng.choice((1, 3, 10, 60)))]
        headers.extend(self.content_type())
        body = json.dumps(self.request_body(path)).encode() if path in (CHAT, IMAGE) else b""
        # Transfer-Encoding and Connection are aiohttp's to set; an Expect without a body waits.
        for name, _ in headers:
            if name.lower() in ("transfer-encoding", "connection", "expect"):
                return FuzzRequest("headers", "POST", path, tuple(headers), body, may_drop=True)
        return FuzzRequest("headers", "POST", path, tuple(headers), body)

    def raw(self) -> FuzzRequest:
        """Malformed or unusual HTTP/1.x, written byte for byte to a socket."""
        rng = self.rng
        body = json.dumps(self.chat_body()).encode()
        ok_head = f"POST {CHAT} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        length = f"Content-Length: {len(body)}\r\n"
        chunked = "Transfer-Encoding: chunked\r\n"

        def chunks(data: bytes, size: int = 17) -> bytes:
            out = b"".join(
                b"%x\r\n%s\r\n" % (len(data[i : i + size]), data[i : i + size])
                for i in range(0, len(data), size)
            )
            return out + b"0\r\n\r\n"

        cases: list[bytes] = [
            rng.randbytes(rng.choice((1, 16, 200, 5000))),
            b"GET /healthz\r\n\r\n",  # HTTP/0.9 style
            b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
            b"GET /healthz HTTP/1.0\r\n\r\n",
            b"get /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GE T /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
            b"G\x00ET /healthz HTTP/1.1\r\n\r\n",
            b"GET http://127.0.0.1/healthz HTTP/1.1\r\nHost: x\r\n\r\n",
            b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
            b"CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /images/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /\xc3\xa4\xff HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /" + b"a" * rng.choice((9000, 100_000)) + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /healthz HTTP/1.1\nHost: x\n\n",  # bare LF
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\n" + b"X-N: v\r\n" * 200 + b"\r\n",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n : empty name\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            (ok_head + "websim-flags;: \r\n" + length + "\r\n").encode() + body,
            (ok_head + "Bad Name\u00e9: v\r\n" + length + "\r\n").encode() + body,
            (ok_head + "Content-Length: -1\r\n\r\n").encode() + body,
            (ok_head + "Content-Length: abc\r\n\r\n").encode() + body,
            (ok_head + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n").encode() + body,
            (ok_head + "Content-Length: 99999999999999999999\r\n\r\n").encode() + body,
            (ok_head + length + chunked + "\r\n").encode() + chunks(body),
            (ok_head + chunked + "\r\n").encode() + chunks(body),
            (ok_head + chunked + "\r\n").encode() + chunks(body, 1),
            (ok_head + chunked + "\r\n").encode() + b"zz\r\nabc\r\n0\r\n\r\n",
            (ok_head + chunked + "\r\n").encode()
            + b"5;ext=1\r\nabcde\r\n0\r\nX-Trailer: 1\r\n\r\n",
            (ok_head + chunked + "\r\n").encode() + b"ffffffffffffffffff\r\nabc\r\n0\r\n\r\n",
            (ok_head + "Transfer-Encoding: gzip, chunked\r\n\r\n").encode() + chunks(_gzip(body)),
            (ok_head + "Transfer-Encoding: chunked, gzip\r\n\r\n").encode() + chunks(body),
            (ok_head + "Content-Encoding: gzip\r\n" + chunked + "\r\n").encode()
            + chunks(_gzip(body)),
            (ok_head + "Expect: 100-continue\r\n" + length + "\r\n").encode() + body,
            (ok_head + length + "\r\n").encode()
            + body
            + (ok_head + length + "\r\n").encode()
            + body,
            (ok_head + length + "\r\n").encode() + body + b"GARBAGE\r\n\r\n",
            (ok_head + length + "\r\n").encode() + body[: len(body) // 2],  # short body, then hang
            (ok_head + chunked + "\r\n").encode() + chunks(body)[:30],  # cut chunked body
            (f"GET {CHAT} HTTP/1.1\r\nHost: x\r\n" + length + "\r\n").encode() + body,
            (f"HEAD {IMAGE} HTTP/1.1\r\nHost: x\r\n\r\n").encode(),
            b"POST /__admin/scenarios HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n[1]",
        ]
        return FuzzRequest("raw", raw=rng.choice(cases), may_drop=True)


# --- the server, with a tap on its journal --------------------------------------------------------


class _TapJournal(Journal):
    """The server's journal, also remembering ``x-fuzz-id -> (status, source)`` for every request.

    The tap survives ``/__admin/reset`` (which the fuzz also sends), so every 5xx answer can be
    told apart: scripted by the fuzz (``source == "script"``) or the server's own.
    """

    def __init__(self, maxlen: int, max_body: int) -> None:
        super().__init__(maxlen, max_body)
        self.seen: dict[int, tuple[int, str]] = {}
        self.sources: Counter[str] = Counter()

    def add(self, fields: Recorded) -> int:
        entry_id = super().add(fields)
        status, source = fields[6], fields[9]
        self.sources[source] += 1
        for name, value in fields[3]:
            if name.lower() == FUZZ_ID.encode():
                with contextlib.suppress(ValueError):
                    self.seen[int(value)] = (status, source)
        return entry_id


class _LogTrap(logging.Handler):
    """Every record at WARNING or above; aiohttp's notes on unparseable requests kept apart."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.bad_http = 0
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        if (
            record.name == "aiohttp.server"
            and record.getMessage().startswith("Error handling request")
            and isinstance(exc, HttpProcessingError)
        ):
            self.bad_http += 1  # answered 400 by aiohttp: malformed HTTP, not a handler error
            return
        self.records.append(record)


@dataclass
class FuzzServer:
    """A mock server (the public ``build_app`` + ``serve``) whose journal is tapped."""

    journal_size: int = 1000
    misbehaviour: bool = False
    seed: int = 0
    state: MockState = field(init=False)
    tap: _TapJournal = field(init=False)
    url: str = ""
    _runner: web.AppRunner | None = None
    _server: Listener | None = None

    async def start(self) -> FuzzServer:
        options: dict[str, Any] = {}
        if self.misbehaviour:
            options = {
                "directives": True,
                "rate_limit": "2000/s",
                "rate_burst": 200,
                "chaos": 0.03,
                "seed": self.seed,
            }
        config = MockConfig(journal_size=self.journal_size, journal_body_bytes=256, **options)
        self.state = MockState(config)
        self.tap = _TapJournal(self.journal_size, 256)
        self.state.journal = self.tap
        self._runner = web.AppRunner(build_app(self.state), access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        server = await serve(self._runner, "127.0.0.1", 0)
        self._server = server
        port = server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.state.public_url = self.url
        return self

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._server is not None:
            await self._server.wait_closed()


# --- sending --------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What came back for one request: a status, or ``None`` with what happened instead."""

    status: int | None
    problem: str = ""


async def _send_http(
    session: aiohttp.ClientSession, base: str, req: FuzzRequest, n: int
) -> Outcome:
    headers = [*req.headers, (FUZZ_ID, str(n))]
    names = {name.lower() for name, _ in req.headers}
    skip = [h for h in ("Content-Type", "Accept-Encoding", "User-Agent") if h.lower() not in names]
    url = URL(base + req.path, encoded=True)
    # aiohttp warns (ResourceWarning) about a large bytes body; a file-like one it streams.
    data: bytes | io.BytesIO | None = req.body or None
    if len(req.body) > 256 * 1024:
        data = io.BytesIO(req.body)
    try:
        async with session.request(
            req.method,
            url,
            data=data,
            headers=headers,
            skip_auto_headers=skip,
            allow_redirects=False,
        ) as response:
            await response.read()
            return Outcome(response.status)
    except aiohttp.ClientResponseError as exc:  # bytes aiohttp's client cannot take as HTTP
        return Outcome(None, f"bad-response:{type(exc).__name__}")
    except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
        if isinstance(exc, asyncio.TimeoutError):
            return Outcome(None, "timeout")
        return Outcome(None, f"dropped:{type(exc).__name__}")
    except asyncio.TimeoutError:
        return Outcome(None, "timeout")


async def _read_first_response(reader: asyncio.StreamReader, head_only: bool) -> int | None:
    """The status of the first final (non-1xx) response; reads it whole. None at EOF."""
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        status_line, _, rest = head.partition(b"\r\n")
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise ValueError(f"not an HTTP response: {status_line[:80]!r}")
        status = int(parts[1])
        if 100 <= status < 200:
            continue
        headers = {}
        for line in rest.split(b"\r\n"):
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip().lower()
        if head_only or status in (204, 304):
            return status
        if b"content-length" in headers:
            await reader.readexactly(int(headers[b"content-length"]))
        elif headers.get(b"transfer-encoding") == b"chunked":
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await reader.readexactly(size + 2)
                if size == 0:
                    break
        else:
            await reader.read()  # until the server closes
        return status


async def _send_raw(port: int, req: FuzzRequest, n: int, wait: float) -> Outcome:
    assert req.raw is not None
    data = req.raw
    # Tag requests whose head is well-formed enough to reach the journal.
    line_end = data.find(b"\r\n")
    if 0 < line_end < 200 and data[:line_end].endswith(b"HTTP/1.1"):
        data = data[: line_end + 2] + b"%s: %d\r\n" % (FUZZ_ID.encode(), n) + data[line_end + 2 :]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        with contextlib.suppress(ConnectionError):
            writer.write(data)
            await writer.drain()
        head_only = data.startswith(b"HEAD ")
        try:
            status = await asyncio.wait_for(_read_first_response(reader, head_only), wait)
        except asyncio.TimeoutError:
            # The server is waiting for bytes that will never come (a short body): our hang-up.
            return Outcome(None, "waiting")
        except (ConnectionError, asyncio.IncompleteReadError):
            return Outcome(None, "dropped:raw")
        except ValueError:
            return Outcome(None, "bad-response:raw")
        return Outcome(status) if status is not None else Outcome(None, "closed")
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


# --- the run ----------------------------------------------------------------------------------------


@dataclass
class FuzzReport:
    requests: int = 0
    seed: int = 0
    seconds: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)
    families: Counter[str] = field(default_factory=Counter)
    arranged_5xx: int = 0
    failures: list[str] = field(default_factory=list)
    handler_errors: list[str] = field(default_factory=list)
    error_logs: list[str] = field(default_factory=list)
    loop_errors: list[str] = field(default_factory=list)
    aiohttp_bad_http_logs: int = 0
    arranged_drops: int = 0
    # Requests without an answer where that is the server's right, by family (see may_drop).
    allowed_drops: Counter[str] = field(default_factory=Counter)
    misbehaviour: bool = False
    journal_sources: Counter[str] = field(default_factory=Counter)
    healthz: int | None = None

    @property
    def server_5xx(self) -> int:
        return sum(1 for f in self.failures if f.startswith("5xx"))

    @property
    def ok(self) -> bool:
        return (
            not self.failures
            and not self.handler_errors
            and not self.error_logs
            and not self.loop_errors
            and self.healthz == 200
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "seed": self.seed,
            "seconds": round(self.seconds, 2),
            "rps": round(self.requests / self.seconds) if self.seconds else None,
            "statuses": dict(sorted(self.statuses.items())),
            "families": dict(sorted(self.families.items())),
            "server_5xx": self.server_5xx,
            "arranged_5xx": self.arranged_5xx,
            "arranged_drops": self.arranged_drops,
            "allowed_drops": dict(self.allowed_drops),
            "misbehaviour": self.misbehaviour,
            "failures": self.failures[:50],
            "handler_errors": self.handler_errors,
            "error_logs": self.error_logs[:50],
            "loop_errors": self.loop_errors[:50],
            "aiohttp_bad_http_logs": self.aiohttp_bad_http_logs,
            "journal_sources": dict(self.journal_sources),
            "healthz": self.healthz,
            "ok": self.ok,
        }

    def summary(self) -> str:
        lines = [
            f"fuzz: {self.requests} requests, seed {self.seed}"
            f"{', misbehaviour on' if self.misbehaviour else ''}, {self.seconds:.1f} s "
            f"({self.requests / max(self.seconds, 1e-9):.0f} req/s)",
            "statuses: " + ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items())),
            "families: " + ", ".join(f"{k}: {v}" for k, v in sorted(self.families.items())),
            f"server 5xx: {self.server_5xx}; arranged (scripted, directive, chaos) 5xx: "
            f"{self.arranged_5xx}, dropped connections: {self.arranged_drops}; "
            "no answer, as the server may (over the limit, bad HTTP, a body never sent): "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.allowed_drops.items()))
            + f"; handler errors: {len(self.handler_errors)}; "
            f"error logs: {len(self.error_logs)}; loop errors: {len(self.loop_errors)}; "
            f"aiohttp 400s logged for bad HTTP: {self.aiohttp_bad_http_logs}",
            "journal sources: "
            + ", ".join(f"{k}: {v}" for k, v in sorted(self.journal_sources.items())),
            f"/healthz at the end: {self.healthz}",
        ]
        lines += [f"FAIL {f}" for f in self.failures[:20]]
        lines += [f"HANDLER ERROR {e}" for e in self.handler_errors[:20]]
        lines += [f"ERROR LOG {e}" for e in self.error_logs[:20]]
        lines += [f"LOOP ERROR {e}" for e in self.loop_errors[:20]]
        lines.append("OK" if self.ok else "FAILED")
        return "\n".join(lines)


def _describe(req: FuzzRequest) -> str:
    if req.raw is not None:
        return f"raw {req.raw[:80]!r}"
    return f"{req.method} {req.path[:80]} {dict(req.headers)!r:.120} body {req.body[:80]!r}"


def generate(count: int, seed: int) -> Iterator[FuzzRequest]:
    gen = Generator(seed)
    for _ in range(count):
        yield gen.next()


async def run_fuzz(
    requests: int = 10_000,
    *,
    seed: int = 1,
    concurrency: int = 8,
    timeout: float = 30.0,
    raw_wait: float = 0.5,
    misbehaviour: bool = False,
    progress: bool = False,
) -> FuzzReport:
    """Send ``requests`` generated requests to a fresh in-process server; the report says how."""
    report = FuzzReport(requests=requests, seed=seed, misbehaviour=misbehaviour)
    trap = _LogTrap()
    root = logging.getLogger()
    root.addHandler(trap)
    loop = asyncio.get_running_loop()
    previous_handler = loop.get_exception_handler()

    def on_loop_error(_: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        report.loop_errors.append(f"{context.get('message')}: {context.get('exception')!r}")

    loop.set_exception_handler(on_loop_error)
    server = await FuzzServer(journal_size=1000, misbehaviour=misbehaviour, seed=seed).start()
    queue: asyncio.Queue[tuple[int, FuzzRequest] | None] = asyncio.Queue(maxsize=concurrency * 2)
    outcomes: list[tuple[int, FuzzRequest, Outcome]] = []
    start = time.perf_counter()
    try:
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=timeout),
            auto_decompress=True,
        ) as session:

            async def worker() -> None:
                while (item := await queue.get()) is not None:
                    n, req = item
                    try:
                        if req.raw is not None:
                            outcome = await _send_raw(server.port, req, n, raw_wait)
                        else:
                            outcome = await _send_http(session, server.url, req, n)
                    except Exception as exc:  # a bug of the fuzz's own, or of the client
                        outcome = Outcome(None, f"client-error:{type(exc).__name__}: {exc}")
                    outcomes.append((n, req, outcome))

            workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
            for n, req in enumerate(generate(requests, seed), 1):
                await queue.put((n, req))
                if progress and n % 1000 == 0:
                    print(f"  {n} sent, {time.perf_counter() - start:.1f} s", file=sys.stderr)
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers)
            report.seconds = time.perf_counter() - start
            async with session.get(server.url + "/healthz") as response:
                report.healthz = response.status
        # Connections the server is still closing may still log: let them finish.
        await asyncio.sleep(0.05)
    finally:
        await server.close()
        loop.set_exception_handler(previous_handler)
        root.removeHandler(trap)

    tapped = server.tap.seen
    for n, req, outcome in outcomes:
        report.families[req.family] += 1
        # Answers the fuzz arranged (a scripted step, a directive) or chaos drew may be 5xx or
        # a dropped connection; the journal tap says which requests got one.
        arranged = tapped.get(n, (0, ""))[1] in _ARRANGED
        if outcome.status is None:
            report.statuses[outcome.problem.split(":")[0]] += 1
            if arranged and outcome.problem != "timeout":
                report.arranged_drops += 1
                continue
            allowed = req.may_drop or (
                # aiohttp's own 400 to a HEAD line it cannot parse carries a body
                outcome.problem.startswith("bad-response") and req.method == "HEAD"
            )
            if outcome.problem.startswith(("timeout", "client-error")) or not allowed:
                report.failures.append(f"{outcome.problem} #{n}: {_describe(req)}")
            else:
                report.allowed_drops[f"{req.family}:{outcome.problem.split(':')[0]}"] += 1
            continue
        report.statuses[str(outcome.status)] += 1
        if outcome.status >= 500:
            if arranged:
                report.arranged_5xx += 1
            else:
                report.failures.append(f"5xx {outcome.status} #{n}: {_describe(req)}")
    report.handler_errors = [f"{type(e).__name__}: {e}" for e in server.state.errors]
    report.error_logs = [f"{r.name}: {r.getMessage()[:300]}" for r in trap.records]
    report.aiohttp_bad_http_logs = trap.bad_http
    report.journal_sources = server.tap.sources
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--misbehaviour",
        action="store_true",
        help="serve with directives, a rate limit (2000/s) and chaos (3%%) on",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the report as JSON here")
    args = parser.parse_args(argv)
    report = asyncio.run(
        run_fuzz(
            args.requests,
            seed=args.seed,
            concurrency=args.concurrency,
            misbehaviour=args.misbehaviour,
            progress=True,
        )
    )
    print(report.summary())
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(report.to_json(), out, indent=1)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
