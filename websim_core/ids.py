"""Websim project IDs: generate the canonical forms, tell canonical, legacy and invalid apart,
and say which IDs each endpoint accepts (``project_id_problem``, the one rule everyone uses).

A project ID is 20 characters, two runs of ``[a-z0-9]`` around one underscore: chat 3_16,
image 7_12. gpt4free generates chat IDs as 3_15 (19 characters); we call that form legacy.
"""

from __future__ import annotations

import enum
import random
import re
import string
from typing import Literal

from .routing import Endpoint

__all__ = [
    "ID_ALPHABET",
    "LENIENT_ID_PATTERN",
    "ProjectIdKind",
    "classify_project_id",
    "generate_project_id",
    "id_pattern",
    "is_lenient_project_id",
    "project_id_problem",
]

ID_ALPHABET = string.ascii_lowercase + string.digits
_RUNS = {"chat": (3, 16), "image": (7, 12)}
_LEGACY_RUNS = (3, 15)
LENIENT_ID_PATTERN = r"^[a-z0-9_]{1,64}$"
_SYSTEM_RANDOM = random.SystemRandom()


def _runs_pattern(left: int, right: int) -> str:
    return f"^[a-z0-9]{{{left}}}_[a-z0-9]{{{right}}}$"


# Used with fullmatch, so the anchors change nothing ("$" before a final "\n" still fails).
_CHAT_RE = re.compile(_runs_pattern(*_RUNS["chat"]))
_IMAGE_RE = re.compile(_runs_pattern(*_RUNS["image"]))
_LEGACY_RE = re.compile(_runs_pattern(*_LEGACY_RUNS))
_LENIENT_RE = re.compile(LENIENT_ID_PATTERN)


class ProjectIdKind(str, enum.Enum):
    """What kind of project ID a string is."""

    CHAT = "chat"
    IMAGE = "image"
    LEGACY = "legacy"
    INVALID = "invalid"


def id_pattern(kind: Literal["chat", "image"]) -> str:
    """The anchored regex of a canonical ID of this kind, for messages and schemas."""
    return _runs_pattern(*_RUNS[kind])


def generate_project_id(
    kind: Literal["chat", "image"] = "chat", *, rng: random.Random | None = None
) -> str:
    """A fresh canonical project ID; pass a seeded ``random.Random`` for reproducible IDs."""
    try:
        left, right = _RUNS[kind]
    except (KeyError, TypeError):
        raise ValueError(f"kind must be 'chat' or 'image', not {kind!r}") from None
    if rng is not None:
        chars = rng.choices(ID_ALPHABET, k=left + right)
    else:
        # One draw of OS randomness, not one system call per character; 36**19 is about
        # 2**98, so 160 bits make the bias of the digits below about 2**-62.
        bits = _SYSTEM_RANDOM.getrandbits(160)
        chars = []
        for _ in range(left + right):
            bits, digit = divmod(bits, 36)
            chars.append(ID_ALPHABET[digit])
    return "".join(chars[:left]) + "_" + "".join(chars[left:])


def classify_project_id(value: object) -> ProjectIdKind:
    """Canonical chat, canonical image, legacy (gpt4free's 3_15) or invalid; never raises."""
    if not isinstance(value, str):
        return ProjectIdKind.INVALID
    if _CHAT_RE.fullmatch(value):
        return ProjectIdKind.CHAT
    if _IMAGE_RE.fullmatch(value):
        return ProjectIdKind.IMAGE
    if _LEGACY_RE.fullmatch(value):
        return ProjectIdKind.LEGACY
    return ProjectIdKind.INVALID


def is_lenient_project_id(value: object) -> bool:
    """True for 1 to 64 characters of ``[a-z0-9_]``: what the mock server accepts by default."""
    return isinstance(value, str) and _LENIENT_RE.fullmatch(value) is not None


def project_id_problem(endpoint: Endpoint, value: object, *, strict: bool) -> str | None:
    """Why ``value`` is not a project ID ``endpoint`` accepts, or None if it is one.

    The one rule for client, mock and cassette matching, in the mock's two modes:

    - lenient (``strict=False``, the mock's default): 1 to 64 characters of ``[a-z0-9_]`` for
      either endpoint, so every known client works, gpt4free's legacy 3_15 chat IDs included;
    - strict (``strict=True``, ``websim-mock --strict-ids``): only the canonical form of the
      endpoint (chat 3_16, image 7_12); legacy IDs are refused.

    The problem reads after the field name: ``invalid project_id: {problem}``.
    """
    if not isinstance(value, str):
        kind = "null" if value is None else type(value).__name__
        return f"must be a string, not {kind}"
    if strict:
        wanted = Endpoint(endpoint).value
        if classify_project_id(value).value != wanted:
            return f"must match {_runs_pattern(*_RUNS[wanted])} for {wanted}"
        return None
    if _LENIENT_RE.fullmatch(value) is None:
        return "must be 1 to 64 characters of [a-z0-9_]"
    return None
