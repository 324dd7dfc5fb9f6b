"""Exponential backoff with jitter, capped.

The breaker uses it to decide how long a circuit stays open, and the supervisor to pace the
restart of a crashed watch. Jitter matters here: many services behind one network fault open
their circuits in the same second, and without it they would all retry in the same second too.
"""

from __future__ import annotations

import dataclasses
import random


@dataclasses.dataclass(frozen=True, slots=True)
class Backoff:
    """Delays `base * multiplier**attempt`, spread by +-`jitter`, never above `cap`.

    `attempt` counts from 0 (the first delay is about `base_seconds`). Jitter is a fraction of
    the un-jittered delay: 0.2 gives a delay uniformly in [0.8 d, 1.2 d]. The cap applies after
    jitter, so once the growth reaches the cap the delays spread in [cap * (1 - jitter), cap]:
    callers can rely on `delay() <= cap_seconds`.
    """

    base_seconds: float = 30.0
    multiplier: float = 2.0
    cap_seconds: float = 900.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if self.base_seconds <= 0:
            raise ValueError("base_seconds must be positive")
        if self.multiplier < 1:
            raise ValueError("multiplier must be at least 1")
        if self.cap_seconds < self.base_seconds:
            raise ValueError("cap_seconds must be at least base_seconds")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")

    def ceiling(self, attempt: int) -> float:
        """The un-jittered delay for `attempt`, already capped (no float overflow for huge attempts)."""
        if attempt < 0:
            raise ValueError("attempt must be >= 0")
        delay = self.base_seconds
        if self.multiplier == 1:
            return delay
        for _ in range(attempt):
            delay *= self.multiplier
            if delay >= self.cap_seconds:
                return self.cap_seconds
        return min(delay, self.cap_seconds)

    def delay(self, attempt: int, rng: random.Random) -> float:
        """A jittered delay for `attempt`; pass a seeded `random.Random` for reproducible tests."""
        ceiling = self.ceiling(attempt)
        if self.jitter == 0:
            return ceiling
        spread = rng.uniform(1 - self.jitter, 1 + self.jitter)
        return min(ceiling * spread, self.cap_seconds)
