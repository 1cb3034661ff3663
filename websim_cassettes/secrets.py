"""What a secret is: the one definition the scrubber removes and the checker looks for.

A secret is (a) a value of a known credential shape (``sk-...``, ``ghp_...``, a PEM private key
block, ...), or (b) a value assigned to a credential name (``accessToken=...``, ``"clientSecret":
"..."``, ``X-Custom: token=...``). Names are judged word by word, camelCase split, so
``accessToken``, ``access_token`` and ``ACCESS-TOKEN`` are the same name. Because the checker's
``find_secrets`` and the scrubber's ``scrub_text`` both read ``secret_spans``, whatever the
scrubber leaves, the checker accepts. A streamed answer is judged on its joined text too: a
secret cut across two events is still a secret (``stream_text``).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

from websim_core.errors import ResponseFormatError
from websim_core.sse import DONE, SSEDecoder

__all__ = [
    "REDACTED",
    "SECRET_PATTERNS",
    "SecretFinding",
    "find_secrets",
    "is_sensitive_name",
    "scrub_text",
    "secret_spans",
    "stream_deltas",
    "stream_text",
]

REDACTED = "<redacted>"

# One word of a name that always means a credential.
_SECRET_WORDS = frozenset(
    {
        "authorization",
        "authentication",
        "auth",
        "cookie",
        "token",
        "secret",
        "password",
        "passwd",
        "session",
        "sessionid",
        "csrf",
        "xsrf",
        "credential",
        "credentials",
        "signature",
        "sig",
        "apikey",
        "accesstoken",
        "authtoken",
        "clientsecret",
    }
)
# "<word> key" pairs (Ocp-Apim-Subscription-Key, X-Api-Key, private_key); "key" alone is not.
# A word ending so is one too, whatever was glued before it (refreshtoken, xapikey, sessionid).
_SECRET_ENDINGS = (
    "token",
    "secret",
    "password",
    "passwd",
    "apikey",
    "sessionid",
    "privatekey",
    "accesskey",
    "secretkey",
    "subscriptionkey",
    "signature",
    "credentials",
)
_KEY_WORDS = frozenset({"api", "access", "private", "secret", "subscription", "signing", "master"})
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")

SECRET_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("bearer token", re.compile(r"\bBearer\s+([A-Za-z0-9._~+/=-]{8,})")),
    ("basic credentials", re.compile(r"\bBasic\s+([A-Za-z0-9+/]{8,}={0,2})")),
    ("API key (sk-)", re.compile(r"\bsk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_-]{20,}")),
    ("Stripe key", re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{10,}")),
    ("GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})")),
    ("GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}")),
    ("Hugging Face token", re.compile(r"\bhf_[A-Za-z0-9]{20,}")),
    ("AWS access key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    (
        "JSON web token",
        re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    ),
    # The whole block, key material included, to its END line (or the end of the text).
    (
        "private key",
        re.compile(
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----(?:.*?-----END [A-Z ]*PRIVATE KEY-----|.*)", re.S
        ),
    ),
)
# name = value, name: value, "name": "value", ?name=value; zero-width so that every start is
# tried (a non-credential assignment never hides a credential one inside it).
_ASSIGNMENT = re.compile(
    r"(?=(?<![A-Za-z0-9_])([A-Za-z][A-Za-z0-9_.-]{0,63})[\"']?\s*[:=]\s*[\"']?"
    r"([^\s\"'&,;}<>\\=]{6,}))"
)


@dataclass(frozen=True)
class SecretFinding:
    """Something that looks like a secret: which rule saw it, and a shortened excerpt."""

    kind: str
    excerpt: str


def is_sensitive_name(name: str) -> bool:
    """True for a header, field or parameter name whose value is likely a credential."""
    words = [w.lower() for w in _WORD.findall(name)]
    if any(w in _SECRET_WORDS or w.endswith(_SECRET_ENDINGS) for w in words):
        return True
    return any(a in _KEY_WORDS and b == "key" for a, b in itertools.pairwise(words))


# A literal each pattern's matches contain: a pattern whose literal is absent is not run
# (most texts hold none, and running all of them was most of the scrubber's time).
_LITERALS: dict[str, tuple[str, ...]] = {
    "bearer token": ("Bearer",),
    "basic credentials": ("Basic",),
    "API key (sk-)": ("sk-",),
    "Stripe key": ("_live_", "_test_"),
    "GitHub token": ("gh", "github_pat_"),
    "GitLab token": ("glpat-",),
    "Hugging Face token": ("hf_",),
    "AWS access key": ("AKIA", "ASIA"),
    "Google API key": ("AIza",),
    "Slack token": ("xox",),
    "JSON web token": ("eyJ",),
    "private key": ("PRIVATE KEY",),
}


def _raw_spans(text: str) -> Iterator[tuple[int, int, str]]:
    for kind, pattern in SECRET_PATTERNS:
        if not any(literal in text for literal in _LITERALS[kind]):
            continue
        for match in pattern.finditer(text):
            group = match.lastindex or 0
            yield match.start(group), match.end(group), kind
    if ":" not in text and "=" not in text:
        return
    for match in _ASSIGNMENT.finditer(text):
        if is_sensitive_name(match.group(1)):
            yield match.start(2), match.end(2), "credential assignment"


def secret_spans(text: str) -> list[tuple[int, int, str]]:
    """Where the secrets of ``text`` are: sorted, overlapping spans merged (first kind kept)."""
    merged: list[tuple[int, int, str]] = []
    for start, end, kind in sorted(_raw_spans(text)):
        if merged and start <= merged[-1][1]:
            last = merged[-1]
            merged[-1] = (last[0], max(last[1], end), last[2])
        else:
            merged.append((start, end, kind))
    return merged


def find_secrets(text: str) -> list[SecretFinding]:
    """What in ``text`` looks like a secret (already-redacted values are not reported)."""
    found = []
    for start, end, kind in secret_spans(text):
        value = text[start:end]
        found.append(SecretFinding(kind, value[:12] + "…" if len(value) > 16 else value))
    return found


def scrub_text(text: str) -> str:
    """``text`` with every secret span replaced by ``<redacted>``, until none is left."""
    for _ in range(8):
        spans = secret_spans(text)
        if not spans:
            return text
        parts, at = [], 0
        for start, end, _kind in spans:
            parts += [text[at:start], REDACTED]
            at = end
        text = "".join([*parts, text[at:]])
    # Redacting never builds a new secret in practice; if it ever did, keep nothing of it.
    return REDACTED if secret_spans(text) else text


def stream_deltas(body: bytes) -> list[str] | None:
    """The text of each event of a chat event stream, or None when it is not one."""
    decoder = SSEDecoder()
    try:
        events = decoder.feed(body) + decoder.close()
    except ResponseFormatError:
        return None
    deltas = []
    for event in events:
        if event.data == DONE:
            continue
        try:
            payload = json.loads(event.data)
        except ValueError:
            return None
        if not isinstance(payload, dict) or not isinstance(payload.get("content"), str):
            return None
        deltas.append(payload["content"])
    return deltas or None


def stream_text(body: bytes) -> str | None:
    """The joined answer of a chat event stream (what a reader of it sees), or None."""
    deltas = stream_deltas(body)
    return None if deltas is None else "".join(deltas)
