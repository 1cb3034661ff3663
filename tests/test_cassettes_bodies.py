"""The bytes of a recorded request body (websim_cassettes.bodies): whatever vcrpy stored, a
``json=`` dict as a YAML mapping included, reads as the JSON that went over the wire."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from helpers import DOWNSTREAM_CASSETTES
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import json_values
from vcr.request import Request
from vcr.serialize import serialize
from vcr.serializers import yamlserializer

from websim_cassettes import load_cassette
from websim_cassettes.bodies import body_bytes
from websim_cassettes.match import parse_body

TIPSTER = DOWNSTREAM_CASSETTES / "test_tipster" / "test_a_tip_from_the_cassette.yaml"
BODY = {"project_id": "abc_0123456789abcdef", "messages": [{"role": "user", "content": "hé"}]}


def test_each_form_vcrpy_keeps_reads_as_its_bytes() -> None:
    text = json.dumps(BODY)
    assert json.loads(body_bytes(BODY)) == BODY  # a json= dict: JSON, never its repr
    assert body_bytes(text.encode()) == text.encode()
    assert body_bytes(text) == text.encode()
    assert body_bytes(None) == b""
    assert body_bytes([b"ab", b"cd"]) == b"abcd"  # chunks of an async generator
    assert body_bytes(io.BytesIO(b"file")) == b"file"
    assert body_bytes({"a": "é"}) == '{"a": "é"}'.encode()  # UTF-8, not \\u escapes


def test_a_json_dict_cassette_written_by_the_plugin_loads_as_json() -> None:
    # vcrpy's aiohttp stub stored this json= body as a YAML mapping under request.body.
    assert "body:\n      messages:" in TIPSTER.read_text(encoding="utf-8")
    (interaction,) = load_cassette(TIPSTER).interactions
    sent = json.loads(interaction.request.body)
    assert sent["project_id"] == "vkw_hzif77cwsm5pqq98"
    assert sent["messages"][-1] == {"role": "user", "content": "A tip about sourdough, please."}


def _written(tmp_path: Path, body: object) -> bytes:
    request = Request("POST", "https://websim.ai/api/v1/inference/run_chat_completion", body, {})
    response = {"status": {"code": 200, "message": "OK"}, "headers": {}, "body": {"string": b""}}
    path = tmp_path / "one.yaml"
    data = {"requests": [request], "responses": [response]}
    path.write_text(serialize(data, yamlserializer), encoding="utf-8")
    return load_cassette(path).interactions[0].request.body


# What aiohttp's json= takes and vcrpy then stores as it is (a str or None is a text body or none).
SENT_AS_JSON = st.one_of(
    st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    json_values.filter(lambda v: v is not None and not isinstance(v, str)),
)


@settings(max_examples=30, deadline=None)
@given(value=SENT_AS_JSON)
def test_what_vcrpy_stores_reads_back_as_what_was_sent(
    tmp_path_factory: pytest.TempPathFactory, value: object
) -> None:
    # The law: a body stored by vcrpy in any form (a json= value as YAML, bytes, text) loads as
    # bytes the matcher reads as the same JSON the caller sent.
    tmp_path = tmp_path_factory.mktemp("bodies")
    for form in (value, json.dumps(value).encode(), json.dumps(value)):
        assert parse_body(_written(tmp_path, form)).value == value
