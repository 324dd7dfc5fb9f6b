"""When each service is checked next.

Every service has its own interval (default 30 s), clamped to configured bounds so a typo in a
registration cannot hammer a server or forget it for a week. Each watch starts after a small
random offset so that the services loaded together at startup do not all fire in the same
instant. While the circuit is OPEN, the next check waits for the breaker's retry time instead
of the interval: probing earlier would only be refused.
"""

from __future__ import annotations

import dataclasses
import random


@dataclasses.dataclass(frozen=True, slots=True)
class ScheduleSettings:
    """Interval bounds and the start-up spread, all in seconds.

    - `default_interval_seconds` (30): used when a watch names no interval.
    - `min_interval_seconds` (5), `max_interval_seconds` (3600): a requested interval is clamped.
    - `max_initial_offset_seconds` (10): the first check of a watch waits uniformly in
      [0, min(this, interval)].
    """

    default_interval_seconds: float = 30.0
    min_interval_seconds: float = 5.0
    max_interval_seconds: float = 3600.0
    max_initial_offset_seconds: float = 10.0

    def __post_init__(self) -> None:
        if self.min_interval_seconds <= 0:
            raise ValueError("min_interval_seconds must be positive")
        if not self.min_interval_seconds <= self.default_interval_seconds <= self.max_interval_seconds:
            raise ValueError("need min_interval_seconds <= default_interval_seconds <= max_interval_seconds")
        if self.max_initial_offset_seconds < 0:
            raise ValueError("max_initial_offset_seconds must be >= 0")


class Schedule:
    """Pure delay arithmetic; the supervisor does the sleeping."""

    def __init__(self, settings: ScheduleSettings | None = None, rng: random.Random | None = None) -> None:
        self._settings = settings or ScheduleSettings()
        self._rng = rng or random.Random()

    @property
    def settings(self) -> ScheduleSettings:
        return self._settings

    def interval(self, requested_seconds: float | None) -> float:
        """The interval actually used for a requested one (None means the default)."""
        settings = self._settings
        if requested_seconds is None:
            return settings.default_interval_seconds
        return min(max(requested_seconds, settings.min_interval_seconds), settings.max_interval_seconds)

    def initial_delay(self, interval_seconds: float) -> float:
        """How long a new watch waits before its first check: a small random spread."""
        spread = min(self._settings.max_initial_offset_seconds, interval_seconds)
        return self._rng.uniform(0.0, spread) if spread > 0 else 0.0

    def next_delay(self, interval_seconds: float, *, now: float, retry_at: float | None = None) -> float:
        """The wait after a check (or a refused one): the interval, or until the breaker's
        `retry_at` (monotonic seconds) while it is OPEN."""
        if retry_at is not None:
            return max(0.0, retry_at - now)
        return interval_seconds
