"""Chaos for the mock, with no I/O: a seeded fraction of requests gets an error status or a fault.

``Chaos(rate, mix, seed).draw()`` is called once per request that nothing else arranged; it
returns None (answer normally) or the step to play, drawn from the weighted ``mix``. The draws
come from one ``random.Random`` seeded from the server's seed: the same seed and the same order
of requests give the same sequence of outcomes.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import StepError
from .seeds import seeded_random
from .steps import Step, parse_step

__all__ = ["DEFAULT_CHAOS_MIX", "Chaos", "parse_mix"]

DEFAULT_CHAOS_MIX = (
    "429:3,500:1,502:1,503:1,connection_reset:1,empty_response:1,garbage:1,"
    "truncated_body:1,stream_cut:1,stream_malformed:1,delay:1"
)


def parse_mix(text: str) -> tuple[tuple[Step, float], ...]:
    """``"429:3,500:1,connection_reset:1"``: outcomes and their weights (a missing weight is 1).

    An outcome is a status (200..599, with its built-in body) or a fault's name (with its
    default parameters). ValueError names the bad item.
    """
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise ValueError("chaos mix is empty")
    mix: list[tuple[Step, float]] = []
    for item in items:
        name, _, weight_text = item.partition(":")
        name = name.strip()
        try:
            step = parse_step(int(name) if name.isdigit() else name, f"chaos mix {name!r}")
        except StepError as exc:
            raise ValueError(str(exc)) from None
        try:
            weight = float(weight_text) if weight_text.strip() else 1.0
        except ValueError:
            weight = -1.0
        if not 0 <= weight <= 1e6:
            raise ValueError(f"chaos mix {item!r}: the weight must be a number 0..1000000")
        mix.append((step, weight))
    if sum(w for _, w in mix) <= 0:
        raise ValueError("chaos mix: the weights add up to 0")
    return tuple(mix)


class Chaos:
    """Each ``draw()``: with probability ``rate``, a step from ``mix`` by weight, else None."""

    __slots__ = ("_cum", "_rng", "_steps", "rate", "seed")

    def __init__(
        self, rate: float, mix: Sequence[tuple[Step, float]] | str | None = None, seed: int = 0
    ) -> None:
        if not 0 <= rate <= 1:  # also refuses NaN
            raise ValueError(f"chaos rate must be 0..1, not {rate!r}")
        if mix is None:
            mix = DEFAULT_CHAOS_MIX
        pairs = parse_mix(mix) if isinstance(mix, str) else tuple(mix)
        if not pairs or sum(w for _, w in pairs) <= 0:
            raise ValueError("chaos mix needs at least one outcome with a weight above 0")
        self.rate = rate
        self.seed = seed
        self._steps = [step for step, _ in pairs]
        total = 0.0
        self._cum: list[float] = []
        for _, weight in pairs:
            total += weight
            self._cum.append(total)
        self._rng = seeded_random("chaos", seed)

    def draw(self) -> Step | None:
        rng = self._rng
        if rng.random() >= self.rate:
            return None
        return rng.choices(self._steps, cum_weights=self._cum)[0]

    def reset(self) -> None:
        """Start the sequence over, as if the server had just started."""
        self._rng = seeded_random("chaos", self.seed)
