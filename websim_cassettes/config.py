"""The one vcrpy configuration for Websim cassettes, shared by tests, recorder and replay server.

``vcr_config()`` is the keyword arguments for ``use_cassette`` (and pytest-recording's
``vcr_config`` fixture); ``make_vcr()`` is a ``vcr.VCR`` with the Websim matcher registered.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .match import MATCHER_NAME, websim_body, websim_body_strict
from .scrub import scrub_request, scrub_response

__all__ = [
    "CASSETTE_DIR_ENV",
    "MATCH_ON",
    "cassette_dir",
    "make_vcr",
    "register_matchers",
    "vcr_config",
    "vcr_config_for_pytest",
]

CASSETTE_DIR_ENV = "WEBSIM_CASSETTE_DIR"
# Host, scheme and port are left out on purpose: a cassette recorded against the mock server
# replays for a client pointed at the live API, and the other way round.
MATCH_ON: tuple[str, ...] = ("method", "path", MATCHER_NAME)


def cassette_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """Where the command-line tools look for cassettes: ``path``, else ``$WEBSIM_CASSETTE_DIR``,
    else ``./cassettes`` under the working directory.

    Never the directory this package was installed from: with an editable install, another
    project's tools would otherwise find this project's cassettes.
    """
    if path is not None:
        return Path(path)
    env = os.environ.get(CASSETTE_DIR_ENV)
    if env:
        return Path(env)
    return Path.cwd() / "cassettes"


def vcr_config(
    *,
    record_mode: str = "none",
    cassette_library_dir: str | os.PathLike[str] | None = None,
    match_on: Sequence[str] = MATCH_ON,
) -> dict[str, Any]:
    """Keyword arguments for ``vcr.VCR.use_cassette`` (the VCR must know ``websim_body``).

    Matching on method, path and the body without ``project_id`` (``match_on``: vcrpy matcher
    names; add ``scheme``, ``host``, ``port`` to tell the mock from the live API); secrets
    scrubbed; volatile response headers dropped; compressed bodies stored decoded; nothing
    recorded unless asked.
    """
    return {
        "record_mode": record_mode,
        "match_on": tuple(match_on),
        "before_record_request": scrub_request,
        "before_record_response": scrub_response,
        "decode_compressed_response": True,
        "allow_playback_repeats": False,
        "serializer": "yaml",
        "cassette_library_dir": os.fspath(cassette_dir(cassette_library_dir)),
    }


def vcr_config_for_pytest(*, match_on: Sequence[str] = MATCH_ON) -> dict[str, Any]:
    """What to return from pytest-recording's ``vcr_config`` fixture.

    Leaves out ``record_mode`` (pytest-recording gives a ``record_mode`` in ``vcr_config``
    precedence over ``--record-mode``; its own default is ``none``) and the directory (that is
    the ``vcr_cassette_dir`` fixture's job).
    """
    config = vcr_config(match_on=match_on)
    del config["record_mode"], config["cassette_library_dir"]
    return config


def register_matchers(vcr: Any, *, strict_ids: bool = False) -> Any:
    """Teach a ``vcr.VCR`` the ``websim_body`` matcher (``websim_body_strict`` under that name
    with ``strict_ids``: project IDs judged as ``websim-mock --strict-ids`` does); returns it."""
    vcr.register_matcher(MATCHER_NAME, websim_body_strict if strict_ids else websim_body)
    return vcr


def make_vcr(
    *,
    record_mode: str = "none",
    cassette_library_dir: str | os.PathLike[str] | None = None,
    strict_ids: bool = False,
) -> Any:
    """A ``vcr.VCR`` configured for Websim cassettes; ``use_cassette("chat_basic.yaml")`` on it.

    ``strict_ids``: match only canonical project IDs, as ``websim-mock --strict-ids`` accepts.
    """
    import vcr

    config = vcr_config(record_mode=record_mode, cassette_library_dir=cassette_library_dir)
    # VCR() does not take allow_playback_repeats; use_cassette does, and defaults it to False.
    config.pop("allow_playback_repeats")
    my_vcr = vcr.VCR(**config)
    register_matchers(my_vcr, strict_ids=strict_ids)
    return my_vcr
