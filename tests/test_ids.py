"""Project IDs: generated IDs have their kind's canonical form; the classifier agrees with the
regexes of the protocol page on arbitrary text."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import (
    CHAT_ID_RE,
    IMAGE_ID_RE,
    LEGACY_ID_RE,
    LENIENT_ID_RE,
    chat_ids,
    id_like_text,
    image_ids,
    legacy_ids,
)

from websim_core.ids import (
    ID_ALPHABET,
    LENIENT_ID_PATTERN,
    ProjectIdKind,
    classify_project_id,
    generate_project_id,
    id_pattern,
    is_lenient_project_id,
    project_id_problem,
)
from websim_core.routing import Endpoint

# The protocol page's table, written out again here rather than imported from the code.
PATTERNS = {"chat": CHAT_ID_RE, "image": IMAGE_ID_RE}
RUNS = {"chat": (3, 16), "image": (7, 12)}


def expected_kind(value: str) -> ProjectIdKind:
    if re.fullmatch(CHAT_ID_RE, value):
        return ProjectIdKind.CHAT
    if re.fullmatch(IMAGE_ID_RE, value):
        return ProjectIdKind.IMAGE
    if re.fullmatch(LEGACY_ID_RE, value):
        return ProjectIdKind.LEGACY
    return ProjectIdKind.INVALID


@pytest.mark.parametrize("kind", ["chat", "image"])
@given(seed=st.integers())
def test_generated_ids_match_their_kind(kind: str, seed: int) -> None:
    project_id = generate_project_id(kind, rng=random.Random(seed))
    assert re.fullmatch(PATTERNS[kind], project_id)
    assert len(project_id) == 20
    left, right = project_id.split("_")
    assert (len(left), len(right)) == RUNS[kind]
    assert classify_project_id(project_id) is ProjectIdKind(kind)
    assert re.fullmatch(id_pattern(kind), project_id)


def test_default_kind_is_chat() -> None:
    assert classify_project_id(generate_project_id()) is ProjectIdKind.CHAT


@pytest.mark.parametrize("kind", ["chat", "image"])
def test_ten_thousand_fresh_ids_are_distinct_and_use_the_whole_alphabet(kind: str) -> None:
    ids = [generate_project_id(kind) for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(PATTERNS[kind], i) for i in ids)
    # Every character can appear on both sides of the underscore (not digits only, say).
    lefts = {c for i in ids for c in i.split("_")[0]}
    rights = {c for i in ids for c in i.split("_")[1]}
    assert lefts == rights == set(ID_ALPHABET) == set("abcdefghijklmnopqrstuvwxyz0123456789")


@pytest.mark.parametrize("kind", ["chat", "image"])
@given(seed=st.integers())
def test_seeded_rng_reproduces_the_same_ids(kind: str, seed: int) -> None:
    rng_a, rng_b = random.Random(seed), random.Random(seed)
    run_a = [generate_project_id(kind, rng=rng_a) for _ in range(5)]
    run_b = [generate_project_id(kind, rng=rng_b) for _ in range(5)]
    assert run_a == run_b
    assert len(set(run_a)) == 5  # the rng advances: not one ID repeated


def test_different_seeds_give_different_ids() -> None:
    assert generate_project_id(rng=random.Random(1)) != generate_project_id(rng=random.Random(2))


@pytest.mark.parametrize("kind", ["", "legacy", "CHAT", None, 3, ["chat"]])
def test_unknown_kind_is_a_value_error(kind: object) -> None:
    with pytest.raises(ValueError, match="kind must be"):
        generate_project_id(kind)


@given(value=id_like_text)
def test_classifier_agrees_with_the_regexes(value: str) -> None:
    assert classify_project_id(value) is expected_kind(value)


@given(value=st.text())
def test_classifier_agrees_with_the_regexes_on_any_text(value: str) -> None:
    assert classify_project_id(value) is expected_kind(value)


@given(value=chat_ids)
def test_canonical_chat_ids_classify_as_chat(value: str) -> None:
    assert classify_project_id(value) is ProjectIdKind.CHAT
    # A trailing newline must not sneak through (``$`` would allow it; fullmatch does not).
    assert classify_project_id(value + "\n") is ProjectIdKind.INVALID
    if value != value.upper():
        assert classify_project_id(value.upper()) is ProjectIdKind.INVALID


@given(value=image_ids)
def test_canonical_image_ids_classify_as_image(value: str) -> None:
    assert classify_project_id(value) is ProjectIdKind.IMAGE
    assert classify_project_id(" " + value) is ProjectIdKind.INVALID


@given(value=legacy_ids)
def test_gpt4free_ids_classify_as_legacy(value: str) -> None:
    assert classify_project_id(value) is ProjectIdKind.LEGACY


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("ke3_xh5gai3gjkmruomu", ProjectIdKind.CHAT),  # the documented chat example
        ("kx0m131_rzz66qb2xoy7", ProjectIdKind.IMAGE),  # the documented image example
        ("ke3_xh5gai3gjkmruom", ProjectIdKind.LEGACY),  # g4f's 3_15
        ("vno75_2x4ii3ayx8wmmw", ProjectIdKind.INVALID),  # 5_14: seen in the wild, not ours
        ("KE3_XH5GAI3GJKMRUOMU", ProjectIdKind.INVALID),
        ("ke3-xh5gai3gjkmruomu", ProjectIdKind.INVALID),
        ("ke3_xh5gai3gjkmruomu\n", ProjectIdKind.INVALID),
        ("", ProjectIdKind.INVALID),
        ("ke3_xh5gai3gjkmruom\u0661", ProjectIdKind.INVALID),  # a non-ASCII digit
    ],
)
def test_known_ids(value: str, kind: ProjectIdKind) -> None:
    assert classify_project_id(value) is kind


@pytest.mark.parametrize("value", [None, 20, b"ke3_xh5gai3gjkmruomu", ["ke3_xh5gai3gjkmruomu"]])
def test_non_strings_are_invalid_not_errors(value: object) -> None:
    assert classify_project_id(value) is ProjectIdKind.INVALID
    assert is_lenient_project_id(value) is False


@given(value=id_like_text)
def test_lenient_validator_agrees_with_its_pattern(value: str) -> None:
    assert LENIENT_ID_PATTERN == "^" + LENIENT_ID_RE + "$"
    assert is_lenient_project_id(value) == bool(re.fullmatch(LENIENT_ID_RE, value))
    if classify_project_id(value) is not ProjectIdKind.INVALID:
        assert is_lenient_project_id(value)


def test_lenient_bounds() -> None:
    assert is_lenient_project_id("a" * 64)
    assert not is_lenient_project_id("a" * 65)
    assert not is_lenient_project_id("")


@pytest.mark.parametrize("kind", ["chat", "image"])
def test_unseeded_ids_use_every_character_in_every_position(kind: str) -> None:
    # 3,000 draws put each of the 36 characters in each position about 83 times; a broken
    # digit extraction (a stuck or skewed position) leaves some character out.
    ids = [generate_project_id(kind) for _ in range(3000)]  # type: ignore[arg-type]
    underscore = 3 if kind == "chat" else 7
    for position in range(20):
        seen = {i[position] for i in ids}
        assert seen == ({"_"} if position == underscore else set(ID_ALPHABET))


@given(value=st.one_of(id_like_text, chat_ids, image_ids, legacy_ids), strict=st.booleans())
def test_project_id_problem_is_the_protocol_pages_rule(value: str, strict: bool) -> None:
    for endpoint in Endpoint:
        # Strict: the canonical form of the endpoint only; lenient: 1-64 of [a-z0-9_].
        expected_ok = (
            re.fullmatch(PATTERNS[endpoint.value], value) is not None
            if strict
            else re.fullmatch(LENIENT_ID_RE, value) is not None
        )
        problem = project_id_problem(endpoint, value, strict=strict)
        assert (problem is None) == expected_ok, (endpoint, problem)
        if problem is not None and strict:
            assert problem == f"must match {id_pattern(endpoint.value)} for {endpoint.value}"


@given(legacy=legacy_ids)
def test_legacy_chat_ids_pass_only_the_lenient_rule(legacy: str) -> None:
    # gpt4free's 3_15: the default mock takes it (so the client works), the strict mock does not.
    for endpoint in Endpoint:
        assert project_id_problem(endpoint, legacy, strict=False) is None
        assert project_id_problem(endpoint, legacy, strict=True) is not None


@pytest.mark.parametrize(("value", "kind"), [(None, "null"), (20, "int"), (b"ke3_x", "bytes")])
def test_a_non_string_id_is_a_problem_in_both_modes(value: object, kind: str) -> None:
    for strict in (False, True):
        assert project_id_problem(Endpoint.CHAT, value, strict=strict) == (
            f"must be a string, not {kind}"
        )
