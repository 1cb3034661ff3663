"""The shared vcrpy configuration: where the tools look for cassettes, and what is matched."""

from __future__ import annotations

from pathlib import Path

import pytest

from websim_cassettes import CASSETTE_DIR_ENV, MATCH_ON, cassette_dir, vcr_config


def test_the_tools_look_in_the_working_directory_not_in_this_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This suite runs from an editable install whose source tree has cassettes/: another
    # project's tools must not find them.
    monkeypatch.delenv(CASSETTE_DIR_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert cassette_dir() == tmp_path / "cassettes"
    monkeypatch.setenv(CASSETTE_DIR_ENV, "/elsewhere")
    assert cassette_dir() == Path("/elsewhere")
    assert cassette_dir("given") == Path("given")


def test_host_scheme_and_port_are_matched_only_when_asked() -> None:
    assert not {"scheme", "host", "port"} & set(vcr_config()["match_on"])
    asked = ("method", "scheme", "host", "port", "path", "websim_body")
    assert vcr_config(match_on=asked)["match_on"] == asked
    assert vcr_config()["match_on"] == MATCH_ON
