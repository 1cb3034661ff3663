"""The replay index: the matcher's rules in constant time, sequences replayed in order, and misses
that name the closest recorded requests and how they differ."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest
from helpers import COMMITTED_CASSETTES
from hypothesis import given
from strategies import chat_ids

from websim_cassettes import Hit, Miss, ReplayIndex, load_cassette
from websim_core.protocol import build_chat_request, build_image_request
from websim_core.routing import CHAT_PATH, IMAGE_PATH

OTTERS = [{"role": "user", "content": "Tell me one fun fact about otters."}]


@pytest.fixture(scope="module")
def committed() -> ReplayIndex:
    return ReplayIndex.from_directory(COMMITTED_CASSETTES, repeat="none")


def _chat(messages: list[dict[str, str]], project_id: str | None = None, **kw: bool) -> bytes:
    return build_chat_request(messages, project_id=project_id, **kw).body()


def test_loads_every_committed_cassette(committed: ReplayIndex) -> None:
    assert len(committed.cassettes) >= 15
    assert committed.rejected == []
    total = sum(len(load_cassette(p).interactions) for p in COMMITTED_CASSETTES.glob("*.yaml"))
    assert committed.size == total


def test_identical_requests_replay_their_sequence_in_order() -> None:
    index = ReplayIndex.from_directory(COMMITTED_CASSETTES, repeat="none")
    statuses = []
    for _ in range(3):
        hit = index.lookup("POST", CHAT_PATH, _chat(OTTERS))
        assert isinstance(hit, Hit)
        statuses.append(hit.recorded.interaction.response.status)
    assert statuses == [429, 429, 200]
    played_out = index.lookup("POST", CHAT_PATH, _chat(OTTERS))
    assert isinstance(played_out, Miss)
    assert "have all been played" in played_out.reason
    index.reset()
    first = index.lookup("POST", CHAT_PATH, _chat(OTTERS))
    assert isinstance(first, Hit)
    assert first.recorded.interaction.response.status == 429


@pytest.mark.parametrize(("repeat", "fourth"), [("last", 200), ("cycle", 429)])
def test_repeat_modes(repeat: str, fourth: int) -> None:
    index = ReplayIndex.from_directory(COMMITTED_CASSETTES, repeat=repeat)  # type: ignore[arg-type]
    hits = [index.lookup("POST", CHAT_PATH, _chat(OTTERS)) for _ in range(4)]
    assert all(isinstance(h, Hit) for h in hits)
    assert hits[3].recorded.interaction.response.status == fourth  # type: ignore[union-attr]


@functools.cache
def _repeating_index() -> ReplayIndex:
    return ReplayIndex.from_directory(COMMITTED_CASSETTES, repeat="last")


@given(chat_ids)
def test_any_valid_id_finds_the_recording(project_id: str) -> None:
    index = _repeating_index()
    hit = index.lookup(
        "POST", CHAT_PATH, _chat([{"role": "user", "content": "Hello, how are you?"}], project_id)
    )
    assert isinstance(hit, Hit)
    assert hit.recorded.cassette == "chat_basic.yaml"


def test_query_strings_and_key_order_do_not_matter(committed: ReplayIndex) -> None:
    body = build_image_request("A cat in space").payload
    reordered = json.dumps(dict(reversed(list(body.items())))).encode()
    hit = committed.lookup("POST", IMAGE_PATH + "?x=1", reordered)
    assert isinstance(hit, Hit)
    assert hit.recorded.cassette == "image_1_1.yaml"


def test_a_miss_names_the_closest_requests_and_their_differences(committed: ReplayIndex) -> None:
    miss = committed.lookup(
        "POST", CHAT_PATH, _chat([{"role": "user", "content": "Hello, how are you!"}])
    )
    assert isinstance(miss, Miss)
    payload = miss.to_json("POST", CHAT_PATH)
    # The mock's flat error shape ({"message", "field"}), plus the near misses.
    assert set(payload) == {"message", "field", "closest"}
    assert (
        payload["message"]
        == f"no recorded interaction matches POST {CHAT_PATH}: nothing recorded for it"
    )
    assert payload["field"] == "body"
    closest = payload["closest"]
    assert 1 <= len(closest) <= 3
    assert closest[0]["cassette"] == "chat_basic.yaml"
    assert closest[0]["differences"] == [
        'messages[0].content: "Hello, how are you!" here, "Hello, how are you?" recorded'
    ]


def test_a_miss_on_another_path_names_the_paths(committed: ReplayIndex) -> None:
    miss = committed.lookup("GET", "/v1/models", b"")
    assert isinstance(miss, Miss)
    assert miss.to_json("GET", "/v1/models")["field"] == "path"
    differences = [d for c in miss.closest for d in c["differences"]]
    assert "method: GET here, POST recorded" in differences
    assert f"path: /v1/models here, {CHAT_PATH} recorded" in differences


@pytest.fixture(scope="module")
def committed_strict() -> ReplayIndex:
    return ReplayIndex.from_directory(COMMITTED_CASSETTES, repeat="last", strict_ids=True)


def test_an_invalid_id_is_a_miss_that_says_so(committed_strict: ReplayIndex) -> None:
    body = json.dumps({"project_id": "kx0m131_rzz66qb2xoy7", "messages": OTTERS})
    miss = committed_strict.lookup("POST", CHAT_PATH, body)
    assert isinstance(miss, Miss)
    assert miss.reason.startswith(
        "the request's project_id 'kx0m131_rzz66qb2xoy7' is not a valid chat ID"
    )


@pytest.mark.parametrize("project_id", ["ke3_xh5gai3gjkmruom", "kx0m131_rzz66qb2xoy7", "abc"])
def test_ids_are_judged_in_the_mocks_mode(committed_strict: ReplayIndex, project_id: str) -> None:
    # What the default mock answers replays by default (gpt4free's legacy 3_15 IDs included);
    # a strict index refuses it as websim-mock --strict-ids does.
    body = _chat([{"role": "user", "content": "Hello, how are you?"}], project_id)
    hit = _repeating_index().lookup("POST", CHAT_PATH, body)
    assert isinstance(hit, Hit)
    assert hit.recorded.cassette == "chat_basic.yaml"
    miss = committed_strict.lookup("POST", CHAT_PATH, body)
    assert isinstance(miss, Miss)
    assert miss.reason.startswith(f"the request's project_id {project_id!r} is not a valid chat")


def test_a_trailing_slash_is_not_an_endpoint(committed: ReplayIndex) -> None:
    # The mock answers 404 there: the ID is not judged, and the miss says it is no endpoint.
    body = json.dumps({"project_id": "NOT-AN-ID", "messages": OTTERS})
    miss = committed.lookup("POST", CHAT_PATH + "/", body)
    assert isinstance(miss, Miss)
    assert miss.reason == "nothing recorded for it"
    differences = [d for c in miss.closest for d in c["differences"]]
    assert f"{CHAT_PATH}/ is not a Websim endpoint" in differences


def test_one_cassette_can_be_chosen(committed: ReplayIndex) -> None:
    body = _chat([{"role": "user", "content": "Hello, how are you?"}])
    assert isinstance(committed.lookup("POST", CHAT_PATH, body, cassette="chat_basic.yaml"), Hit)
    other = committed.lookup("POST", CHAT_PATH, body, cassette="chat_500.yaml")
    assert isinstance(other, Miss)
    assert other.closest[0]["cassette"] == "chat_500.yaml"


def test_a_miss_compares_a_bounded_number_of_recordings_and_still_finds_the_nearest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pathlib import Path

    from websim_cassettes import CassetteFile, Interaction, RecordedRequest, RecordedResponse
    from websim_cassettes import index as index_module

    system = {"role": "system", "content": "You are terse."}

    def question(i: int, verb: str = "squared") -> list[dict[str, str]]:
        return [system, {"role": "user", "content": f"What is {i} {verb}?"}]

    items = [
        Interaction(
            RecordedRequest("POST", "http://x" + CHAT_PATH, _chat(question(i))),
            RecordedResponse(200, "OK", {"Content-Type": ["application/json"]}, b"{}"),
        )
        for i in range(2000)
    ]
    index = ReplayIndex()
    index.add_cassette(CassetteFile(Path("big.yaml"), items))
    compared = []
    real = index_module.body_differences
    monkeypatch.setattr(
        index_module, "body_differences", lambda a, b: compared.append(1) or real(a, b)
    )
    miss = index.lookup("POST", CHAT_PATH, _chat([*question(1234), OTTERS[0]]))
    assert isinstance(miss, Miss)
    assert len(compared) <= 64
    assert miss.closest[0]["interaction"] == 1234
    assert miss.closest[0]["differences"]


@pytest.mark.parametrize(
    ("status", "reason", "headers", "problem"),
    [
        (42, "OK", {}, "status 42"),
        (1000, "OK", {}, "status 1000"),
        (200, "OK\r\nX-Injected: 1", {}, "reason"),
        (200, "OK", {"X-Note": ["a\r\nSet-Cookie: b"]}, "header 'X-Note'"),
        (200, "OK", {"Bad Name": ["a"]}, "not an HTTP token"),
    ],
)
def test_a_response_that_cannot_be_sent_is_refused_at_load_naming_file_and_interaction(
    tmp_path: Any, status: int, reason: str, headers: dict[str, list[str]], problem: str
) -> None:
    from websim_cassettes import Interaction, RecordedRequest, RecordedResponse, dump_cassette
    from websim_cassettes.files import CassetteLoadError

    good = Interaction(
        RecordedRequest("POST", "http://x" + CHAT_PATH, _chat(OTTERS)),
        RecordedResponse(200, "OK", {"Content-Type": ["application/json"]}, b"{}"),
    )
    bad = Interaction(good.request, RecordedResponse(status, reason, headers, b"{}"))
    (tmp_path / "broken.yaml").write_text(dump_cassette([good, bad]), encoding="utf-8")
    with pytest.raises(CassetteLoadError) as caught:
        ReplayIndex.from_directory(tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path / 'broken.yaml'}: interaction 1: ")
    assert problem in message
