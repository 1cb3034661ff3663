"""The scripted-step queue: steps wait here, first in first out, for the requests they answer."""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Iterator
from itertools import islice
from operator import itemgetter

from .errors import StepError
from .steps import SCOPES, Scope, Step

__all__ = ["MAX_PENDING_STEPS", "ScriptQueue"]

# Steps that may wait at once, all endpoints together. A test scripts a handful; without a
# bound, each 1 MiB POST of "[0,0,...]" queued 262,128 steps and nothing ever freed them.
MAX_PENDING_STEPS = 10_000


def _tagged(
    scope: Scope, queue: deque[tuple[int, Step]], since: int
) -> Iterator[tuple[int, Scope, Step]]:
    return ((seq, scope, step) for seq, step in queue if seq > since)


class ScriptQueue:
    """Scripted steps waiting for requests, oldest first.

    A request to an endpoint consumes the oldest step scripted for that endpoint or for "any";
    each scope keeps its own deque and steps carry a sequence number, so taking one is O(1).
    """

    __slots__ = ("_queues", "_seq", "limit", "waiting")

    def __init__(self, limit: int = MAX_PENDING_STEPS) -> None:
        self._queues: dict[Scope, deque[tuple[int, Step]]] = {s: deque() for s in SCOPES}
        self._seq = 0
        self.limit = limit
        self.waiting = 0  # steps in all queues: what a request checks first (usually 0)

    def check_room(self, count: int, where: str = "responses") -> None:
        """``StepError`` naming the limit when ``count`` more steps would not fit."""
        if self.waiting + count > self.limit:
            raise StepError(
                where,
                f"{count} steps would make {self.waiting + count} waiting; at most"
                f" {self.limit} steps may wait at once (consume or reset some first)",
            )

    def add(self, scope: Scope, steps: Iterable[Step]) -> int:
        """Queue steps behind those already waiting; returns how many were added.

        ``StepError`` (and nothing queued) when they would pass ``limit``.
        """
        steps = list(steps)
        self.check_room(len(steps))
        queue = self._queues[scope]
        added = 0
        for step in steps:
            self._seq += 1
            queue.append((self._seq, step))
            added += 1
        self.waiting += added
        return added

    @property
    def last_id(self) -> int:
        """The number of the last step scripted (0 before the first)."""
        return self._seq

    def take(self, endpoint: Scope) -> Step | None:
        """The next step for a request to ``endpoint``, removed from the queue; None if none."""
        own = self._queues[endpoint]
        shared = self._queues["any"]
        if own and (not shared or own[0][0] < shared[0][0]):
            self.waiting -= 1
            return own.popleft()[1]
        if shared:
            self.waiting -= 1
            return shared.popleft()[1]
        return None

    def pending(self) -> list[tuple[Scope, Step]]:
        """Every waiting step with its scope, in the order they were scripted."""
        return [(scope, step) for _, scope, step in self.page()]

    def page(self, since: int = 0, limit: int | None = None) -> list[tuple[int, Scope, Step]]:
        """Waiting steps scripted after the one numbered ``since``, at most ``limit``, in the
        order they were scripted, each with its number; only those are gathered."""
        # Each queue is in order: merging them gives the order they were scripted in.
        tagged = [_tagged(scope, queue, since) for scope, queue in self._queues.items()]
        return list(islice(heapq.merge(*tagged, key=itemgetter(0)), limit))

    def clear(self) -> None:
        for queue in self._queues.values():
            queue.clear()
        self.waiting = 0

    def __len__(self) -> int:
        return self.waiting
