"""Request building and response parsing: the image prompt rule against a reference, every
validator naming the field, and every parser total (a value or its one documented exception)."""

from __future__ import annotations

import json
import random
import re
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from strategies import (
    api_objects,
    aspect_ratios,
    bodies,
    chat_ids,
    content_types,
    contents,
    image_ids,
    json_values,
    lenient_ids,
    message_lists,
    messages,
    texts,
    value_or_error,
)

from websim_core.errors import InvalidRequestError, ResponseFormatError
from websim_core.ids import ProjectIdKind, classify_project_id
from websim_core.protocol import (
    ASPECT_RATIOS,
    DEFAULT_ASPECT_RATIO,
    ImageResponse,
    build_chat_request,
    build_image_request,
    content_text,
    image_prompt,
    parse_aspect_ratio,
    parse_chat_response,
    parse_image_response,
    parse_json_body,
    validate_chat_body,
    validate_image_body,
    validate_messages,
    validate_project_id,
)
from websim_core.routing import CHAT_PATH, IMAGE_PATH


def reference_prompt(history: list[dict[str, Any]]) -> str:
    """The protocol page's rule, written independently: walk back over the user messages."""
    start = len(history)
    while start > 0 and history[start - 1]["role"] == "user":
        start -= 1
    texts_ = []
    for message in history[start:]:
        content = message["content"]
        if isinstance(content, list):
            content = "".join(p["text"] for p in content if p["type"] == "text")
        if content.strip():
            texts_.append(content.strip())
    return "\n".join(texts_)


# --- the image prompt rule -----------------------------------------------------------------------


@given(history=message_lists)
def test_image_prompt_matches_the_reference(history: list[dict[str, Any]]) -> None:
    assert image_prompt(history) == reference_prompt(history)


@given(history=message_lists)
def test_image_request_takes_its_prompt_from_the_messages(history: list[dict[str, Any]]) -> None:
    expected = reference_prompt(history)
    if not expected:
        with pytest.raises(InvalidRequestError) as info:
            build_image_request(messages=history)
        assert info.value.field == "prompt"
        return
    request = build_image_request(messages=history)
    assert request.prompt == expected
    assert request.payload["prompt"] == expected


@given(history=message_lists, prompt=texts)
def test_an_explicit_prompt_wins(history: list[dict[str, Any]], prompt: str) -> None:
    assume(prompt.strip())
    request = build_image_request(prompt, messages=history)
    assert request.prompt == prompt.strip()


def test_image_prompt_examples() -> None:
    history = [
        {"role": "user", "content": "ignored: before the assistant"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "  A cat  "},
        {"role": "user", "content": "   "},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "in "},
                {"type": "image_url"},
                {"type": "text", "text": "space"},
            ],
        },
    ]
    assert image_prompt(history) == "A cat\nin space"
    assert (
        image_prompt([{"role": "user", "content": "x"}, {"role": "system", "content": "y"}]) == ""
    )


@given(content=contents)
def test_content_text_joins_the_text_parts(content: Any) -> None:
    expected = (
        content
        if isinstance(content, str)
        else "".join(p["text"] for p in content if p["type"] == "text")
    )
    assert content_text(content) == expected


# --- building requests ---------------------------------------------------------------------------


@given(history=message_lists, seed=st.integers(), stream=st.booleans())
def test_chat_request_sends_the_whole_history(
    history: list[dict[str, Any]], seed: int, stream: bool
) -> None:
    request = build_chat_request(history, stream=stream, rng=random.Random(seed))
    assert request.path == CHAT_PATH
    assert request.endpoint == "chat"
    assert request.payload["messages"] == history
    assert classify_project_id(request.payload["project_id"]) is ProjectIdKind.CHAT
    assert ("stream" in request.payload) is stream
    if stream:
        assert request.payload["stream"] is True
    assert json.loads(request.body()) == request.payload
    # reproducible from the seed
    assert (
        build_chat_request(history, rng=random.Random(seed)).payload["project_id"]
        == request.payload["project_id"]
    )


@given(project_id=lenient_ids)
def test_a_given_project_id_is_used_as_is(project_id: str) -> None:
    chat = build_chat_request([{"role": "user", "content": "hi"}], project_id=project_id)
    image = build_image_request("cat", project_id=project_id)
    assert chat.payload["project_id"] == image.payload["project_id"] == project_id


@given(
    ratio=st.one_of(aspect_ratios, st.sampled_from(ASPECT_RATIOS)), prompt=texts, seed=st.integers()
)
def test_image_request_shape(ratio: str, prompt: str, seed: int) -> None:
    assume(prompt.strip())
    request = build_image_request(prompt, aspect_ratio=ratio, rng=random.Random(seed))
    assert request.path == IMAGE_PATH
    assert request.endpoint == "image"
    assert set(request.payload) == {"project_id", "prompt", "aspect_ratio"}
    assert request.payload["aspect_ratio"] == ratio
    assert classify_project_id(request.payload["project_id"]) is ProjectIdKind.IMAGE
    assert json.loads(request.body()) == request.payload


def test_image_request_default_ratio() -> None:
    assert DEFAULT_ASPECT_RATIO == "1:1"
    assert build_image_request("cat").payload["aspect_ratio"] == "1:1"


# --- bad input: InvalidRequestError naming the field ----------------------------------------------


@pytest.mark.parametrize(
    ("messages_", "field"),
    [
        (None, "messages"),
        ("hello", "messages"),
        (b"hello", "messages"),
        ({"role": "user", "content": "hi"}, "messages"),
        (42, "messages"),
        ([], "messages"),
        (["hello"], "messages[0]"),
        ([{"content": "hi"}], "messages[0].role"),
        ([{"role": "user"}], "messages[0].content"),
        ([{"role": "user", "content": "a"}, {"role": "user"}], "messages[1].content"),
        ([{"role": 1, "content": "hi"}], "messages[0].role"),
        ([{"role": "robot", "content": "hi"}], "messages[0].role"),
        ([{"role": "user", "content": 42}], "messages[0].content"),
        ([{"role": "user", "content": None}], "messages[0].content"),
        ([{"role": "user", "content": {"text": "hi"}}], "messages[0].content"),
        ([{"role": "user", "content": ["hi"]}], "messages[0].content[0]"),
        ([{"role": "user", "content": [{"text": "hi"}]}], "messages[0].content[0].type"),
        (
            [{"role": "user", "content": [{"type": "text", "text": 3}]}],
            "messages[0].content[0].text",
        ),
        ([{"role": "user", "content": "\ud800"}], "messages[0]"),  # not encodable as UTF-8
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": object()}]}],
            "messages[0]",
        ),
    ],
)
def test_bad_messages_name_the_field(messages_: object, field: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        build_chat_request(messages_)
    assert info.value.field == field
    assert str(info.value).startswith(f"invalid {field}: ")
    # For images, messages=None means "not given", and unencodable content only matters
    # as the prompt (tested below), so those cases are chat-only.
    if messages_ is not None and (field != "messages[0]" or messages_ == ["hello"]):
        with pytest.raises(InvalidRequestError) as again:
            build_image_request(messages=messages_)
        assert again.value.field == field


def test_messages_are_checked_even_when_a_prompt_is_given() -> None:
    with pytest.raises(InvalidRequestError) as info:
        build_image_request("a cat", messages="not a list")
    assert info.value.field == "messages"


@pytest.mark.parametrize(
    "ratio",
    [
        "",
        "1",
        "1:",
        ":1",
        "0:1",
        "1:0",
        "-1:1",
        "1.5:1",
        "16x9",
        "16:9:1",
        " 1:1",
        "1:1\n",
        "\uff11:\uff11",
        "1234567:1",
        None,
        16,
    ],
)
def test_bad_aspect_ratios(ratio: object) -> None:
    with pytest.raises(InvalidRequestError) as info:
        build_image_request("cat", aspect_ratio=ratio)  # type: ignore[arg-type]
    assert info.value.field == "aspect_ratio"


@given(value=st.one_of(st.text(max_size=16), aspect_ratios, st.none(), st.integers()))
def test_parse_aspect_ratio_is_total(value: object) -> None:
    # Oracle: W:H, each 1-6 ASCII digits, neither zero.
    parts = value.split(":") if isinstance(value, str) else []
    valid = len(parts) == 2 and all(
        1 <= len(p) <= 6 and all(c in "0123456789" for c in p) and int(p) > 0 for p in parts
    )
    result = value_or_error(lambda: parse_aspect_ratio(value), InvalidRequestError)
    if isinstance(result, InvalidRequestError):
        assert result.field == "aspect_ratio"
        assert not valid
    else:
        assert valid
        assert result == (int(parts[0]), int(parts[1]))


@pytest.mark.parametrize(
    "project_id", ["", "ABC", "ke3-xh5", "ke3 xh5", "a" * 65, "é", "ke3_xh5\n", 7, b"abc"]
)
def test_bad_project_ids(project_id: object) -> None:
    with pytest.raises(InvalidRequestError) as info:
        build_chat_request([{"role": "user", "content": "hi"}], project_id=project_id)  # type: ignore[arg-type]
    assert info.value.field == "project_id"
    with pytest.raises(InvalidRequestError) as info:
        build_image_request("cat", project_id=project_id)  # type: ignore[arg-type]
    assert info.value.field == "project_id"


@pytest.mark.parametrize(
    ("prompt", "history"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        (None, [{"role": "user", "content": "  "}]),
        (None, [{"role": "user", "content": "a cat"}, {"role": "assistant", "content": "ok"}]),
        (None, [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]),
    ],
)
def test_no_prompt_and_no_user_message(prompt: str | None, history: object) -> None:
    with pytest.raises(InvalidRequestError) as info:
        build_image_request(prompt, messages=history)
    assert info.value.field == "prompt"


def test_prompt_of_the_wrong_type_or_unencodable() -> None:
    with pytest.raises(InvalidRequestError) as info:
        build_image_request(42)  # type: ignore[arg-type]
    assert info.value.field == "prompt"
    with pytest.raises(InvalidRequestError) as info:
        build_image_request("a \ud800 cat")
    assert info.value.field == "prompt"


@given(
    project_id=st.one_of(chat_ids, image_ids, lenient_ids, st.text(max_size=30)),
    strict=st.booleans(),
)
def test_validate_project_id_lenient_and_strict(project_id: str, strict: bool) -> None:
    for kind in ("chat", "image"):
        expected_ok = (
            classify_project_id(project_id) is ProjectIdKind(kind)
            if strict
            else re.fullmatch(r"[a-z0-9_]{1,64}", project_id) is not None
        )
        result = value_or_error(
            lambda kind=kind: validate_project_id(project_id, kind, strict=strict),  # type: ignore[misc]
            InvalidRequestError,
        )
        if isinstance(result, InvalidRequestError):
            assert result.field == "project_id"
            assert not expected_ok
            if strict:
                assert "^[a-z0-9]" in result.problem  # names the expected pattern
        else:
            assert result == project_id
            assert expected_ok


# --- parsing answers: total, and the documented cases --------------------------------------------


@given(body=bodies, content_type=content_types)
def test_parse_chat_response_is_total(body: bytes, content_type: str | None) -> None:
    text = value_or_error(lambda: parse_chat_response(body, content_type), ResponseFormatError)
    if isinstance(text, ResponseFormatError):
        assert text.body == body
        return
    assert isinstance(text, str)
    decoded = body.decode("utf-8-sig")  # a leading BOM is dropped
    try:
        data = json.loads(decoded)
    except ValueError:
        assert text == decoded  # not JSON: the raw text, unstripped
    else:
        assert text == data["content"].strip()


@given(content=st.text(), bom=st.booleans())
def test_chat_content_is_stripped(content: str, bom: bool) -> None:
    body = ("\ufeff" if bom else "") + json.dumps({"content": content, "extra": [1, 2]})
    assert parse_chat_response(body.encode(), "application/json") == content.strip()


@given(text=st.text(min_size=1).filter(str.strip))
def test_non_json_chat_body_is_the_raw_text(text: str) -> None:
    try:
        json.loads(text)
    except ValueError:
        pass
    else:
        assume(False)
    assume(not text.lstrip().lower().startswith(("<!doctype", "<html")))
    assert parse_chat_response(text.encode(), "text/plain") == text


@pytest.mark.parametrize(
    ("body", "content_type", "match"),
    [
        (b"", None, "empty"),
        (b" \n ", "application/json", "empty"),
        (b"<!DOCTYPE html><html>Just a moment...</html>", "text/plain", "HTML"),
        (b"oops", "text/html; charset=utf-8", "HTML"),
        (b"[1, 2]", None, "not an object"),
        (b'"text"', None, "not an object"),
        (b"{}", None, "no string 'content'"),
        (b'{"content": null}', None, "no string 'content'"),
        (b'{"content": 5}', None, "no string 'content'"),
        (b"\xff\xfe", None, "not UTF-8"),
        (b"[" * 100_000, None, "nested too deeply"),
    ],
)
def test_unusable_chat_bodies(body: bytes, content_type: str | None, match: str) -> None:
    with pytest.raises(ResponseFormatError, match=match):
        parse_chat_response(body, content_type)


@given(body=bodies, prompt=st.text(max_size=10), content_type=content_types)
def test_parse_image_response_is_total(body: bytes, prompt: str, content_type: str | None) -> None:
    image = value_or_error(
        lambda: parse_image_response(body, prompt, content_type), ResponseFormatError
    )
    if isinstance(image, ResponseFormatError):
        assert image.body == body
        return
    url = json.loads(body.decode("utf-8-sig"))["url"]
    assert image.urls == [url]
    assert image.url == url
    assert image.alt == prompt
    assert url.lower().startswith(("http://", "https://"))


@given(
    url=st.from_regex(r"https?://[a-z0-9.]{1,20}/[a-zA-Z0-9_./-]{0,30}", fullmatch=True),
    prompt=texts,
)
def test_image_urls_are_accepted(url: str, prompt: str) -> None:
    image = parse_image_response(json.dumps({"url": url, "seed": 3}).encode(), prompt)
    assert image == ImageResponse([url], alt=prompt)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"{}", "no 'url'"),
        (b'{"url": null}', "no 'url'"),
        (b'{"url": 5}', "not an http"),
        (b'{"url": "ftp://x.test/a.png"}', "not an http"),
        (b'{"url": "javascript:alert(1)"}', "not an http"),
        (b'{"url": "/relative.png"}', "not an http"),
        (b"[]", "not an object"),
        (b"", "empty"),
        (b"<html><body>oops</body></html>", "HTML page"),
        (b"Internal error", "not JSON"),
    ],
)
def test_unusable_image_bodies(body: bytes, match: str) -> None:
    with pytest.raises(ResponseFormatError, match=match):
        parse_image_response(body, "a cat")


@given(
    body=bodies, what=st.sampled_from(["chat answer", "image answer"]), content_type=content_types
)
def test_parse_json_body_is_total(body: bytes, what: str, content_type: str | None) -> None:
    value = value_or_error(lambda: parse_json_body(body, what, content_type), ResponseFormatError)
    if isinstance(value, ResponseFormatError):
        assert value.body == body
        return
    assert value == json.loads(body.decode("utf-8-sig"))


@given(value=json_values)
def test_parse_json_body_round_trips(value: object) -> None:
    assert parse_json_body(json.dumps(value).encode(), "x") == value


# --- validating request bodies (the server's side) -----------------------------------------------


@given(data=st.one_of(json_values, api_objects), strict=st.booleans())
def test_validate_chat_body_is_total(data: object, strict: bool) -> None:
    result = value_or_error(
        lambda: validate_chat_body(data, strict_ids=strict), InvalidRequestError
    )
    if isinstance(result, InvalidRequestError):
        assert result.field
    else:
        assert result is data
        assert isinstance(data, dict)
        validate_messages(data["messages"])


@given(data=st.one_of(json_values, api_objects), strict=st.booleans())
def test_validate_image_body_is_total(data: object, strict: bool) -> None:
    result = value_or_error(
        lambda: validate_image_body(data, strict_ids=strict), InvalidRequestError
    )
    if isinstance(result, InvalidRequestError):
        assert result.field
    else:
        assert result is data
        assert isinstance(data, dict)
        assert data["prompt"].strip()


@given(history=message_lists, stream=st.booleans(), seed=st.integers())
def test_what_the_client_builds_the_server_accepts(
    history: list[dict[str, Any]], stream: bool, seed: int
) -> None:
    chat = build_chat_request(history, stream=stream, rng=random.Random(seed))
    assert validate_chat_body(json.loads(chat.body()), strict_ids=True) == chat.payload
    prompt = reference_prompt(history) or "fallback"
    image = build_image_request(prompt, rng=random.Random(seed))
    assert validate_image_body(json.loads(image.body()), strict_ids=True) == image.payload


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([], "body"),
        ({}, "project_id"),
        ({"project_id": "x"}, "messages"),
        ({"project_id": "x", "messages": []}, "messages"),
        (
            {"project_id": "x", "messages": [{"role": "user", "content": "a"}], "stream": "yes"},
            "stream",
        ),
        ({"project_id": "BAD", "messages": [{"role": "user", "content": "a"}]}, "project_id"),
    ],
)
def test_bad_chat_bodies(data: object, field: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        validate_chat_body(data)
    assert info.value.field == field


def test_strict_ids_reject_anything_but_the_canonical_form() -> None:
    body = {"project_id": "vno75_2x4ii3ayx8wmmw", "messages": [{"role": "user", "content": "a"}]}
    assert validate_chat_body(body) is body
    with pytest.raises(InvalidRequestError, match=re.escape("^[a-z0-9]{3}_[a-z0-9]{16}$")):
        validate_chat_body(body, strict_ids=True)
    image = {"project_id": "ke3_xh5gai3gjkmruomu", "prompt": "cat"}
    with pytest.raises(InvalidRequestError, match=re.escape("^[a-z0-9]{7}_[a-z0-9]{12}$")):
        validate_image_body(image, strict_ids=True)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"prompt": "cat"}, "project_id"),
        ({"project_id": "x"}, "prompt"),
        ({"project_id": "x", "prompt": 3}, "prompt"),
        ({"project_id": "x", "prompt": "  "}, "prompt"),
        ({"project_id": "x", "prompt": "cat", "aspect_ratio": "wide"}, "aspect_ratio"),
        ({"project_id": "x", "prompt": "cat", "aspect_ratio": None}, "aspect_ratio"),
    ],
)
def test_bad_image_bodies(data: object, field: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        validate_image_body(data)
    assert info.value.field == field


# --- ImageResponse ---------------------------------------------------------------------------------


def test_image_response_is_a_markdown_image() -> None:
    image = ImageResponse(["https://img.test/cat.png"], alt="A cat in space")
    assert image.urls == ["https://img.test/cat.png"]
    assert image.alt == "A cat in space"
    assert str(image) == "[![A cat in space](https://img.test/cat.png)](https://img.test/cat.png)"


@given(
    alt=st.text(), url=st.from_regex(r"https://[a-z]{1,8}\.test/[a-z0-9]{1,8}\.png", fullmatch=True)
)
def test_alt_text_cannot_break_the_markdown(alt: str, url: str) -> None:
    rendered = str(ImageResponse([url], alt=alt))
    match = re.fullmatch(r"\[!\[([^\[\]\n]*)\]\((\S+)\)\]\((\S+)\)", rendered)
    assert match is not None
    assert match[2] == match[3] == url
    assert match[1] == " ".join(alt.split()).replace("[", "(").replace("]", ")")


def test_several_urls_give_one_line_each() -> None:
    image = ImageResponse(["https://a.test/1.png", "https://a.test/2.png"], alt="x")
    assert str(image).splitlines() == [
        "[![x](https://a.test/1.png)](https://a.test/1.png)",
        "[![x](https://a.test/2.png)](https://a.test/2.png)",
    ]


@given(history=st.lists(messages(role=st.just("user")), min_size=1, max_size=4))
def test_all_user_history_uses_every_message(history: list[dict[str, Any]]) -> None:
    assert image_prompt(history) == "\n".join(
        t for t in (content_text(m["content"]).strip() for m in history) if t
    )


def test_json_output_mode_is_a_boolean_flag() -> None:
    messages = [{"role": "user", "content": "hi"}]
    assert build_chat_request(messages, json=True).payload["json"] is True
    assert "json" not in build_chat_request(messages).payload
    body = {"project_id": "ke3_xh5gai3gjkmruomu", "messages": messages}
    assert validate_chat_body({**body, "json": False})["json"] is False
    with pytest.raises(InvalidRequestError) as caught:
        validate_chat_body({**body, "json": "yes"})
    assert caught.value.field == "json"
