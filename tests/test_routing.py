"""Routing: the model only picks the endpoint; every non-empty string goes to exactly one."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from websim_core.errors import InvalidRequestError
from websim_core.routing import (
    CHAT_MODELS,
    CHAT_PATH,
    DEFAULT_IMAGE_MODEL,
    DEFAULT_MODEL,
    IMAGE_MODELS,
    IMAGE_PATH,
    MODELS,
    Endpoint,
    endpoint_of_path,
    route,
)


def test_the_documented_model_lists() -> None:
    assert CHAT_MODELS == (
        "gemini-1.5-pro",
        "gemini-1.5-flash",
        "gemini-2.5-pro",
        "gemini-2.5-flash",
    )
    assert IMAGE_MODELS == ("flux",)
    assert DEFAULT_MODEL == "gemini-1.5-pro"
    assert DEFAULT_IMAGE_MODEL == "flux"
    assert set(MODELS) == set(CHAT_MODELS) | set(IMAGE_MODELS)
    assert not set(CHAT_MODELS) & set(IMAGE_MODELS)


def test_endpoint_paths() -> None:
    assert Endpoint.CHAT.path == CHAT_PATH == "/api/v1/inference/run_chat_completion"
    assert Endpoint.IMAGE.path == IMAGE_PATH == "/api/v1/inference/run_image_generation"


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_chat_models_go_to_chat(model: str) -> None:
    assert route(model) is Endpoint.CHAT


def test_image_model_goes_to_image() -> None:
    assert route("flux") is Endpoint.IMAGE


@pytest.mark.parametrize("model", ["gpt-4o", "FLUX", "flux ", " flux", "flux-pro", "unknown"])
def test_anything_else_goes_to_chat(model: str) -> None:
    assert route(model) is Endpoint.CHAT


@given(model=st.one_of(st.text(), st.sampled_from([*MODELS, ""])))
def test_routing_is_total_over_text(model: str) -> None:
    if model == "":
        with pytest.raises(InvalidRequestError) as info:
            route(model)
        assert info.value.field == "model"
        return
    endpoint = route(model)
    assert endpoint is (Endpoint.IMAGE if model in IMAGE_MODELS else Endpoint.CHAT)


@given(model=st.one_of(st.none(), st.integers(), st.binary(), st.lists(st.text()), st.floats()))
def test_non_strings_are_invalid_requests(model: object) -> None:
    with pytest.raises(InvalidRequestError) as info:
        route(model)
    assert info.value.field == "model"
    assert "model" in str(info.value)


def test_each_endpoint_is_found_at_its_path() -> None:
    for endpoint in Endpoint:
        assert endpoint_of_path(endpoint.path) is endpoint


@pytest.mark.parametrize(
    "path",
    [
        CHAT_PATH + "/",  # the mock answers 404 to a trailing slash
        IMAGE_PATH + "/",
        CHAT_PATH + "//",
        CHAT_PATH.upper(),
        CHAT_PATH + "?stream=1",  # callers pass the path without its query string
        "/api/v1/inference",
        "/",
        "",
    ],
)
def test_only_the_exact_paths_are_endpoints(path: str) -> None:
    assert endpoint_of_path(path) is None


@given(path=st.text(max_size=60))
def test_any_other_text_is_no_endpoint(path: str) -> None:
    expected = {CHAT_PATH: Endpoint.CHAT, IMAGE_PATH: Endpoint.IMAGE}.get(path)
    assert endpoint_of_path(path) is expected
