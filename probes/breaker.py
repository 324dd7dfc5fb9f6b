"""A per-service circuit breaker with resilience4j semantics.

Why: a service that is down answers every probe with the same timeout. Probing it every 30 s
wastes a concurrency slot for the whole timeout and tells us nothing new, so after enough
failures the circuit OPENs and the loop stops probing it for a backoff that grows with each
consecutive opening. Then it goes HALF_OPEN: a few trial probes are let through; enough
successes close it, any failure opens it again with the next, longer backoff.

    CLOSED --(threshold reached)--> OPEN --(backoff elapsed, on allows())--> HALF_OPEN
    HALF_OPEN --(successes_to_close successes)--> CLOSED
    HALF_OPEN --(any failure)--> OPEN (next backoff)

The threshold counts either consecutive failures, or the failure rate over a count-based sliding
window of the most recent checks once `minimum_calls` of them exist (`FailureCounting`).

Time is passed in (`now`, monotonic seconds) rather than read, so the breaker is pure and tests
drive it without a clock. A snapshot stores the open deadline as a wall-clock datetime instead,
because monotonic time means nothing to another process after a restart.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import random
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from probes.backoff import Backoff
from probes.result import CircuitState


class FailureCounting(StrEnum):
    """How CLOSED decides to open."""

    CONSECUTIVE = "CONSECUTIVE"
    SLIDING_WINDOW = "SLIDING_WINDOW"


@dataclasses.dataclass(frozen=True, slots=True)
class BreakerSettings:
    """How one service's breaker trips and recovers; the same settings apply to every service.

    - `failure_threshold` (5): consecutive failures that open the circuit (CONSECUTIVE mode).
    - `window_size` (10), `failure_rate_threshold` (0.5), `minimum_calls` (5): SLIDING_WINDOW mode
      opens when, over the last `window_size` checks, the failure share reaches the threshold,
      but never before `minimum_calls` checks were seen since the circuit last closed.
    - `half_open_trials` (2): probes allowed through while HALF_OPEN.
    - `successes_to_close` (2): trial successes that close the circuit (<= half_open_trials).
    - `backoff`: how long the circuit stays OPEN; attempt n is the n-th consecutive opening
      (default 30 s doubling to a 15 min cap, +-20 % jitter).
    """

    counting: FailureCounting = FailureCounting.CONSECUTIVE
    failure_threshold: int = 5
    window_size: int = 10
    failure_rate_threshold: float = 0.5
    minimum_calls: int = 5
    half_open_trials: int = 2
    successes_to_close: int = 2
    backoff: Backoff = dataclasses.field(
        default_factory=lambda: Backoff(base_seconds=30.0, multiplier=2.0, cap_seconds=900.0, jitter=0.2)
    )

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if self.window_size < 1:
            raise ValueError("window_size must be at least 1")
        if not 0 < self.failure_rate_threshold <= 1:
            raise ValueError("failure_rate_threshold must be in (0, 1]")
        if not 1 <= self.minimum_calls <= self.window_size:
            raise ValueError("minimum_calls must be in [1, window_size]")
        if self.half_open_trials < 1:
            raise ValueError("half_open_trials must be at least 1")
        if not 1 <= self.successes_to_close <= self.half_open_trials:
            raise ValueError("successes_to_close must be in [1, half_open_trials]")


@dataclasses.dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    """A breaker's persistent state; `CircuitBreaker.from_snapshot` resumes it after a restart.

    `open_count` is the number of consecutive openings since the circuit last closed (it picks
    the next backoff). `opened_until` is when an OPEN circuit may let a trial through (aware
    UTC), None in other states. `window` holds the recent outcomes, oldest first, True for a
    success. Trials in flight are deliberately not stored: a restart lost them.
    """

    state: CircuitState = CircuitState.CLOSED
    consecutive_failures: int = 0
    open_count: int = 0
    opened_until: dt.datetime | None = None
    window: tuple[bool, ...] = ()
    trial_successes: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the app stores it in a JSON column)."""
        return {
            "state": self.state.value,
            "consecutive_failures": self.consecutive_failures,
            "open_count": self.open_count,
            "opened_until": self.opened_until.isoformat() if self.opened_until else None,
            "window": list(self.window),
            "trial_successes": self.trial_successes,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BreakerSnapshot:
        """The inverse of `to_dict`; raises ValueError on anything it did not write."""
        try:
            opened_until_raw = data.get("opened_until")
            opened_until = dt.datetime.fromisoformat(opened_until_raw) if opened_until_raw else None
            window = data.get("window", [])
            if not all(isinstance(item, bool) for item in window):
                raise ValueError("window must hold booleans")
            snapshot = cls(
                state=CircuitState(data.get("state", CircuitState.CLOSED.value)),
                consecutive_failures=int(data.get("consecutive_failures", 0)),
                open_count=int(data.get("open_count", 0)),
                opened_until=opened_until,
                window=tuple(window),
                trial_successes=int(data.get("trial_successes", 0)),
            )
        except (TypeError, KeyError) as exc:
            raise ValueError(f"not a breaker snapshot: {exc}") from exc
        if opened_until is not None and opened_until.tzinfo is None:
            raise ValueError("opened_until must be timezone-aware")
        return snapshot


class CircuitBreaker:
    """One service's circuit. Not thread-safe; the supervisor touches it from one event loop."""

    def __init__(self, settings: BreakerSettings | None = None, rng: random.Random | None = None) -> None:
        self._settings = settings or BreakerSettings()
        self._rng = rng or random.Random()
        self._state = CircuitState.CLOSED
        self._consecutive_failures = 0
        self._open_count = 0
        self._open_until: float | None = None
        self._window: collections.deque[bool] = collections.deque(maxlen=self._settings.window_size)
        self._trials_in_flight = 0
        self._trial_successes = 0

    @classmethod
    def from_snapshot(
        cls,
        snapshot: BreakerSnapshot,
        settings: BreakerSettings | None = None,
        *,
        now: float,
        wall_now: dt.datetime,
        rng: random.Random | None = None,
    ) -> CircuitBreaker:
        """Resume a persisted breaker; `now`/`wall_now` map the stored deadline onto this process's
        monotonic time. An OPEN circuit whose deadline has passed lets the next trial through."""
        breaker = cls(settings, rng)
        breaker._state = snapshot.state
        breaker._consecutive_failures = snapshot.consecutive_failures
        breaker._open_count = snapshot.open_count
        breaker._window.extend(snapshot.window)
        if snapshot.state is CircuitState.OPEN:
            remaining = (snapshot.opened_until - wall_now).total_seconds() if snapshot.opened_until else 0.0
            breaker._open_until = now + remaining
        elif snapshot.state is CircuitState.HALF_OPEN:
            breaker._trial_successes = snapshot.trial_successes
        return breaker

    @property
    def settings(self) -> BreakerSettings:
        return self._settings

    @property
    def state(self) -> CircuitState:
        """The state as of the last `allows`/`record` (OPEN turns HALF_OPEN lazily, in `allows`)."""
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._consecutive_failures

    @property
    def open_count(self) -> int:
        return self._open_count

    @property
    def window(self) -> tuple[bool, ...]:
        return tuple(self._window)

    def retry_at(self) -> float | None:
        """When an OPEN circuit may let a trial through (monotonic seconds); None when not OPEN."""
        return self._open_until if self._state is CircuitState.OPEN else None

    def allows(self, now: float) -> bool:
        """Whether to probe now. Call it once per probe you are about to run: in HALF_OPEN a True
        answer takes one of the `half_open_trials` permits, and the matching `record` (or
        `release`, when the probe never finished) settles it. HALF_OPEN lets through at most
        `half_open_trials` probes, counting those in flight and those that already succeeded."""
        if self._state is CircuitState.OPEN:
            if self._open_until is not None and now < self._open_until:
                return False
            self._half_open()
        if self._state is CircuitState.HALF_OPEN:
            if self._trials_in_flight + self._trial_successes >= self._settings.half_open_trials:
                return False
            self._trials_in_flight += 1
        return True

    def release(self) -> None:
        """Return a HALF_OPEN permit whose probe was cancelled before it could be recorded;
        without this, a cancelled trial would hold the circuit half-open forever."""
        if self._state is CircuitState.HALF_OPEN and self._trials_in_flight > 0:
            self._trials_in_flight -= 1

    def record(self, success: bool, now: float) -> CircuitState:
        """Feed one check's outcome (`ProbeResult.is_success`) and return the resulting state.

        Outcomes recorded while OPEN come from checks that bypassed the breaker (a manual check):
        a success there counts as a first trial success; a failure leaves the open deadline alone,
        so asking by hand never pushes the automatic retry further away.
        """
        if success:
            self._consecutive_failures = 0
        else:
            self._consecutive_failures += 1
        if self._state is CircuitState.CLOSED:
            self._window.append(success)
            if not success and self._should_trip():
                self._open(now)
        elif self._state is CircuitState.HALF_OPEN:
            self._trials_in_flight = max(0, self._trials_in_flight - 1)
            if not success:
                self._open(now)
            else:
                self._trial_successes += 1
                if self._trial_successes >= self._settings.successes_to_close:
                    self._close()
        elif success:
            self._half_open()
            self._trial_successes = 1
            if self._trial_successes >= self._settings.successes_to_close:
                self._close()
        return self._state

    def snapshot(self, now: float, wall_now: dt.datetime) -> BreakerSnapshot:
        """The persistent state, with the open deadline converted to wall-clock time."""
        opened_until = None
        if self._state is CircuitState.OPEN and self._open_until is not None:
            opened_until = wall_now + dt.timedelta(seconds=self._open_until - now)
        return BreakerSnapshot(
            state=self._state,
            consecutive_failures=self._consecutive_failures,
            open_count=self._open_count,
            opened_until=opened_until,
            window=tuple(self._window),
            trial_successes=self._trial_successes if self._state is CircuitState.HALF_OPEN else 0,
        )

    def _should_trip(self) -> bool:
        settings = self._settings
        if settings.counting is FailureCounting.CONSECUTIVE:
            return self._consecutive_failures >= settings.failure_threshold
        calls = len(self._window)
        if calls < settings.minimum_calls:
            return False
        failures = calls - sum(self._window)
        return failures / calls >= settings.failure_rate_threshold

    def _open(self, now: float) -> None:
        delay = self._settings.backoff.delay(self._open_count, self._rng)
        self._state = CircuitState.OPEN
        self._open_count += 1
        self._open_until = now + delay
        self._trials_in_flight = 0
        self._trial_successes = 0

    def _half_open(self) -> None:
        self._state = CircuitState.HALF_OPEN
        self._open_until = None
        self._trials_in_flight = 0
        self._trial_successes = 0

    def _close(self) -> None:
        self._state = CircuitState.CLOSED
        self._open_until = None
        self._open_count = 0
        self._consecutive_failures = 0
        self._window.clear()
        self._trials_in_flight = 0
        self._trial_successes = 0
