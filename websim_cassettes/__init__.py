"""Websim cassettes: the vcrpy configuration, matcher, scrubbing, checker, drift report, index.

Everything tests, the re-recorder and the replay server share about recorded Websim traffic.
vcrpy (a dependency) is imported only when a function needs it, to keep start-up fast.
"""

from __future__ import annotations

from .check import DOCUMENTED_STATUSES, Finding, check_cassette, check_directory, check_file
from .config import (
    CASSETTE_DIR_ENV,
    MATCH_ON,
    cassette_dir,
    make_vcr,
    register_matchers,
    vcr_config,
    vcr_config_for_pytest,
)
from .drift import CassetteDrift, DriftItem, compare_cassettes, format_report, json_shape
from .files import (
    PROVENANCE_KEY,
    CassetteFile,
    CassetteLoadError,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    cassette_paths,
    dump_cassette,
    load_cassette,
    provenance,
    write_atomic,
)
from .index import Hit, Miss, ReplayIndex, request_key
from .match import (
    MATCHER_NAME,
    ParsedBody,
    body_differences,
    normalized_body,
    parse_body,
    request_id_problem,
    websim_body,
    websim_body_strict,
)
from .scrub import (
    REDACTED,
    VOLATILE_RESPONSE_HEADERS,
    find_secrets,
    scrub_body,
    scrub_request,
    scrub_response,
)

__all__ = [
    "CASSETTE_DIR_ENV",
    "DOCUMENTED_STATUSES",
    "MATCHER_NAME",
    "MATCH_ON",
    "PROVENANCE_KEY",
    "REDACTED",
    "VOLATILE_RESPONSE_HEADERS",
    "CassetteDrift",
    "CassetteFile",
    "CassetteLoadError",
    "DriftItem",
    "Finding",
    "Hit",
    "Interaction",
    "Miss",
    "ParsedBody",
    "RecordedRequest",
    "RecordedResponse",
    "ReplayIndex",
    "body_differences",
    "cassette_dir",
    "cassette_paths",
    "check_cassette",
    "check_directory",
    "check_file",
    "compare_cassettes",
    "dump_cassette",
    "find_secrets",
    "format_report",
    "json_shape",
    "load_cassette",
    "make_vcr",
    "normalized_body",
    "parse_body",
    "provenance",
    "register_matchers",
    "request_id_problem",
    "request_key",
    "scrub_body",
    "scrub_request",
    "scrub_response",
    "vcr_config",
    "vcr_config_for_pytest",
    "websim_body",
    "websim_body_strict",
    "write_atomic",
]
