"""Seeded randomness: one independent, reproducible generator per purpose and seed."""

from __future__ import annotations

import random

__all__ = ["seeded_random"]


def seeded_random(purpose: str, seed: int) -> random.Random:
    """A generator for one purpose (chaos, latency, faults): independent streams per purpose,
    the same on every run and machine for the same seed."""
    return random.Random(f"websim-mock/{purpose}/{seed}")
