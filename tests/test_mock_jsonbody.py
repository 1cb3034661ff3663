"""The mock's strict JSON parser: json.loads's answer (value, or the same error) for any body,
except that NaN and Infinity are refused and deep nesting is a ValueError too."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mock_server.core.jsonbody import parse_json_strictly

_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
_tails = st.sampled_from(["", " ", "\n\t ", "x", " {}", ",", "]", "}", "\x00"])


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _reference(body: bytes) -> tuple[str, Any]:
    """What json.loads says of ``body`` (with NaN and Infinity refused), as a comparable pair."""
    try:
        return "value", json.loads(body, parse_constant=_refuse_constant)
    except RecursionError:
        return "error", (ValueError, "JSON nested too deeply")
    except ValueError as exc:
        return "error", (type(exc), str(exc))


def _ours(body: bytes) -> tuple[str, Any]:
    try:
        return "value", parse_json_strictly(body)
    except ValueError as exc:
        return "error", (type(exc), str(exc))


@given(
    value=_values,
    tail=_tails,
    cut=st.integers(0, 400),
    encoding=st.sampled_from(["utf-8", "utf-16-le", "utf-16-be", "utf-32"]),
)
def test_any_body_gets_json_loads_answer(value: Any, tail: str, cut: int, encoding: str) -> None:
    text = json.dumps(value, ensure_ascii=False) + tail
    body = text.encode(encoding, "surrogatepass")
    for sample in (body, body[:cut], body[cut:]):
        assert _ours(sample) == _reference(sample)


@given(body=st.binary(max_size=64).map(lambda b: b"{" + b))
def test_any_bytes_after_a_brace_get_json_loads_answer(body: bytes) -> None:
    assert _ours(body) == _reference(body)


@pytest.mark.parametrize("body", [b'{"a": NaN}', b"[Infinity]", b"-Infinity", b'{"a": [NaN]}'])
def test_nan_and_infinity_are_refused(body: bytes) -> None:
    with pytest.raises(ValueError, match="is not JSON"):
        parse_json_strictly(body)


def test_deep_nesting_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="nested too deeply"):
        parse_json_strictly(b'{"a": ' * 100_000 + b"1" + b"}" * 100_000)
