"""Which stub answers (mock_server.core.stubset): precedence, ``times``, and the index.

The index's law: selecting through it gives the stub a scan of every stub in precedence order
gives. The regex literal's law: whatever a regex matches contains its required literal.
"""

from __future__ import annotations

import random
import re
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mock_server.core.matching import Facts
from mock_server.core.stubs import Stub, parse_stub, parse_stubs
from mock_server.core.stubset import StubSet, required_literal

SMALL = settings(max_examples=80, deadline=None)
ALPHABET = "abcKi\u0131 ſß-"


def chat(text: str, **kw: Any) -> Facts:
    return Facts("chat", messages=[{"role": "user", "content": text}], **kw)


def reply(stub: Stub | None) -> Any:
    return None if stub is None else stub.source["respond"]["reply"]


def test_lowest_priority_wins_then_the_newest() -> None:
    stubs = StubSet()
    stubs.add(
        parse_stubs(
            [
                {"match": {}, "respond": {"reply": "old"}},
                {"match": {}, "respond": {"reply": "new"}},
                {"priority": 5, "match": {}, "respond": {"reply": "low"}},
            ]
        )
    )
    assert reply(stubs.select(chat("x"))) == "new"
    stubs.add([parse_stub({"priority": -1, "match": {}, "respond": {"reply": "first"}})])
    assert reply(stubs.select(chat("x"))) == "first"


def test_times_retires_a_stub() -> None:
    stubs = StubSet()
    stubs.add([parse_stub({"times": 2, "match": {}, "respond": {"reply": "twice"}})])
    assert [reply(stubs.select(chat("x"))) for _ in range(3)] == ["twice", "twice", None]
    assert stubs.count == 0


def test_endpoints_keep_to_their_own_requests() -> None:
    stubs = StubSet()
    stubs.add(
        parse_stubs(
            [
                {
                    "match": {"prompt": {"contains": "cat"}},
                    "respond": {"url": "https://x.test/c.png"},
                },
                {"match": {"last_user_message": {"contains": "cat"}}, "respond": {"reply": "meow"}},
            ]
        )
    )
    image = Facts("image", prompt="a cat", aspect_ratio="1:1")
    assert stubs.select(image) is not None
    assert stubs.select(image).endpoint == "image"
    assert reply(stubs.select(chat("a cat"))) == "meow"


def test_remove_clear_and_list() -> None:
    stubs = StubSet()
    ids = stubs.add(parse_stubs([{"respond": {"reply": "a"}}, {"respond": {"reply": "b"}}]))
    assert [s.id for s in stubs.list()] == ids
    assert stubs.remove(ids[1])
    assert not stubs.remove(ids[1])
    assert reply(stubs.select(chat("x"))) == "a"
    stubs.clear()
    assert (stubs.count, stubs.select(chat("x"))) == (0, None)


# --- the index -----------------------------------------------------------------------------------

word = st.text(alphabet=ALPHABET, min_size=1, max_size=6)


@st.composite
def stub_data(draw: st.DrawFn) -> dict[str, Any]:
    op = draw(st.sampled_from(["equals", "contains", "regex", "glob"]))
    value = draw(word)
    if op == "regex":
        value = draw(
            st.sampled_from([value, f"{value}+", f"^{value}", f"{value}(x)?", f"[{value}]"])
        )
    test: dict[str, Any] = {op: value}
    if draw(st.booleans()):
        test["ignore_case"] = True
    match: dict[str, Any] = {draw(st.sampled_from(["last_user_message", "system"])): test}
    if draw(st.booleans()):
        match["json"] = draw(st.booleans())
    return {"priority": draw(st.integers(0, 2)), "match": match, "respond": {"reply": "x"}}


def scan(stubs: StubSet, facts: Facts) -> Stub | None:
    ordered = sorted(stubs.list(), key=lambda s: (s.priority, -s.seq))
    return next((s for s in ordered if s.match.match(facts)), None)


@SMALL
@given(
    st.lists(stub_data(), max_size=12),
    st.text(alphabet=ALPHABET, max_size=12),
    st.text(alphabet=ALPHABET, max_size=6),
    st.booleans(),
)
def test_the_index_selects_what_a_scan_selects(
    data: list[dict[str, Any]], text: str, system: str, json: bool
) -> None:
    stubs = StubSet()
    stubs.add(parse_stubs(data))
    messages = [{"role": "system", "content": system}, {"role": "user", "content": text}]
    facts = Facts("chat", messages=messages, json=json)
    expected = scan(stubs, facts)
    assert stubs.select(facts) is expected


regexes = st.text(alphabet="ab K.*+?()[]^$|\\d{}1,", max_size=10)


@settings(max_examples=300, deadline=None)
@given(regexes, st.text(alphabet="ab K1d,{}", max_size=12), st.booleans())
def test_a_regex_match_contains_its_required_literal(
    pattern: str, text: str, ignore_case: bool
) -> None:
    try:
        compiled = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except (re.error, FutureWarning):  # FutureWarning: "possible nested set", an error here
        assume(False)
        return
    literal = required_literal(pattern)
    if compiled.search(text):
        if ignore_case:
            assert literal.casefold() in text.casefold()
        else:
            assert literal in text


def test_required_literals() -> None:
    assert required_literal(r"weather in (\w+)") == "weather in "
    assert required_literal("abc*") == "ab"
    assert required_literal("a|bcd") == ""
    assert required_literal("(?i)abc") == ""
    assert required_literal("[^]abc]xy") == "xy"


def test_a_thousand_literal_stubs_are_not_all_tested_per_request() -> None:
    stubs = StubSet()
    data = [
        {
            "match": {"last_user_message": {"contains": f"keyword-{i:04d}"}},
            "respond": {"reply": str(i)},
        }
        for i in range(1000)
    ]
    stubs.add(parse_stubs(data))
    wanted = random.Random(1).randrange(1000)
    facts = chat(f"please see keyword-{wanted:04d} now")
    assert len(stubs.candidates(facts)) < 20  # of 1,000
    chosen = stubs.select(facts)
    assert chosen is not None
    assert chosen.source["respond"]["reply"] == str(wanted)


def test_an_ignore_case_regex_is_not_narrowed_by_casefold() -> None:
    """re's case rules are not casefold's: "kiwi" ignoring case matches "k\\u0131wi" (dotless i)."""
    stubs = StubSet()
    stubs.add(
        parse_stubs(
            [
                {
                    "match": {"last_user_message": {"regex": "kiwi", "ignore_case": True}},
                    "respond": {"reply": "fruit"},
                }
            ]
        )
    )
    assert reply(stubs.select(chat("a KIWI"))) == "fruit"
    assert reply(stubs.select(chat("a k\u0131wi"))) == "fruit"
