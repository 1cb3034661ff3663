"""The exception tree and the status mapping: total over statuses and bodies, documented classes."""

from __future__ import annotations

import http
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import bodies, content_types

import websim_core.errors as errors_module
from websim_core.errors import (
    CloudflareError,
    InvalidRequestError,
    MissingAuthError,
    RateLimitError,
    ResponseFormatError,
    ResponseStatusError,
    UnexpectedRedirectError,
    WebsimConnectionError,
    WebsimError,
    WebsimTimeoutError,
    error_for_status,
    is_cloudflare_page,
    is_html,
    status_message,
)

CLOUDFLARE_PAGE = (
    "<!DOCTYPE html><html lang='en-US'><head><title>Just a moment...</title></head>"
    "<body><div id='cf-wrapper'>Checking your browser</div>"
    "<script src='/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1'></script></body></html>"
)
PLAIN_HTML = "<!doctype html><html><body><h1>Forbidden</h1></body></html>"

# The tree of the module docstring, child -> parent.
TREE = {
    InvalidRequestError: WebsimError,
    ResponseStatusError: WebsimError,
    RateLimitError: ResponseStatusError,
    MissingAuthError: ResponseStatusError,
    CloudflareError: ResponseStatusError,
    UnexpectedRedirectError: ResponseStatusError,
    ResponseFormatError: WebsimError,
    WebsimConnectionError: WebsimError,
    WebsimTimeoutError: WebsimError,
}

headers_st = st.one_of(
    st.none(),
    st.builds(lambda ct: {"Content-Type": ct}, st.text(max_size=20)),
    st.just({"content-type": "text/html; charset=utf-8"}),
    st.just({"Content-Type": "application/json"}),
)


@pytest.mark.parametrize(("child", "parent"), TREE.items())
def test_the_documented_tree(child: type[Exception], parent: type[Exception]) -> None:
    assert child.__bases__[0] is parent
    assert (child.__doc__ or "").strip()
    # The tree drawn in the module docstring names this class under its parent.
    assert child.__name__ in (errors_module.__doc__ or "")


def test_every_error_class_is_in_the_tree() -> None:
    classes = {
        obj
        for obj in vars(errors_module).values()
        if isinstance(obj, type)
        and issubclass(obj, Exception)
        and obj.__module__ == errors_module.__name__
    }
    assert classes == {WebsimError, *TREE}


def test_invalid_request_is_also_a_value_error_and_names_the_field() -> None:
    error = InvalidRequestError("messages[0].role", "is missing")
    assert isinstance(error, ValueError)
    assert (error.field, error.problem) == ("messages[0].role", "is missing")
    assert str(error) == "invalid messages[0].role: is missing"


@given(status=st.integers(100, 599), body=st.one_of(bodies, st.text()), headers=headers_st)
def test_status_mapping_is_total_and_picks_the_documented_class(
    status: int, body: bytes | str, headers: dict[str, str] | None
) -> None:
    error = error_for_status(status, body, headers, retry_after=7.0)
    if 200 <= status < 300:
        assert error is None
        return
    assert isinstance(error, ResponseStatusError)
    assert error.status == status
    assert str(error) == f"Response {status}: {error.message}"
    assert error.message
    assert "\n" not in error.message
    assert len(error.message) <= 300
    raw = body.encode() if isinstance(body, str) else body
    assert error.body == raw
    text = raw.decode("utf-8", "replace")
    if status in (429, 402, 504):
        assert type(error) is RateLimitError
        assert error.retry_after == 7.0
    elif status == 401:
        assert type(error) is MissingAuthError
    elif status == 403 and is_cloudflare_page(text):
        assert type(error) is CloudflareError
    elif 300 <= status < 400:
        assert type(error) is UnexpectedRedirectError
        return
    else:
        assert type(error) is ResponseStatusError
    content_type = None if headers is None else next(iter(headers.values()))
    if status == 502:
        assert error.message == "Bad Gateway"
    elif status == 520:
        assert error.message == "Unknown error (Cloudflare)"
    elif status not in (504,) and not (status == 403 and is_cloudflare_page(text)):
        assert error.message == status_message(status, raw, content_type)


@given(status=st.integers(), body=st.binary(max_size=32))
def test_status_mapping_is_total_over_every_integer(status: int, body: bytes) -> None:
    error = error_for_status(status, body)
    assert (error is None) == (200 <= status < 300)


@given(body=st.text(st.characters(categories=["Cs", "L"]), max_size=8))
def test_str_bodies_with_lone_surrogates_do_not_break_the_mapping(body: str) -> None:
    error = error_for_status(500, body)
    assert isinstance(error, ResponseStatusError)
    assert isinstance(error.body, bytes)


@pytest.mark.parametrize(
    ("status", "body", "cls", "message"),
    [
        (429, "Rate limit exceeded", RateLimitError, "Rate limit exceeded"),
        (402, '{"error": "quota used up"}', RateLimitError, "quota used up"),
        (504, "<html>gateway</html>", RateLimitError, "Gateway Timeout"),
        (401, '{"message": "login first"}', MissingAuthError, "login first"),
        (403, CLOUDFLARE_PAGE, CloudflareError, "Cloudflare detected"),
        (403, PLAIN_HTML, ResponseStatusError, "HTML content"),
        (403, "Forbidden", ResponseStatusError, "Forbidden"),
        (502, "<html>whatever</html>", ResponseStatusError, "Bad Gateway"),
        (520, "", ResponseStatusError, "Unknown error (Cloudflare)"),
        (500, '{"error": {"message": "boom", "code": 1}}', ResponseStatusError, "boom"),
        (500, '{"error": "", "message": "fallback"}', ResponseStatusError, "fallback"),
        (500, '{"error": null, "message": "fallback"}', ResponseStatusError, "fallback"),
        (500, '{"error": {"code": 7}}', ResponseStatusError, '{"code": 7}'),
        (500, '{"error": 42}', ResponseStatusError, "42"),
        (500, "", ResponseStatusError, "Internal Server Error"),
        (599, "  ", ResponseStatusError, "Unknown status"),
        (500, "line one\n\n  line\ttwo  ", ResponseStatusError, "line one line two"),
        (404, "[[[" * 10_000, ResponseStatusError, ("[[[" * 100)[:297] + "..."),
    ],
)
def test_documented_statuses(
    status: int, body: str, cls: type[ResponseStatusError], message: str
) -> None:
    error = error_for_status(status, body.encode())
    assert type(error) is cls
    assert error is not None
    assert error.message == message
    assert str(error) == f"Response {status}: {message}"


def test_content_type_html_means_html_content_whatever_the_body() -> None:
    error = error_for_status(500, b"oops", {"Content-Type": "text/html; charset=utf-8"})
    assert error is not None
    assert error.message == "HTML content"
    error = error_for_status(500, b"oops", {"content-type": "text/plain"})
    assert error is not None
    assert error.message == "oops"


@given(status=st.integers(100, 599), body=bodies, content_type=content_types)
def test_status_message_is_total_and_one_bounded_line(
    status: int, body: bytes, content_type: str | None
) -> None:
    message = status_message(status, body, content_type)
    assert isinstance(message, str)
    assert message
    assert message == " ".join(message.split())
    assert len(message) <= 300


@given(error=st.text(min_size=1).filter(str.strip), key=st.sampled_from(["error", "message"]))
def test_json_error_or_message_is_extracted(error: str, key: str) -> None:
    body = json.dumps({key: error, "other": 1}).encode()
    expected = " ".join(error.split())
    if len(expected) > 300:
        expected = expected[:297] + "..."
    assert status_message(400, body) == expected


@given(status=st.sampled_from([s.value for s in http.HTTPStatus if s.value >= 400]))
def test_empty_body_gives_the_reason_phrase(status: int) -> None:
    assert status_message(status, b"") == http.HTTPStatus(status).phrase


@pytest.mark.parametrize(
    ("text", "content_type", "expected"),
    [
        ("<!DOCTYPE html><html></html>", None, True),
        ("\n  <html><body>x</body></html>", None, True),
        ("<HTML>", None, True),
        ("{}", "text/html", True),
        ("{}", " Text/HTML ; charset=utf-8", True),
        ("<div>not a page</div>", None, False),
        ('{"a": 1}', "application/json", False),
        ("", None, False),
    ],
)
def test_is_html(text: str, content_type: str | None, expected: bool) -> None:
    assert is_html(text, content_type) is expected


@pytest.mark.parametrize(
    "marker",
    ["Just a moment...", 'id="cf-wrapper"', "cf_chl_opt", "challenge-platform", "cf-chl-x"],
)
def test_cloudflare_markers(marker: str) -> None:
    assert is_cloudflare_page(f"<html>{marker}</html>")
    error = error_for_status(403, f"<html>{marker}</html>".encode())
    assert type(error) is CloudflareError


def test_a_cloudflare_page_under_another_status_is_not_a_cloudflare_error() -> None:
    error = error_for_status(500, CLOUDFLARE_PAGE.encode())
    assert type(error) is ResponseStatusError
    assert error is not None
    assert error.message == "HTML content"


def test_message_is_never_multiline_even_from_json() -> None:
    error = error_for_status(500, json.dumps({"error": "a\nb\r\nc"}).encode())
    assert error is not None
    assert error.message == "a b c"
    assert re.fullmatch(r"Response 500: a b c", str(error))


@pytest.mark.parametrize("status", [300, 301, 302, 303, 304, 307, 308, 399])
@pytest.mark.parametrize("key", ["Location", "location"])
def test_a_redirect_is_an_error_naming_status_and_location(status: int, key: str) -> None:
    error = error_for_status(status, b"moved", {key: "https://elsewhere.test/x?y=1"})
    assert type(error) is UnexpectedRedirectError
    assert isinstance(error, ResponseStatusError)
    assert error.location == "https://elsewhere.test/x?y=1"
    assert error.body == b"moved"
    assert str(error) == (
        f"Response {status}: redirect to https://elsewhere.test/x?y=1 not followed"
    )


def test_a_redirect_without_location_or_with_a_hostile_one_stays_one_short_line() -> None:
    error = error_for_status(302, b"")
    assert str(error) == "Response 302: redirect with no Location not followed"
    long = "https://x.test/" + "a\tb " * 500
    error = error_for_status(307, b"", {"Location": long})
    assert isinstance(error, UnexpectedRedirectError)
    assert error.location == long  # the attribute keeps it whole
    assert "\t" not in error.message
    assert len(error.message) <= 300
