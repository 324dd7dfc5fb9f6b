"""One service's watch: the spec the app hands in, and the live state the loop keeps for it.

The spec is a value (the app builds it from a service row and may replace it at run time); the
state is mutable and private to the supervisor: the breaker and hysteresis tracker, the next
due time, and the lock that delivers this service's observations one at a time, in order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import random
from collections.abc import Callable

from probes.breaker import BreakerSettings, BreakerSnapshot, CircuitBreaker
from probes.hysteresis import HysteresisSettings, HysteresisSnapshot, StatusTracker
from probes.result import ProbeTarget

log = logging.getLogger(__name__)

MaintenanceWindow = bool | Callable[[dt.datetime], bool]


@dataclasses.dataclass(frozen=True, slots=True)
class WatchSpec:
    """What to watch for one service. `target.service_id` is required and keys the watch.

    `interval_seconds` None means the schedule's default (it is clamped to the schedule bounds).
    `breaker` and `hysteresis` are persisted snapshots to resume from (None starts fresh).
    `in_maintenance_window` is a flag, or a predicate asked with the wall-clock time of each
    check (a predicate that raises is logged and read as "no window").
    """

    target: ProbeTarget
    interval_seconds: float | None = None
    breaker: BreakerSnapshot | None = None
    hysteresis: HysteresisSnapshot | None = None
    in_maintenance_window: MaintenanceWindow = False

    def __post_init__(self) -> None:
        if self.target.service_id is None:
            raise ValueError("a watched target needs a service_id")

    @property
    def service_id(self) -> int:
        service_id = self.target.service_id
        if service_id is None:  # unreachable: see __post_init__
            raise ValueError("a watched target needs a service_id")
        return service_id

    def is_same_endpoint(self, other: WatchSpec) -> bool:
        """Whether both specs point at the same server, so state learned about one fits the other."""
        return self.target.base_url == other.target.base_url and self.target.api_type == other.target.api_type

    def is_in_maintenance_window(self, wall_now: dt.datetime) -> bool:
        flag = self.in_maintenance_window
        if isinstance(flag, bool):
            return flag
        try:
            return bool(flag(wall_now))
        except Exception:
            log.exception("maintenance predicate failed; assuming no window", extra={"service_id": self.service_id})
            return False


@dataclasses.dataclass(slots=True)
class Watch:
    """The supervisor's mutable state for one service (monotonic `next_due`, wall `next_check_at`)."""

    spec: WatchSpec
    breaker: CircuitBreaker
    tracker: StatusTracker
    interval_seconds: float
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)
    task: asyncio.Task[None] | None = None
    next_due: float = 0.0
    next_check_at: dt.datetime | None = None
    is_busy: bool = False
    lag_seconds: float = 0.0
    crashes: int = 0

    @classmethod
    def from_spec(
        cls,
        spec: WatchSpec,
        *,
        breaker_settings: BreakerSettings,
        hysteresis_settings: HysteresisSettings,
        interval_seconds: float,
        now: float,
        wall_now: dt.datetime,
        rng: random.Random,
    ) -> Watch:
        """Fresh state, or the state resumed from the spec's snapshots."""
        if spec.breaker is None:
            breaker = CircuitBreaker(breaker_settings, rng)
        else:
            breaker = CircuitBreaker.from_snapshot(spec.breaker, breaker_settings, now=now, wall_now=wall_now, rng=rng)
        return cls(spec, breaker, StatusTracker(hysteresis_settings, spec.hysteresis), interval_seconds)

    def carried_to(self, spec: WatchSpec, interval_seconds: float) -> Watch:
        """A watch for a new spec that keeps this one's breaker, status and delivery order."""
        return Watch(spec, self.breaker, self.tracker, interval_seconds, self.lock)
