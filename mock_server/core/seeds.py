"""Seeded randomness: one independent, reproducible generator per purpose and seed."""

from __future__ import annotations

import hashlib
import random

__all__ = ["seeded_random", "session_seed"]


def seeded_random(purpose: str, seed: int) -> random.Random:
    """A generator for one purpose (chaos, latency, faults): independent streams per purpose,
    the same on every run and machine for the same seed."""
    return random.Random(f"websim-mock/{purpose}/{seed}")


def session_seed(seed: int, name: str) -> int:
    """The seed of a session's draws: the server's seed and the session's name, so a session
    draws the same sequence on every run whatever the other sessions do."""
    digest = hashlib.blake2b(f"{seed}/{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")
