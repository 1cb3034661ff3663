"""The cassette matcher and scrubbing: bodies match whatever their project IDs, as long as each
ID is one the mock would accept on that endpoint, in the same mode (lenient by default, or
strict); paths and IDs are judged as the running mock judges them; secrets never reach a
cassette, and the checker's finder agrees."""

from __future__ import annotations

import io
import itertools
import json
import random
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import (
    chat_ids,
    id_like_text,
    image_ids,
    legacy_ids,
    message_lists,
    value_or_error,
)

from mock_server import MockServer
from websim_cassettes import (
    REDACTED,
    body_differences,
    find_secrets,
    normalized_body,
    parse_body,
    request_id_problem,
    scrub_body,
    scrub_request,
    scrub_response,
    websim_body,
    websim_body_strict,
)
from websim_cassettes.scrub import is_sensitive_name, scrub_text, scrub_uri
from websim_core.errors import InvalidRequestError
from websim_core.ids import generate_project_id
from websim_core.protocol import (
    build_chat_request,
    build_image_request,
    validate_chat_body,
    validate_image_body,
)
from websim_core.routing import CHAT_PATH, IMAGE_PATH, Endpoint, endpoint_of_path

MESSAGES = [{"role": "user", "content": "Hello, how are you?"}]


def _request(body: bytes | str, path: str = CHAT_PATH) -> Any:
    return SimpleNamespace(body=body, path=path)


def _chat_body(project_id: str | None = None, **extra: Any) -> bytes:
    payload: dict[str, Any] = {"project_id": project_id or generate_project_id("chat")}
    payload["messages"] = MESSAGES
    payload.update(extra)
    return json.dumps(payload).encode()


@given(chat_ids, chat_ids, st.randoms(use_true_random=False))
def test_chat_bodies_match_whatever_their_ids_and_key_order(
    a: str, b: str, rnd: random.Random
) -> None:
    sent = build_chat_request(MESSAGES, project_id=a).body()
    keys = [("messages", MESSAGES), ("project_id", b)]
    rnd.shuffle(keys)
    recorded = json.dumps(dict(keys), indent=rnd.choice([None, 2])).encode()
    websim_body(_request(sent), _request(recorded))
    assert normalized_body(parse_body(sent)) == normalized_body(parse_body(recorded))


def _handed_over(value: dict[str, Any], form: str, cuts: list[int]) -> Any:
    """``value`` as vcrpy hands a body to matchers, by what the caller gave aiohttp."""
    data = json.dumps(value).encode()
    if form == "json=":  # session.post(url, json=value): the object itself
        return value
    if form == "data=str":  # vcrpy's Request stores text as UTF-8 bytes, but others keep it
        return data.decode()
    if form == "file":
        return io.BytesIO(data)
    if form == "chunks":  # an async-iterator upload whose chunks vcrpy could not join
        bounds = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
        return [data[a:b] for a, b in itertools.pairwise(bounds)]
    if form == "iterator":
        return iter([data[: len(data) // 2], data[len(data) // 2 :]])
    if form == "payload":
        return aiohttp.BytesPayload(data)
    return data


BODY_FORMS = ["json=", "data=bytes", "data=str", "file", "chunks", "iterator", "payload"]


@given(
    chat_ids,
    chat_ids,
    message_lists,
    st.sampled_from(BODY_FORMS),
    st.sampled_from(BODY_FORMS),
    st.lists(st.integers(0, 10_000), max_size=4),
)
def test_the_form_a_body_is_handed_over_in_does_not_change_the_verdict(
    a: str, b: str, messages: list[dict[str, Any]], sent_as: str, recorded_as: str, cuts: list[int]
) -> None:
    sent = {"project_id": a, "messages": messages}
    recorded = {"messages": messages, "project_id": b}
    websim_body(
        _request(_handed_over(sent, sent_as, cuts)),
        _request(_handed_over(recorded, recorded_as, cuts)),
    )
    other = {"project_id": b, "messages": [*messages, {"role": "user", "content": "more"}]}
    with pytest.raises(AssertionError, match=r"messages: \d+ items here"):
        websim_body(
            _request(_handed_over(other, sent_as, cuts)),
            _request(_handed_over(recorded, recorded_as, cuts)),
        )


def test_a_json_dict_body_differs_field_by_field_not_as_a_python_repr() -> None:
    sent = {"project_id": "abc_0123456789abcdef", "messages": [{"role": "user", "content": "a"}]}
    recorded = _chat_body(messages=[{"role": "user", "content": "b"}])
    with pytest.raises(AssertionError) as caught:
        websim_body(_request(sent), _request(recorded))  # type: ignore[arg-type]
    assert str(caught.value) == 'messages[0].content: "a" here, "b" recorded'


def test_json_values_other_than_objects_stand_for_themselves() -> None:
    assert parse_body([("a", 1)]).value == [["a", 1]]  # data= pairs, as aiohttp gets them
    assert parse_body(5) == parse_body(b"5")
    assert parse_body(None) == parse_body(b"")


def test_scrub_request_redacts_credentials_in_a_json_dict_body() -> None:
    request = SimpleNamespace(
        headers={},
        uri="https://websim.ai/api/v1/inference/run_chat_completion",
        body={"project_id": "abc_0123456789abcdef", "api_key": "sk-live-123", "messages": []},
    )
    scrub_request(request)
    assert request.body == {
        "project_id": "abc_0123456789abcdef",
        "api_key": REDACTED,
        "messages": [],
    }


@given(image_ids, image_ids)
def test_image_bodies_match_whatever_their_ids(a: str, b: str) -> None:
    sent = build_image_request("A cat in space", project_id=a).body()
    recorded = build_image_request("A cat in space", project_id=b).body()
    websim_body(_request(sent, IMAGE_PATH), _request(recorded, IMAGE_PATH))


def _image_body(project_id: str) -> bytes:
    return json.dumps({"project_id": project_id, "prompt": "x", "aspect_ratio": "1:1"}).encode()


@given(legacy_ids)
def test_legacy_chat_ids_are_valid_unless_strict(legacy: str) -> None:
    # The default mock takes gpt4free's 3_15 IDs on either endpoint; the strict mock on neither.
    assert request_id_problem(parse_body(_chat_body(legacy)), CHAT_PATH) is None
    assert request_id_problem(parse_body(_image_body(legacy)), IMAGE_PATH) is None
    chat = request_id_problem(parse_body(_chat_body(legacy)), CHAT_PATH, strict_ids=True)
    assert "not a valid chat ID" in str(chat)
    image = request_id_problem(parse_body(_image_body(legacy)), IMAGE_PATH, strict_ids=True)
    assert "not a valid image ID" in str(image)


Matcher = Callable[[Any, Any], None]


@pytest.mark.parametrize(
    ("sent_id", "recorded_id", "who", "matcher"),
    [
        ("kx0m131_rzz66qb2xoy7", "ke3_xh5gai3gjkmruomu", "this request", websim_body_strict),
        ("ke3_xh5gai3gjkmruom", "ke3_xh5gai3gjkmruomu", "this request", websim_body_strict),
        ("ke3_xh5gai3gjkmruomu", "NOT-AN-ID", "the recorded request", websim_body),
        ("ke3_xh5gai3gjkmruomu", "NOT-AN-ID", "the recorded request", websim_body_strict),
    ],
    ids=["image-id-on-chat-strict", "legacy-strict", "not-an-id", "not-an-id-strict"],
)
def test_an_id_invalid_for_its_endpoint_does_not_match(
    sent_id: str, recorded_id: str, who: str, matcher: Matcher
) -> None:
    with pytest.raises(AssertionError, match=f"{who}: project_id .* is not a valid chat ID"):
        matcher(_request(_chat_body(sent_id)), _request(_chat_body(recorded_id)))


@pytest.mark.parametrize("sent_id", ["kx0m131_rzz66qb2xoy7", "ke3_xh5gai3gjkmruom", "abc"])
def test_the_default_matcher_takes_every_id_the_default_mock_takes(sent_id: str) -> None:
    websim_body(_request(_chat_body(sent_id)), _request(_chat_body()))
    with pytest.raises(AssertionError, match="this request: project_id"):
        websim_body_strict(_request(_chat_body(sent_id)), _request(_chat_body()))


def _mock_accepts_id(endpoint: Endpoint, body: bytes, strict: bool) -> bool:
    validate = validate_chat_body if endpoint is Endpoint.CHAT else validate_image_body
    result = value_or_error(
        lambda: validate(json.loads(body), strict_ids=strict), InvalidRequestError
    )
    if isinstance(result, InvalidRequestError):
        assert result.field == "project_id"  # the bodies are valid but for their ID
        return False
    return True


@given(
    project_id=st.one_of(chat_ids, image_ids, legacy_ids, id_like_text),
    endpoint=st.sampled_from(Endpoint),
    strict=st.booleans(),
)
def test_the_matcher_judges_ids_as_the_mocks_validation_does(
    project_id: str, endpoint: Endpoint, strict: bool
) -> None:
    body = _chat_body(project_id) if endpoint is Endpoint.CHAT else _image_body(project_id)
    problem = request_id_problem(parse_body(body), endpoint.path, strict_ids=strict)
    assert (problem is None) == _mock_accepts_id(endpoint, body, strict), problem


@pytest.mark.parametrize("strict_ids", [False, True])
@pytest.mark.parametrize("path", [CHAT_PATH, CHAT_PATH + "/", IMAGE_PATH, IMAGE_PATH + "/"])
async def test_paths_and_ids_are_judged_as_the_running_mock_judges_them(
    path: str, strict_ids: bool
) -> None:
    legacy = "ke3_xh5gai3gjkmruom"  # gpt4free's 3_15 form, on either endpoint
    endpoint = endpoint_of_path(path)
    body = _image_body(legacy) if path.startswith(IMAGE_PATH) else _chat_body(legacy)
    problem = request_id_problem(parse_body(body), path, strict_ids=strict_ids)
    server = MockServer(strict_ids=strict_ids)
    await server.start()
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.post(server.url + path, data=body) as r,
        ):
            status = r.status
    finally:
        await server.close()
    if endpoint is None:  # no endpoint here: the mock has no route, the matcher judges no ID
        assert (status, problem) == (404, None)
    else:
        assert status == (200 if problem is None else 400), problem
        assert (problem is None) == (not strict_ids)


def test_a_missing_id_does_not_match() -> None:
    body = json.dumps({"messages": MESSAGES})
    with pytest.raises(AssertionError, match="has no project_id"):
        websim_body(_request(body), _request(_chat_body()))


def test_differences_name_the_field() -> None:
    sent = _chat_body(stream=True)
    recorded = json.dumps(
        {"project_id": generate_project_id(), "messages": [{"role": "user", "content": "Bye"}]}
    )
    with pytest.raises(AssertionError) as info:
        websim_body(_request(sent), _request(recorded))
    message = str(info.value)
    assert 'messages[0].content: "Hello, how are you?" here, "Bye" recorded' in message
    assert "stream: only in this request (true)" in message
    assert "project_id" not in message


def test_non_json_bodies_compare_as_text() -> None:
    assert body_differences(parse_body(b"hello"), parse_body("hello")) == []
    assert body_differences(parse_body(b"hello"), parse_body(b'{"a": 1}')) == [
        'body: not JSON "hello" here, JSON "{\\"a\\": 1}" recorded'
    ]


# --- scrubbing ----------------------------------------------------------------------------------

SECRETS = [
    "Bearer abcdefghijklmnopqrstuvwxyz012345",
    "sk-proj-abcdefghijklmnopqrstuvwxyz0123",
    "ghp_" + "a1b2c3d4e5" * 4,
    "AKIAABCDEFGHIJKLMNOP",
    "AIza" + "x" * 35,
    "xoxb-1234567890-abcdefghij",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
    'api_key="q8w7e6r5t4y3"',
    "password: hunter2hunter2",
    "https://cdn.example/a.png?X-Amz-Signature=0123456789abcdef&x=1",
]


@pytest.mark.parametrize("secret", SECRETS)
def test_each_kind_of_secret_is_found_and_scrubbed(secret: str) -> None:
    text = f"before {secret} after"
    assert find_secrets(text), secret
    cleaned = scrub_text(text)
    assert find_secrets(cleaned) == []
    assert REDACTED in cleaned
    assert cleaned.startswith("before ")
    assert cleaned.endswith(" after")


@given(st.text())
def test_scrubbing_is_idempotent_and_leaves_nothing_to_find(text: str) -> None:
    once = scrub_text(text)
    assert scrub_text(once) == once
    assert find_secrets(once) == []


@given(chat_ids)
def test_project_ids_and_ordinary_text_are_not_secrets(project_id: str) -> None:
    body = build_chat_request(
        [{"role": "user", "content": "Count the tokens in: max_tokens=5, my session was fun"}],
        project_id=project_id,
    ).body()
    assert find_secrets(body.decode()) == []
    assert scrub_body(body) is body  # untouched, not even re-serialised


@pytest.mark.parametrize(
    ("name", "sensitive"),
    [
        ("Authorization", True),
        ("Proxy-Authorization", True),
        ("Cookie", True),
        ("Set-Cookie", True),
        ("X-Api-Key", True),
        ("x-auth-token", True),
        ("X-CSRF-Token", True),
        ("api_key", True),
        ("max_tokens", False),
        ("content-type", False),
        ("websim-flags;", False),
        ("project_id", False),
        ("author", False),
    ],
)
def test_sensitive_names(name: str, sensitive: bool) -> None:
    assert is_sensitive_name(name) is sensitive


def test_scrub_request_drops_cookies_and_redacts_credentials() -> None:
    request = SimpleNamespace(
        headers={
            "Authorization": "Bearer abcdefghijklmnop",
            "Cookie": "session=abc",
            "X-Api-Key": "k" * 20,
            "content-type": "application/json",
        },
        uri="https://user:pw@websim.ai/api/v1/inference/run_chat_completion?api_key=abc&x=1",
        body=json.dumps(
            {"project_id": "ke3_xh5gai3gjkmruomu", "messages": MESSAGES, "token": "t0k3n"}
        ),
    )
    scrub_request(request)
    assert request.headers == {
        "Authorization": REDACTED,
        "X-Api-Key": REDACTED,
        "content-type": "application/json",
    }
    assert request.uri == (
        f"https://{REDACTED}@websim.ai/api/v1/inference/run_chat_completion?api_key={REDACTED}&x=1"
    )
    assert json.loads(request.body)["token"] == REDACTED
    assert json.loads(request.body)["project_id"] == "ke3_xh5gai3gjkmruomu"


def test_scrub_response_drops_set_cookie_and_volatile_headers() -> None:
    response = {
        "status": {"code": 200, "message": "OK"},
        "headers": {
            "Content-Type": ["application/json"],
            "Set-Cookie": ["session=abc; HttpOnly"],
            "Date": ["Thu, 01 Jan 2026 00:00:00 GMT"],
            "CF-RAY": ["8f0a1b2c3d4e5f60-SJC"],
            "x-request-id": ["abc"],
            "Retry-After": ["3"],
            "Content-Length": ["99"],
        },
        "body": {"string": b'{"content": "your key is sk-abcdefghijklmnopqrstuvwx"}'},
    }
    scrub_response(response)
    assert set(response["headers"]) == {"Content-Type", "Retry-After", "Content-Length"}
    body = response["body"]["string"]
    assert b"sk-" not in body
    assert REDACTED.encode() in body
    assert response["headers"]["Content-Length"] == [str(len(body))]


def test_scrub_uri_leaves_clean_urls_alone() -> None:
    url = "https://websim.ai/api/v1/inference/run_image_generation?a=1&b=2"
    assert scrub_uri(url) is url
