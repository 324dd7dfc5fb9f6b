"""The published status of a service, with hysteresis.

Why: one lost packet should not page anyone or write a StatusEvent. The tracker keeps the status
that was last published and moves it only after enough consecutive observations point the same
way: by default two to go down (HEALTHY -> DEGRADED/UNHEALTHY, DEGRADED -> UNHEALTHY) and one to
come back up. Rules, in order:

1. MAINTENANCE (reported by the service, or `in_maintenance_window`) is published at once.
2. An UNKNOWN observation carries no information (our own probe failed, not the service):
   nothing changes, not even the streak.
3. From UNKNOWN (never observed) or MAINTENANCE (the window just ended), the first real
   observation is published at once: there is no recent status worth defending.
4. Otherwise a worse observation needs `failures_to_go_down` in a row, a better one
   `successes_to_come_up` in a row; the last observation of the streak is published. An
   observation equal to the published status, or in the other direction, restarts the streak.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, NamedTuple

from probes.result import HealthStatus

_RANK = {HealthStatus.HEALTHY: 2, HealthStatus.DEGRADED: 1, HealthStatus.UNHEALTHY: 0}


@dataclasses.dataclass(frozen=True, slots=True)
class HysteresisSettings:
    """Consecutive observations needed to move the published status (defaults: 2 down, 1 up)."""

    failures_to_go_down: int = 2
    successes_to_come_up: int = 1

    def __post_init__(self) -> None:
        if self.failures_to_go_down < 1 or self.successes_to_come_up < 1:
            raise ValueError("hysteresis counts must be at least 1")


@dataclasses.dataclass(frozen=True, slots=True)
class HysteresisSnapshot:
    """A tracker's persistent state: what is published and the streak pointing away from it.

    `streak` counts consecutive observations in one direction; `candidate` is the last of them.
    """

    published: HealthStatus = HealthStatus.UNKNOWN
    candidate: HealthStatus | None = None
    streak: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "published": self.published.value,
            "candidate": self.candidate.value if self.candidate else None,
            "streak": self.streak,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HysteresisSnapshot:
        """The inverse of `to_dict`; raises ValueError on anything it did not write."""
        try:
            candidate = data.get("candidate")
            return cls(
                published=HealthStatus(data.get("published", HealthStatus.UNKNOWN.value)),
                candidate=HealthStatus(candidate) if candidate else None,
                streak=int(data.get("streak", 0)),
            )
        except TypeError as exc:
            raise ValueError(f"not a hysteresis snapshot: {exc}") from exc


class Transition(NamedTuple):
    """What one observation did to the published status."""

    status: HealthStatus
    changed: bool
    previous: HealthStatus


class StatusTracker:
    """One service's published status; feed it every check's observed status in order."""

    def __init__(self, settings: HysteresisSettings | None = None, snapshot: HysteresisSnapshot | None = None) -> None:
        self._settings = settings or HysteresisSettings()
        snapshot = snapshot or HysteresisSnapshot()
        self._published = snapshot.published
        self._candidate = snapshot.candidate
        self._streak = snapshot.streak

    @property
    def published(self) -> HealthStatus:
        return self._published

    def observe(self, observed: HealthStatus, *, in_maintenance_window: bool = False) -> Transition:
        """Apply one observation and say whether the published status moved."""
        previous = self._published
        if in_maintenance_window or observed is HealthStatus.MAINTENANCE:
            self._publish(HealthStatus.MAINTENANCE)
        elif observed is HealthStatus.UNKNOWN:
            pass
        elif previous in (HealthStatus.UNKNOWN, HealthStatus.MAINTENANCE) or observed is previous:
            self._publish(observed)
        else:
            self._count(previous, observed)
        return Transition(self._published, self._published is not previous, previous)

    def snapshot(self) -> HysteresisSnapshot:
        return HysteresisSnapshot(self._published, self._candidate, self._streak)

    def _count(self, previous: HealthStatus, observed: HealthStatus) -> None:
        going_down = _RANK[observed] < _RANK[previous]
        candidate_rank = _RANK.get(self._candidate) if self._candidate else None
        same_direction = candidate_rank is not None and (candidate_rank < _RANK[previous]) == going_down
        self._streak = self._streak + 1 if same_direction else 1
        self._candidate = observed
        needed = self._settings.failures_to_go_down if going_down else self._settings.successes_to_come_up
        if self._streak >= needed:
            self._publish(observed)

    def _publish(self, status: HealthStatus) -> None:
        self._published = status
        self._candidate = None
        self._streak = 0
