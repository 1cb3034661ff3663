"""What the record proxy writes always passes the checker: a secret planted anywhere a request or
response can carry it (headers, query, JSON keys at any depth, body text, stream events cut
anywhere) is gone from the written cassette, and ``check`` finds nothing."""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import chat_ids

from websim_cassettes import check_file, load_cassette, provenance
from websim_cassettes.append import CassetteLog
from websim_cassettes.capture import BodyTooLarge, capture, decoded_body
from websim_cassettes.secrets import find_secrets, is_sensitive_name, stream_text
from websim_core.routing import CHAT_PATH
from websim_core.sse import encode_delta

# Names whose values are credentials, in the spellings real APIs use.
SECRET_NAMES = (
    "Authorization",
    "Authentication",
    "Ocp-Apim-Subscription-Key",
    "X-Api-Key",
    "x-auth-token",
    "accessToken",
    "access_token",
    "clientSecret",
    "client_secret",
    "sessionid",
    "sig",
    "password",
    "refreshToken",
    "privateKey",
)
# A secret value inside text whose shape gives it away, whatever surrounds it.
SHAPES = (
    "sk-{}",
    "sk_live_{}",
    "hf_{}",
    "glpat-{}",
    "ghp_{}{}",
    "Bearer {}",
    "token={}",
    "-----BEGIN PRIVATE KEY-----\nMII{}\n-----END PRIVATE KEY-----",
    "-----BEGIN RSA PRIVATE KEY-----\n{}",
)

BLOCK = provenance(recorded_against="upstream", base_url="https://websim.ai")
values = st.text(
    "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz23456789", min_size=20, max_size=28
)
names = st.sampled_from(SECRET_NAMES)
shapes = st.sampled_from(SHAPES)


def _shaped(shape: str, value: str) -> str:
    return shape.format(value, value)


@st.composite
def nested(draw: st.DrawFn, name: str, value: Any) -> Any:
    """``{name: value}`` at a drawn depth inside objects and lists."""
    node: Any = {name: value}
    for _ in range(draw(st.integers(0, 4))):
        node = {"inner": node} if draw(st.booleans()) else [node]
    return node


@st.composite
def exchanges(draw: st.DrawFn) -> tuple[tuple[Any, ...], list[str]]:
    """A chat exchange with generated secrets planted everywhere, and the planted values."""
    planted = draw(st.lists(values, min_size=8, max_size=8, unique=True))
    header_name, query_name, key_name, answer_key, answer_header = (draw(names) for _ in range(5))
    streamed = draw(st.booleans())
    request_body = {
        "project_id": draw(chat_ids),
        "messages": [{"role": "user", "content": f"use {_shaped(draw(shapes), planted[0])} ok"}],
        "metadata": draw(nested(key_name, planted[1])),
        **({"stream": True} if streamed else {}),
    }
    headers = {
        "content-type": "text/plain;charset=UTF-8",
        header_name: planted[2],
        "X-Custom": f"token={planted[3]}",
    }
    url = f"https://websim.ai{CHAT_PATH}?{query_name}={planted[4]}&key=AIza{planted[5][:20]}{'x' * 15}"
    answer_text = f"here: {_shaped(draw(shapes), planted[6])} done"
    if streamed:
        cuts = sorted(draw(st.lists(st.integers(0, len(answer_text)), max_size=6)))
        pieces = [
            answer_text[a:b] for a, b in zip([0, *cuts], [*cuts, len(answer_text)], strict=True)
        ]
        body = b"".join(encode_delta(p) for p in pieces) + b"data: [DONE]\n\n"
        media = "text/event-stream"
    else:
        answer = {"content": answer_text, "usage": draw(nested(answer_key, planted[7]))}
        body = json.dumps(answer).encode()
        media = "application/json"
    response_headers = [
        ("Content-Type", media),
        (answer_header, planted[7]),
        ("X-Custom", f"token={planted[3]}"),
    ]
    if draw(st.booleans()):
        body = gzip.compress(body, mtime=0)
        response_headers.append(("Content-Encoding", "gzip"))
    request = (headers, json.dumps(request_body).encode())
    return ("POST", url, request, (200, "OK"), (response_headers, body)), planted


@given(exchanges())
def test_what_the_proxy_writes_passes_the_checker_and_holds_no_planted_secret(
    case: tuple[tuple[Any, ...], list[str]],
) -> None:
    exchange, planted = case
    interaction = capture(*exchange, max_body=1 << 20)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "planted.yaml"
        log = CassetteLog(path, BLOCK)
        log.add(interaction)
        path.write_text(log.text(), encoding="utf-8")
        assert [f.line() for f in check_file(path, require_provenance=True)] == []
        text = path.read_text(encoding="utf-8")
        joined = stream_text(load_cassette(path).interactions[0].response.body) or ""
    for value in planted:
        assert value not in text
        assert value not in joined


@pytest.mark.parametrize(
    ("name", "sensitive"),
    [
        ("Authentication", True),
        ("Ocp-Apim-Subscription-Key", True),
        ("accessToken", True),
        ("clientSecret", True),
        ("sessionid", True),
        ("sig", True),
        ("key", False),
        ("monkey", False),
        ("author", False),
        ("max_tokens", False),
        ("design", False),
    ],
)
def test_names_are_judged_word_by_word(name: str, sensitive: bool) -> None:
    assert is_sensitive_name(name) is sensitive


def test_a_private_key_loses_its_key_material() -> None:
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
    interaction = capture(
        "POST",
        f"https://websim.ai{CHAT_PATH}",
        ({}, json.dumps({"note": pem}).encode()),
        (200, "OK"),
        ([], b"{}"),
        max_body=1 << 20,
    )
    assert b"MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" not in interaction.request.body
    assert find_secrets(interaction.request.body.decode()) == []


def test_a_gzip_bomb_is_refused_after_decoding_no_more_than_the_limit() -> None:
    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024))
    assert len(bomb) < 100 * 1024
    with pytest.raises(BodyTooLarge, match="over 1048576 bytes decoded"):
        decoded_body(bomb, "gzip", 1 << 20)
    assert decoded_body(gzip.compress(b"small"), "gzip", 1 << 20) == (b"small", True)
    assert decoded_body(b"not gzip", "gzip", 1 << 20) == (b"not gzip", False)


def test_each_secret_pattern_is_skipped_only_when_its_literal_is_absent() -> None:
    from websim_cassettes.secrets import _LITERALS, SECRET_PATTERNS

    assert {kind for kind, _ in SECRET_PATTERNS} == set(_LITERALS)
    samples = [_shaped(shape, "Abcdefghij0123456789xyzAB") for shape in SHAPES]
    samples += ["AKIAABCDEFGHIJKLMNOP", "AIza" + "x" * 35, "xoxb-1234567890-abcdefghij"]
    samples += ["eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N"]
    samples += ["Basic dXNlcjpwYXNzd29yZA==", "github_pat_" + "a" * 30, "pk_test_abcdefghijkl"]
    for kind, pattern in SECRET_PATTERNS:
        for sample in samples:
            for match in pattern.finditer(sample):
                assert any(literal in match.group(0) for literal in _LITERALS[kind]), kind
